"""Exceptions raised for bad input: each message says what was wrong and what to do instead.

The CLI prints any `BioplausError` as one line and exits with status 2.
"""


class BioplausError(Exception):
    """Base class of every error the user can fix by changing their input."""


class BioplausWarning(UserWarning):
    """Something a researcher needs to know that does not stop the run (the CLI prints it as one line)."""


class ConfigError(BioplausError, ValueError):
    """An option has an invalid value or names something unknown."""


class DataError(BioplausError):
    """Dataset files are missing, corrupt or of the wrong shape."""


class RunDirError(BioplausError):
    """A run directory is missing, incomplete, foreign, or would be overwritten."""


class DivergenceError(BioplausError):
    """Training produced a non-finite loss; the last good checkpoint was kept."""


def unknown_name(kind: str, name: str, valid) -> ConfigError:
    """A ConfigError for an unknown `kind` name that lists the valid choices."""
    return ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(valid))}")


class Interrupted(BioplausError):
    """Training stopped on SIGINT/SIGTERM after finishing its step and writing a checkpoint."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum

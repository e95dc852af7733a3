"""The figure registry: each drawing function registers itself under its stable file name.

The names themselves are listed in `bioplaus_analysis.choices.FIGURES` (the command line offers them
without loading matplotlib); registering a name that is not there is an error, and a test checks
that every listed name has a function."""

from ..choices import FIGURES

REGISTERED = {}


def figure(name: str):
    """Decorator: register a function `(analysis, out_dir, prefix) -> [pdf, png]` as figure `name`."""
    if name not in FIGURES:
        raise ValueError(f"figure {name!r} is not listed in bioplaus_analysis.choices.FIGURES")

    def register(function):
        REGISTERED[name] = function
        return function
    return register

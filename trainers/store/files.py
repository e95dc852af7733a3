"""Atomic writes and writable folders: every file bioplaus writes goes through here, so an interrupted write
never leaves a half-written file and never destroys the previous good one."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from trainers.errors import RunDirError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, data: bytes | str) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one; the file
    gets the permissions of an ordinary new file (mkstemp's are owner-only)."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def folder_lock(folder):
    """Hold an exclusive lock on `folder` (flock on the folder itself, no lock file left behind) while a file in
    it is read, changed and rewritten: processes that draw into one folder at once keep each other's entries."""
    import fcntl  # POSIX only, so imported where it is used
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def check_folder(path: Path) -> None:
    """RunDirError unless `path` is a folder or can become one (it is not a file)."""
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {path} is a file, not a folder; pass a folder path")


def check_free_space(folder: Path, needed: int, what: str) -> None:
    """RunDirError when the disk of `folder` has less than `needed` bytes free for `what`: refused up front
    instead of failing half-way through a write."""
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise RunDirError(f"{folder} has {free / 1e6:.1f} MB free, but {what} needs about {needed / 1e6:.1f} MB; "
                          "free space or pass another --out")


def make_writable_folder(path: Path) -> None:
    """Create the folder `path` and check that files can be written in it, else a RunDirError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".bioplaus-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise RunDirError(f"cannot write to --out {path} ({exc.strerror}); pass a writable folder") from None

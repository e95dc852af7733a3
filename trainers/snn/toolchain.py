"""What Triton needs on the host before its first GPU launch: it builds a small C launcher with the C compiler
it finds and Python's headers. Where either is missing the fused LIF scan is skipped, with one warning, and
the PyTorch scan (the same spikes, more launches) trains instead. The interpreter (CPU tensors) needs neither.
"""

import functools
import os
import shutil
import sysconfig
import warnings
from pathlib import Path

from trainers.errors import BioplausWarning


def c_compiler() -> str | None:
    """The C compiler Triton 3.6 builds with (triton/runtime/build.py): $CC, else gcc, else clang on PATH."""
    cc = os.environ.get("CC")
    if cc is not None:
        return shutil.which(cc)
    return shutil.which("gcc") or shutil.which("clang")


def python_include() -> Path:
    """The folder where Triton looks for Python.h (Debian's posix_local scheme read as posix_prefix, as it does)."""
    scheme = sysconfig.get_default_scheme()
    return Path(sysconfig.get_paths(scheme="posix_prefix" if scheme == "posix_local" else scheme)["include"])


def missing_launcher_toolchain() -> str | None:
    """What Triton lacks here to build its launcher, in words; None when nothing is missing (or a custom
    builder is set in triton.knobs.build.impl)."""
    from triton import knobs
    if knobs.build.impl is not None:
        return None
    if c_compiler() is None:
        return f"no C compiler ({'CC=' + os.environ['CC'] if 'CC' in os.environ else 'gcc or clang'} not found)"
    if not (python_include() / "Python.h").exists():
        return f"no Python.h in {python_include()} (install Python's development headers)"
    return None


@functools.cache
def fused_kernels_buildable() -> bool:
    """Whether the fused kernels can launch on a GPU here; the first False warns once for the process."""
    missing = missing_launcher_toolchain()
    if missing is not None:
        warnings.warn(f"Triton cannot build its kernel launcher: {missing}; spiking layers use the PyTorch LIF "
                      "scan (the same spikes, slower)", BioplausWarning)
    return missing is None

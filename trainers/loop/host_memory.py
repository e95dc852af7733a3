"""Freed tensor memory kept for reuse on Linux: glibc hands every allocation above 32 MB back to the system when
it is freed and faults it in again, page by page, on the next one. A batch of 500 Fashion-MNIST images through
the CNN makes several such tensors per layer, so without this a forward pass spends most of its time in the
kernel zeroing pages (2–3× slower on 2 cores). Placement only: results are bit for bit the same."""

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters of glibc's malloc.h

_kept = False


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory in the process (no mmap for large blocks, no trimming); returns whether it
    applies here (Linux with glibc). The process's resident memory stays at its peak. Called by the `bioplaus`
    command and its worker processes; call it once at the start of a script that trains or analyses."""
    global _kept
    if _kept:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # mallopt's value is an int: the largest int stands for "never"
    _kept = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _kept

"""Freed tensor memory kept for reuse: a large tensor allocated again costs no new page faults."""

import platform
import subprocess
import sys

import pytest

# Without torch (the subprocess stays light): the module is loaded from its file, and 64 MB blocks are
# malloc'ed, written and freed through ctypes, as torch's CPU allocator does.
FAULTS = """
import ctypes, importlib.util, resource, sys
spec = importlib.util.spec_from_file_location("host_memory", sys.argv[2])
host_memory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(host_memory)
if sys.argv[1] == "keep":
    assert host_memory.keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def faults():
    for _ in range(3):
        block = libc.malloc(64 * 2**20)
        ctypes.memset(block, 1, 64 * 2**20)
        libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
faults()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(faults() - before)
"""


def _page_faults(mode: str) -> int:
    import trainers.loop.host_memory as module
    out = subprocess.run([sys.executable, "-c", FAULTS, mode, module.__file__], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_kept_memory_is_reused_without_page_faults():
    pages = 3 * 16 * 2**20 * 4 // 4096  # three 64 MB tensors, 4 KiB pages
    assert _page_faults("default") > pages // 2  # glibc returned each one to the system and faulted it back in
    assert _page_faults("keep") < pages // 20


def test_keep_freed_memory_is_a_no_op_elsewhere(monkeypatch):
    import trainers.loop.host_memory as host_memory
    monkeypatch.setattr(host_memory, "_kept", False)
    monkeypatch.setattr(host_memory.platform, "system", lambda: "Darwin")
    assert host_memory.keep_freed_memory() is False

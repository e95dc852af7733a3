"""Freed tensor memory kept for reuse: a large tensor allocated again costs no new page faults."""

import platform
import subprocess
import sys

import pytest

FAULTS = """
import resource, sys, torch
from trainers import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def faults():
    for _ in range(3):
        torch.ones(16 * 2**20)  # 64 MB, written and freed
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
faults()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(faults() - before)
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
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

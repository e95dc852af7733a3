"""Triton's launcher toolchain, looked up as Triton does: without a C compiler or Python.h the fused LIF scan is
skipped on CUDA with one warning (the PyTorch scan trains instead); the interpreter on the CPU needs neither."""

import shutil

import pytest
import torch

import trainers.snn.toolchain as toolchain
from trainers import BioplausWarning
from trainers.snn.neurons import NEURONS, fused_scan_applies, lif_scan

from conftest import requires_cuda

pytest.importorskip("triton", reason="needs triton (the test extra installs it)")


class OnCuda(torch.Tensor):
    """A CPU tensor that says it is on CUDA: all that `fused_scan_applies` reads of where a tensor is."""

    @property
    def is_cuda(self):
        return True


@pytest.fixture
def toolchain_here(monkeypatch, tmp_path):
    """A lookup that finds what `found` names ({"gcc", "clang", "Python.h"}); the check forgotten after."""
    real = shutil.which

    def find(*found):
        monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}" if name in found else
                            None if name in ("gcc", "clang") else real(name))
        if "Python.h" in found:
            (tmp_path / "Python.h").touch()
        monkeypatch.setattr(toolchain, "python_include", lambda: tmp_path)
        toolchain.fused_kernels_buildable.cache_clear()
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("BIOPLAUS_FUSED_LIF", raising=False)
    yield find
    toolchain.fused_kernels_buildable.cache_clear()


def _launcher_warnings(record):
    return [w for w in record if issubclass(w.category, BioplausWarning) and "kernel launcher" in str(w.message)]


def test_without_a_c_compiler_cuda_tensors_take_the_torch_scan_with_one_warning(toolchain_here):
    toolchain_here("Python.h")
    current = torch.zeros(4, 2, 3).as_subclass(OnCuda)
    with pytest.warns(BioplausWarning, match="Triton cannot build its kernel launcher: no C compiler") as record:
        assert not fused_scan_applies(current) and not fused_scan_applies(current)
    assert len(_launcher_warnings(record)) == 1


def test_the_compiler_is_found_as_triton_finds_it(toolchain_here, monkeypatch):
    toolchain_here("clang", "Python.h")  # gcc first, else clang
    assert toolchain.c_compiler() == "/usr/bin/clang" and toolchain.missing_launcher_toolchain() is None
    assert fused_scan_applies(torch.zeros(4, 2, 3).as_subclass(OnCuda))
    monkeypatch.setenv("CC", "/nowhere/cc")  # $CC wins, and must exist
    assert toolchain.missing_launcher_toolchain() == "no C compiler (CC=/nowhere/cc not found)"


def test_without_python_h_the_check_says_where_it_looked(toolchain_here, tmp_path):
    toolchain_here("gcc")
    assert toolchain.missing_launcher_toolchain() == f"no Python.h in {tmp_path} (install Python's development headers)"


def test_the_interpreter_on_the_cpu_needs_no_toolchain(toolchain_here, monkeypatch, recwarn):
    toolchain_here()
    monkeypatch.setenv("BIOPLAUS_FUSED_LIF", "1")
    assert fused_scan_applies(torch.zeros(4, 2, 3))
    assert _launcher_warnings(recwarn) == []


@requires_cuda
def test_on_cuda_without_a_compiler_the_torch_scan_gives_the_same_spikes(toolchain_here):
    from trainers import lif_kernels
    toolchain_here("Python.h")
    current = torch.rand(6, 4, 50, generator=torch.Generator().manual_seed(0))
    launches = lif_kernels.LAUNCHES["forward"]
    with pytest.warns(BioplausWarning, match="kernel launcher"):
        spikes = lif_scan(current.cuda(), NEURONS["fast"]).spikes
    assert lif_kernels.LAUNCHES["forward"] == launches
    assert torch.equal(spikes.cpu(), lif_scan(current, NEURONS["fast"]).spikes)

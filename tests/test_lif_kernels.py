"""The fused Triton LIF scan against `lif_scan`: spikes, membrane traces and activity masks bit-identical,
BPTT gradients within 1e-6 relative; on CPU tensors in Triton's interpreter, on CUDA where a GPU is.
Also which path `lif_scan` takes, that a layer costs one kernel launch per pass, and that every variant of
both kernels compiles for an sm_90 GPU, ahead of time and without one, with 64-bit offsets."""

import itertools
import re

import pytest
import torch

from trainers import ConfigError, build_model
from trainers.snn.neurons import LIF, NEURONS, fused_scan_applies, lif_scan
from trainers.rules import get_rule
from trainers.snn.surrogates import parse_surrogate

from conftest import requires_cuda

lif_kernels = pytest.importorskip("trainers.snn.lif_kernels", reason="needs triton (the test extra installs it)")

CASES = {"zhang2024": NEURONS["zhang2024"], "fast": NEURONS["fast"], "no-refractory": LIF(5.0, 1.0, 0.5, 0.0),
         "refractory-3": LIF(4.0, 1.0, 0.3, 3.0)}
SHAPES = {"fc": (25, 6, 100), "conv": (7, 3, 4, 5, 5), "tiny": (3, 1, 2)}


def _current(shape, constant, neuron, seed=0, device="cpu"):
    """Currents whose drive (dt/τ)·I lies in [0, 1.5 θ) per step: some neurons stay below threshold for
    several steps, some fire whenever they may (the refractory gate matters)."""
    g = torch.Generator().manual_seed(seed)
    full = torch.rand(shape, generator=g) * (1.5 * neuron.threshold / neuron.gain)
    return (full[0] if constant else full).to(device)


def _same(a, b):
    return (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))


def _assert_scans_equal(expected, got):
    assert torch.equal(expected.spikes, got.spikes)
    assert _same(expected.membrane, got.membrane) and _same(expected.active, got.active)


@pytest.mark.parametrize("neuron", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("constant", [False, True], ids=["per-step", "constant"])
@pytest.mark.parametrize("membrane", [False, True], ids=["spikes", "trace"])
def test_fused_forward_is_bit_identical_to_lif_scan(neuron, shape, constant, membrane):
    current = _current(shape, constant, neuron)
    steps = shape[0] if constant else None
    expected = lif_scan(current, neuron, steps, membrane=membrane)
    assert 0 < expected.spikes.mean() < 1
    _assert_scans_equal(expected, lif_kernels.fused_lif_scan(current, neuron, steps, membrane=membrane))


@pytest.mark.parametrize("neuron", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("surrogate", ["fast_sigmoid:10", "arctan:2", "lif_rate"])
@pytest.mark.parametrize("constant", [False, True], ids=["per-step", "constant"])
def test_fused_bptt_gradients_equal_autograd_through_lif_scan(neuron, surrogate, constant):
    spec = parse_surrogate(surrogate)
    derivative = lambda x: spec.derivative(x, neuron)  # noqa: E731
    shape, steps = SHAPES["fc"], SHAPES["fc"][0] if constant else None
    weights = torch.randn(shape, generator=torch.Generator().manual_seed(1))  # a loss Σ w·s
    grads = []
    for scan in (lif_scan, lif_kernels.fused_lif_scan):
        current = _current(shape, constant, neuron).requires_grad_()
        result = scan(current, neuron, steps, derivative, membrane=True)
        (result.spikes * weights).sum().backward()
        grads.append((result, current.grad))
    (expected, want), (got, have) = grads
    _assert_scans_equal(expected, got)
    assert want.abs().max() > 0
    torch.testing.assert_close(have, want, rtol=1e-6, atol=1e-6 * want.abs().max().item())


def test_the_fused_path_is_chosen_for_float32_cuda_tensors_only(monkeypatch):
    monkeypatch.delenv("BIOPLAUS_FUSED_LIF", raising=False)
    cpu = torch.zeros(2, 3)
    assert not fused_scan_applies(cpu)  # the CPU path stays plain PyTorch
    monkeypatch.setenv("BIOPLAUS_FUSED_LIF", "1")  # forced: CPU tensors run in the interpreter
    assert fused_scan_applies(cpu) and not fused_scan_applies(cpu.double())
    monkeypatch.setenv("BIOPLAUS_FUSED_LIF", "0")
    assert not fused_scan_applies(cpu)
    if torch.cuda.is_available():
        monkeypatch.delenv("BIOPLAUS_FUSED_LIF")
        assert fused_scan_applies(cpu.cuda()) and not fused_scan_applies(cpu.cuda().double())


def _snn(rule, device="cpu"):
    return build_model("snn", rule, (1, 4, 4), 10, seed=0, hidden="12,8", time_steps=6).to(device)


@pytest.mark.parametrize("rule, passes", [("bp", {"forward": 2, "backward": 2}), ("dfa", {"forward": 2})])
def test_one_launch_per_layer_and_pass_and_the_same_training_step(monkeypatch, rule, passes):
    images, labels = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(2)), torch.arange(5)
    results = {}
    for mode in ("0", "1"):
        monkeypatch.setenv("BIOPLAUS_FUSED_LIF", mode)
        model = _snn(rule)
        before = dict(lif_kernels.LAUNCHES)
        objective = get_rule(rule).objective(model, images, labels)
        objective.surrogate.backward()
        launches = {k: v - before.get(k, 0) for k, v in lif_kernels.LAUNCHES.items() if v - before.get(k, 0)}
        results[mode] = (objective.logits.detach(), {n: p.grad for n, p in model.named_parameters()}, launches)
    (logits, grads, none), (fused_logits, fused_grads, launches) = results["0"], results["1"]
    assert none == {} and launches == passes  # two hidden layers: one kernel each per pass, not ~10 x T
    assert torch.equal(logits, fused_logits)
    for name, grad in grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-6, atol=1e-7, msg=name)


@requires_cuda
@pytest.mark.parametrize("neuron", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("constant", [False, True], ids=["per-step", "constant"])
def test_on_cuda_the_compiled_kernels_equal_lif_scan_on_the_cpu(monkeypatch, neuron, constant):
    monkeypatch.delenv("BIOPLAUS_FUSED_LIF", raising=False)
    spec = parse_surrogate("fast_sigmoid:10")
    derivative = lambda x: spec.derivative(x, neuron)  # noqa: E731
    shape, steps = (25, 64, 1000), 25 if constant else None
    weights = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    results = []
    for device in ("cpu", "cuda"):
        current = _current(shape, constant, neuron, device=device).requires_grad_()
        launches = lif_kernels.LAUNCHES["forward"]
        result = lif_scan(current, neuron, steps, derivative, membrane=True)
        assert (lif_kernels.LAUNCHES["forward"] - launches) == (device == "cuda")
        (result.spikes * weights.to(device)).sum().backward()
        results.append((result, current.grad.cpu()))
    (expected, want), (got, have) = results
    _assert_scans_equal(expected, type(got)(*(t.cpu() if t is not None else None for t in got)))
    torch.testing.assert_close(have, want, rtol=1e-6, atol=1e-6 * want.abs().max().item())


# Every constexpr branch of the two kernels (STEPS and BLOCK only size them)
VARIANTS = ([("forward", dict(zip(("CONSTANT", "N_REF", "TRACE", "ACTIVE"), values)))
             for values in itertools.product([False, True], [0, 3], [False, True], [False, True])] +
            [("backward", {"CONSTANT": constant, "N_REF": n_ref})
             for constant, n_ref in itertools.product([False, True], [0, 3])])


@pytest.mark.parametrize("name, constants", VARIANTS,
                         ids=[f"{name}-" + "-".join(f"{k}={v}" for k, v in c.items()) for name, c in VARIANTS])
def test_every_kernel_variant_compiles_for_sm90_with_64_bit_offsets(name, constants):
    """The whole CUDA pipeline, with no GPU: Triton's front end (which rejects constructs the interpreter
    accepts) to TTIR, TTGIR, LLVM IR and PTX, and the ptxas bundled with Triton to a cubin. `n` is an i32,
    as Triton passes a size under 2^31: every load and store address must still be offset in 64 bits."""
    import triton
    from triton.backends.compiler import GPUTarget
    kernel = lif_kernels._COMPILED[name]
    signature = {arg: "*fp32" if arg.endswith("_ptr") else "i32" if arg == "n" else
                 "constexpr" if arg.isupper() else "fp32" for arg in kernel.arg_names}
    source = triton.compiler.ASTSource(fn=kernel, signature=signature,
                                       constexprs=dict(constants, STEPS=4, BLOCK=lif_kernels.BLOCK))
    compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32))
    assert compiled.asm["cubin"] and ".target sm_90" in compiled.asm["ptx"]
    ttir = compiled.asm["ttir"]
    offsets = re.findall(r"tt\.addptr [^:]+: [^,]+, tensor<\d+x(i\d+)>", ttir)
    assert len(offsets) >= 2 and set(offsets) == {"i64"}  # at least one load and one store
    products = re.findall(r"arith\.muli [^:]+: (\S+)", ttir)  # program × BLOCK, step × n: none may wrap
    assert products and all(kind.endswith("i64") for kind in products)


def test_a_scan_the_kernels_cannot_index_is_refused():
    lif_kernels.check_indexable(2**31, 25)  # T·n past 2^31: within the 64-bit offsets
    with pytest.raises(ConfigError, match="the fused LIF scan indexes at most 1099511627264 neurons per step"):
        lif_kernels.check_indexable((lif_kernels.MAX_PROGRAMS + 1) * lif_kernels.BLOCK, 1)

"""The LIF scan as one Triton kernel per layer over all T steps (and one for its BPTT backward), the
path `lif_scan` takes for float32 CUDA tensors.

Each program owns a block of neurons and walks through time in registers: leak and input, refractory
gate, threshold, hard reset, countdown; it writes the spikes and, when asked, the membrane trace and
activity mask. The result is bit-identical to `neurons.lif_scan` on the CPU: the leak step
`v ← β v + (dt/τ) I` is evaluated as torch's fused multiply-add (exact product and sum in float64,
one rounding to float32), and every other operation is exact. The backward kernel runs the BPTT
recursion in reverse time with the reset detached, from the surrogate derivative f′(v − θ) that
torch evaluates once over [T, …]; so any surrogate works, unchanged.

Offsets are 64-bit: a layer's T·n elements may pass 2³¹. On CPU tensors the same kernels run in Triton's
interpreter (tests prove correctness that way, and compile every variant for an sm_90 GPU ahead of time).
"""

import struct
from collections import Counter

import torch
import triton
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction

from trainers.errors import ConfigError
from trainers.snn.scan import Scan, check_bptt

BLOCK = 512
MAX_PROGRAMS = 2**31 - 1  # CUDA's limit on a grid's x dimension: one program per BLOCK neurons
LAUNCHES = Counter()  # kernel launches by name: one forward per layer and pass, one backward per BPTT


def _lif_forward(drive_ptr, spikes_ptr, trace_ptr, active_ptr, n, beta, threshold, STEPS: tl.constexpr,
                 CONSTANT: tl.constexpr, N_REF: tl.constexpr, TRACE: tl.constexpr, ACTIVE: tl.constexpr,
                 BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # 64-bit: T·n may pass 2³¹
    mask = offsets < n
    v = tl.full([BLOCK], 0.0, tl.float32)
    countdown = tl.full([BLOCK], 0.0, tl.float32)
    drive = tl.load(drive_ptr + offsets, mask=mask, other=0.0)
    for t in range(STEPS):
        row = tl.cast(t, tl.int64) * n + offsets
        if not CONSTANT:
            drive = tl.load(drive_ptr + row, mask=mask, other=0.0)
        # torch's add(drive, v, alpha=β) is a fused multiply-add: β·v is exact in float64, one rounding
        v = (v.to(tl.float64) * beta + drive.to(tl.float64)).to(tl.float32)
        if N_REF > 0:
            gate = (countdown <= 0.0).to(tl.float32)
            v = v * gate
            if ACTIVE:
                tl.store(active_ptr + row, gate, mask=mask)
        if TRACE:
            tl.store(trace_ptr + row, v, mask=mask)
        s = (v >= threshold).to(tl.float32)
        tl.store(spikes_ptr + row, s, mask=mask)
        v = v - v * s  # hard reset: exactly 0 where it spiked
        if N_REF > 0:
            countdown = tl.maximum(countdown - 1.0, 0.0) + N_REF * s


def _lif_backward(grad_spikes_ptr, derivative_ptr, spikes_ptr, active_ptr, grad_drive_ptr, n, beta,
                  STEPS: tl.constexpr, CONSTANT: tl.constexpr, N_REF: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    carry = tl.full([BLOCK], 0.0, tl.float32)  # ∂L/∂v after the reset of step t, from step t + 1
    total = tl.full([BLOCK], 0.0, tl.float32)
    for i in range(STEPS):
        row = tl.cast(STEPS - 1 - i, tl.int64) * n + offsets
        s = tl.load(spikes_ptr + row, mask=mask, other=0.0)
        grad_v = tl.load(grad_spikes_ptr + row, mask=mask, other=0.0) * tl.load(derivative_ptr + row, mask=mask,
                                                                                other=0.0)
        grad_v = grad_v + carry * (1.0 - s)  # the reset v − v·s, s detached
        if N_REF > 0:
            grad_v = grad_v * tl.load(active_ptr + row, mask=mask, other=0.0)
        if CONSTANT:
            total = total + grad_v
        else:
            tl.store(grad_drive_ptr + row, grad_v, mask=mask)
        carry = grad_v * beta
    if CONSTANT:
        tl.store(grad_drive_ptr + offsets, total, mask=mask)


_COMPILED = {"forward": triton.jit(_lif_forward), "backward": triton.jit(_lif_backward)}
_INTERPRETED = {"forward": InterpretedFunction(_lif_forward), "backward": InterpretedFunction(_lif_backward)}


def _float32(value: float) -> float:
    """`value` rounded to float32 (to nearest, as torch rounds a scalar that meets a float32 tensor), without
    a tensor: no allocation per launch, and nothing a graph capture would see."""
    return struct.unpack("f", struct.pack("f", value))[0]


def check_indexable(n: int, steps: int) -> None:
    """ConfigError when a scan of `n` neurons over `steps` steps cannot be indexed by the kernels: more
    programs than a CUDA grid holds, or more elements than 64-bit offsets reach."""
    if triton.cdiv(n, BLOCK) > MAX_PROGRAMS or n * steps >= 2**63:
        raise ConfigError(f"the fused LIF scan indexes at most {MAX_PROGRAMS * BLOCK} neurons per step and 2^63 "
                          f"elements, but this layer has {n} neurons over {steps} steps; lower --batch-size")


def _launch(name, tensor, n, *args, **constants):
    kernels = _COMPILED if tensor.is_cuda else _INTERPRETED
    check_indexable(n, constants["STEPS"])
    LAUNCHES[name] += 1
    kernels[name][(triton.cdiv(n, BLOCK),)](*args, BLOCK=BLOCK, **constants)


def _forward(drive, steps, constant, neuron, trace: bool, active: bool):
    """(spikes, trace or None, active or None), each [T, *shape], from `drive` = (dt/τ)·I."""
    shape = drive.shape if constant else drive.shape[1:]
    n = shape.numel()
    spikes = drive.new_empty((steps, *shape))
    membrane = drive.new_empty((steps, *shape)) if trace else spikes
    gate = drive.new_empty((steps, *shape)) if active else spikes
    _launch("forward", drive, n, drive, spikes, membrane, gate, n, _float32(neuron.decay), _float32(neuron.threshold),
            STEPS=steps, CONSTANT=constant, N_REF=neuron.refractory_steps, TRACE=trace, ACTIVE=active)
    return spikes, membrane if trace else None, gate if active else None


class _FusedScan(torch.autograd.Function):
    """drive → spikes with BPTT gradients; the membrane trace and activity mask come along (no gradient)."""

    @staticmethod
    def forward(ctx, drive, steps, constant, neuron, derivative):
        active = neuron.refractory_steps > 0
        spikes, membrane, gate = _forward(drive, steps, constant, neuron, trace=True, active=active)
        ctx.save_for_backward(spikes, membrane, gate if active else spikes)
        ctx.steps, ctx.constant, ctx.neuron, ctx.derivative = steps, constant, neuron, derivative
        ctx.mark_non_differentiable(membrane, *([gate] if active else []))
        return spikes, membrane, gate

    @staticmethod
    def backward(ctx, grad_spikes, _grad_membrane, _grad_gate):
        spikes, membrane, gate = ctx.saved_tensors
        neuron, n = ctx.neuron, spikes[0].numel()
        derivative = ctx.derivative(membrane - neuron.threshold).contiguous()
        grad_drive = spikes.new_empty(spikes.shape[1:] if ctx.constant else spikes.shape)
        _launch("backward", spikes, n, grad_spikes.contiguous(), derivative, spikes, gate, grad_drive, n,
                _float32(neuron.decay), STEPS=ctx.steps, CONSTANT=ctx.constant, N_REF=neuron.refractory_steps)
        return grad_drive, None, None, None, None


def fused_lif_scan(current, neuron, steps=None, derivative=None, membrane: bool = False):
    """`neurons.lif_scan` in one kernel per call (float32): (spikes, membrane, active) as a `Scan`."""
    constant = steps is not None
    steps = steps if constant else current.shape[0]
    drive = (current * neuron.gain).contiguous()  # (dt/τ) I for every step in one product, as lif_scan
    if check_bptt(current, derivative):
        spikes, trace, gate = _FusedScan.apply(drive, steps, constant, neuron, derivative)
    else:
        active = membrane and neuron.refractory_steps > 0
        spikes, trace, gate = _forward(drive, steps, constant, neuron, trace=membrane, active=active)
    if not membrane:
        return Scan(spikes, None, None)
    return Scan(spikes, trace, gate if neuron.refractory_steps > 0 else None)

"""Leaky integrate-and-fire neurons over time: `v ← (1 − dt/τ) v + (dt/τ) I`, spike at v ≥ θ,
hard reset to 0, then `t_ref/dt` refractory steps during which v is held at 0.

`lif_scan` runs the sequential part only, elementwise over [T, batch, ...] currents that the
layer computed for all T steps at once. Without autograd it updates in place (fast); with autograd
it builds the BPTT graph, the spike's derivative given by a surrogate (reset detached).
"""

import importlib.util
import os
from dataclasses import dataclass

import torch

from trainers.errors import ConfigError, unknown_name
from trainers.snn.scan import Scan, check_bptt, local_derivative
from trainers.snn.toolchain import fused_kernels_buildable


@dataclass(frozen=True)
class LIF:
    """Membrane time constant `tau`, step `dt` and refractory period `t_ref` (same unit), threshold."""
    tau: float
    dt: float
    threshold: float
    t_ref: float = 0.0

    def __post_init__(self):
        if not (self.tau > 0 and self.dt > 0 and self.threshold > 0 and self.t_ref >= 0):
            raise ConfigError(f"LIF needs tau, dt, threshold > 0 and t_ref >= 0, got {self}")
        if self.dt > self.tau:
            raise ConfigError(f"LIF dt ({self.dt}) must not exceed tau ({self.tau})")

    @property
    def decay(self) -> float:
        return 1.0 - self.dt / self.tau

    @property
    def gain(self) -> float:
        return self.dt / self.tau

    @property
    def refractory_steps(self) -> int:
        return round(self.t_ref / self.dt)


NEURONS = {
    # Zhang et al. 2024 (aDFA-SNN): τ = 20 ms, dt = 0.25 ms, θ = 0.4, t_ref = 1 ms (4 steps).
    "zhang2024": LIF(tau=20.0, dt=0.25, threshold=0.4, t_ref=1.0),
    # For T ≈ 25: v keeps 80 % per step, so a neuron integrates over ~5 steps and can fire every other.
    "fast": LIF(tau=5.0, dt=1.0, threshold=0.5, t_ref=1.0),
}


def get_neuron(name: str) -> LIF:
    if name not in NEURONS:
        raise unknown_name("neuron", name, NEURONS)
    return NEURONS[name]


class _Spike(torch.autograd.Function):
    """Heaviside(x) forward; `grad · surrogate(x)` backward."""
    generate_vmap_rule = True

    @staticmethod
    def forward(x, derivative):
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.derivative = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.derivative(x), None


def spike(x: torch.Tensor, derivative) -> torch.Tensor:
    """1.0 where x ≥ 0, else 0.0; its gradient is `derivative(x)` (a surrogate of the Dirac delta)."""
    return _Spike.apply(x, derivative)


def fused_scan_applies(current: torch.Tensor) -> bool:
    """Whether `lif_scan` runs the fused Triton kernels: float32 CUDA tensors when Triton imports and can
    build its launcher here (`toolchain`: else one warning, and the PyTorch scan). BIOPLAUS_FUSED_LIF=0
    turns them off; =1 runs them on CPU tensors too, in Triton's interpreter."""
    choice = os.environ.get("BIOPLAUS_FUSED_LIF", "auto")
    if choice == "0" or current.dtype != torch.float32 or not (current.is_cuda or choice == "1"):
        return False
    if importlib.util.find_spec("triton") is None:
        return False
    return not current.is_cuda or fused_kernels_buildable()


def lif_scan(current: torch.Tensor, neuron: LIF, steps: int | None = None, derivative=None,
             membrane: bool = False, local: bool = False) -> Scan:
    """Run LIF neurons over time from rest (v = 0).

    `current` is [T, batch, ...], or [batch, ...] held constant for `steps` steps (direct encoding:
    the layer's current is computed once). When autograd is on and `current` needs a gradient, the
    spikes carry BPTT gradients with spike derivative `derivative(v − θ)`; otherwise nothing is
    recorded for autograd and the state is updated in place. Float32 CUDA tensors take one fused
    kernel for all T steps (`lif_kernels`), with identical results. `local` adds each step's spike
    derivative (`scan.local_derivative`), computed step by step while the state is in cache.
    """
    if fused_scan_applies(current):
        from trainers.snn.lif_kernels import fused_lif_scan
        scan = fused_lif_scan(current, neuron, steps, derivative, membrane or local)
        if not local:
            return scan
        trace = local_derivative(scan.membrane, neuron, derivative, scan.active)
        return scan._replace(local=trace) if membrane else Scan(scan.spikes, None, None, trace)
    return _torch_lif_scan(current, neuron, steps, derivative, membrane, local)


def _torch_lif_scan(current, neuron: LIF, steps, derivative, membrane: bool, local: bool = False) -> Scan:
    """`lif_scan` in PyTorch, one step at a time: in place without autograd, else the BPTT graph."""
    constant = steps is not None
    steps = steps if constant else current.shape[0]
    shape = current.shape if constant else current.shape[1:]
    drive = current * neuron.gain  # (dt/τ) I for every step in one product
    bptt = check_bptt(current, derivative)
    n_ref = neuron.refractory_steps
    spikes = current.new_empty((steps, *shape))
    trace = current.new_empty((steps, *shape)) if membrane else None
    slopes = current.new_empty((steps, *shape)) if local else None
    # Per-step activity is kept only with the membrane trace; else one reused buffer.
    active = current.new_empty((steps, *shape)) if n_ref and (membrane or bptt) else None
    gate = current.new_empty(shape) if n_ref and active is None else None
    v = current.new_zeros(shape)
    countdown = current.new_zeros(shape) if n_ref else None
    beta = neuron.decay
    if bptt:
        spikes = []
    for t in range(steps):
        drive_t = drive if constant else drive[t]
        if bptt:
            v = torch.add(drive_t, v, alpha=beta)
            if n_ref:
                step_gate = torch.le(countdown, 0).to(v.dtype)  # a new tensor: autograd saves it
                active[t] = step_gate
                v = v * step_gate
            if membrane:
                trace[t] = v.detach()
            s = spike(v - neuron.threshold, derivative)
            v = v - v * s.detach()  # hard reset; its gradient path is detached, as is usual
            spikes.append(s)
            s = s.detach()
        else:
            torch.add(drive_t, v, alpha=beta, out=v)
            if n_ref:
                step_gate = gate if active is None else active[t]
                torch.le(countdown, 0, out=step_gate)
                v.mul_(step_gate)
            if membrane:
                trace[t] = v
            if local:
                local_derivative(v, neuron, derivative, step_gate if n_ref else None, out=slopes[t])
            s = torch.ge(v, neuron.threshold, out=spikes[t])
            v.addcmul_(v, s, value=-1.0)  # v − v·s: exactly 0 where it spiked
        if n_ref:
            countdown.sub_(1).clamp_(min=0).add_(s, alpha=n_ref)
    if bptt:
        spikes = torch.stack(spikes)
    return Scan(spikes, trace, active if membrane else None, slopes)

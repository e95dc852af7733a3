"""What a LIF scan returns and when it carries BPTT gradients: shared by the PyTorch scan (`neurons`) and the
fused Triton kernels (`lif_kernels`), so that neither imports the other's module to agree on them."""

from typing import NamedTuple

import torch

from trainers.errors import ConfigError


class Scan(NamedTuple):
    """`spikes` [T, ...] float 0/1; with `membrane=True`, `membrane` (v before reset) and `active`
    (1.0 where the neuron was not refractory; None without a refractory period), both [T, ...]; with
    `local=True`, `local` [T, ...]: each step's ∂s_t/∂I_t, `local_derivative` of v."""
    spikes: torch.Tensor
    membrane: torch.Tensor | None
    active: torch.Tensor | None
    local: torch.Tensor | None = None


def local_derivative(v: torch.Tensor, neuron, derivative, active=None, out=None) -> torch.Tensor:
    """(dt/τ)·f′(v − θ), times `active` (0 on refractory steps) when given: how a spike responds to its step's
    input current, what DFA-family rules send their error through. Elementwise, so one step of it equals the
    same step of the whole [T, ...] tensor bit for bit."""
    local = torch.mul(derivative(v - neuron.threshold), neuron.gain, out=out)
    return local if active is None else local.mul_(active)


def check_bptt(current: torch.Tensor, derivative) -> bool:
    """Whether a scan of `current` must carry BPTT gradients (autograd on and `current` needs them)."""
    bptt = torch.is_grad_enabled() and current.requires_grad
    if bptt and derivative is None:
        raise ConfigError("lif_scan needs a surrogate derivative to build BPTT gradients")
    return bptt

"""Encoders: images in pixel space [0, 1] → input to a spiking network over T time steps.

`direct` feeds the pixel values as a constant current (the first layer's current is then computed
once, not T times); `poisson` emits a spike with probability `rate · pixel` per step; `latency`
emits one spike per pixel, earlier for brighter pixels. Spike trains are bool (1 byte per entry).
"""

from typing import NamedTuple

import torch

from trainers.errors import unknown_name


class Encoded(NamedTuple):
    """`values` is [batch, ...] held for every step (`constant`) or a bool spike train [T, batch, ...]."""
    values: torch.Tensor
    constant: bool


def direct(images, steps, generator=None) -> Encoded:
    return Encoded(images, True)


def poisson(images, steps, generator=None, rate: float = 1.0) -> Encoded:
    """Bernoulli(rate · pixel) spikes at every step, drawn from `generator` (or torch's global RNG)."""
    draws = torch.rand((steps, *images.shape), generator=generator, device=images.device, dtype=images.dtype)
    return Encoded(draws < images * rate, False)


def latency(images, steps, generator=None, cutoff: float = 0.0) -> Encoded:
    """One spike per pixel above `cutoff`, at step round((1 − pixel)(T − 1)): the brightest fire first."""
    when = torch.round((1.0 - images.clamp(0, 1)) * (steps - 1)).long()
    grid = torch.arange(steps, device=images.device).view(steps, *([1] * images.dim()))
    return Encoded((grid == when) & (images > cutoff), False)


ENCODERS = {"direct": direct, "poisson": poisson, "latency": latency}
STOCHASTIC = {"poisson"}


def encode(name: str, images: torch.Tensor, steps: int, generator=None) -> Encoded:
    if name not in ENCODERS:
        raise unknown_name("encoding", name, ENCODERS)
    return ENCODERS[name](images, steps, generator)

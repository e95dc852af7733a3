"""Surrogate derivatives of the spike nonlinearity, and aDFA's `g`, as named, configurable functions.

Each function maps `x = u − θ` (membrane or input current minus threshold) to a derivative. A spec
string picks one: `"fast_sigmoid"`, `"fast_sigmoid:10"` (its parameter), `"arctan:2"`, `"lif_rate"`.
"""

import math
from dataclasses import dataclass

import torch

from trainers.errors import ConfigError, unknown_name


@dataclass(frozen=True)
class Surrogate:
    """A named derivative `derivative(x, neuron)`; `param` is its shape parameter (slope, width)."""
    name: str
    param: float

    @property
    def spec(self) -> str:
        return f"{self.name}:{self.param:g}"

    def derivative(self, x: torch.Tensor, neuron) -> torch.Tensor:
        return _FORMULAS[self.name](x, self.param, neuron)


def fast_sigmoid(x, slope, neuron=None):
    """SuperSpike (Zenke & Ganguli 2018): 1 / (1 + slope·|x|)², the derivative of x / (1 + slope·|x|)."""
    return (1.0 + slope * x.abs()).reciprocal().square()


def arctan(x, alpha, neuron=None):
    """(α/2) / (1 + (π/2 · α · x)²), the derivative of arctan(π/2 · α · x)/π + 1/2 (Fang et al. 2021)."""
    return (alpha / 2) / (1.0 + (math.pi / 2 * alpha * x).square())


def _interval(x, floor, neuron):
    """(u − θ floored at floor·θ, the inter-spike interval t_ref + τ ln(u / (u − θ))) at u = θ + x."""
    above = x.clamp_min(floor * neuron.threshold)
    return above, neuron.t_ref + neuron.tau * torch.log1p(neuron.threshold / above)


def lif_rate_value(u, neuron, floor):
    """Steady-state LIF firing rate (spikes per step) for a constant input u: dt / (t_ref + τ ln(u / (u − θ)))."""
    x = u - neuron.threshold
    rate = neuron.dt / _interval(x, floor, neuron)[1]
    return torch.where(x > 0, rate, torch.zeros_like(rate))


def lif_rate(x, floor, neuron):
    """d(rate)/du of the LIF rate curve (Zhang et al. 2024, App. A), at u = θ + x; zero below threshold.

    dr/du = dt·τθ / (u (u − θ) (t_ref + τ ln(u/(u − θ)))²). It diverges as u → θ⁺, so u − θ is
    floored at `floor`·θ there (default 0.01).
    """
    above, period = _interval(x, floor, neuron)
    slope = neuron.dt * neuron.tau * neuron.threshold / ((neuron.threshold + above) * above * period.square())
    return torch.where(x > 0, slope, torch.zeros_like(slope))


def ones(x, scale, neuron=None):
    """A constant `scale`: DFA that ignores the neuron's state (the simplest aDFA g)."""
    return torch.full_like(x, scale)


_FORMULAS = {"fast_sigmoid": fast_sigmoid, "arctan": arctan, "lif_rate": lif_rate, "ones": ones}
DEFAULT_PARAMS = {"fast_sigmoid": 10.0, "arctan": 2.0, "lif_rate": 0.01, "ones": 1.0}
SURROGATES = tuple(_FORMULAS)


def parse_surrogate(spec: str, what: str = "surrogate") -> Surrogate:
    """`"name"` or `"name:param"` → Surrogate; ConfigError naming the valid choices otherwise."""
    name, _, param = str(spec).partition(":")
    if name not in _FORMULAS:
        raise unknown_name(what, name, _FORMULAS)
    if not param:
        return Surrogate(name, DEFAULT_PARAMS[name])
    try:
        value = float(param)
    except ValueError:
        raise ConfigError(f"{what} {spec!r}: the parameter after ':' must be a number, e.g. {name}:"
                          f"{DEFAULT_PARAMS[name]:g}") from None
    if not value > 0 or not math.isfinite(value):
        raise ConfigError(f"{what} {spec!r}: the parameter must be a positive number")
    return Surrogate(name, value)

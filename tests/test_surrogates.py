"""Surrogate spike derivatives (and aDFA's g) against their formulas, through the spike's autograd, and
the LIF rate curve's slope against finite differences."""

import math

import pytest
import torch

from trainers import ConfigError
from trainers.snn.neurons import NEURONS, spike
from trainers.snn.surrogates import lif_rate_value, parse_surrogate


X = torch.linspace(-2, 2, 41, dtype=torch.float64)


@pytest.mark.parametrize("spec,formula", [
    ("fast_sigmoid:10", lambda x, n: 1 / (1 + 10 * x.abs()) ** 2),
    ("fast_sigmoid", lambda x, n: 1 / (1 + 10 * x.abs()) ** 2),
    ("arctan:2", lambda x, n: 1 / (1 + (math.pi * x) ** 2)),
    ("ones:0.5", lambda x, n: torch.full_like(x, 0.5)),
    ("lif_rate", lambda x, n: torch.where(
        x > 0, n.dt * n.tau * n.threshold / ((n.threshold + x.clamp_min(n.threshold / 100)) * x.clamp_min(
            n.threshold / 100) * (n.t_ref + n.tau * torch.log((n.threshold + x.clamp_min(n.threshold / 100))
                                                              / x.clamp_min(n.threshold / 100))) ** 2), 0.0)),
])
def test_each_surrogate_is_its_formula_and_the_spike_gradient(spec, formula):
    neuron = NEURONS["zhang2024"]
    surrogate = parse_surrogate(spec)
    expected = formula(X, neuron)
    torch.testing.assert_close(surrogate.derivative(X, neuron), expected, rtol=1e-12, atol=1e-15)
    x = X.clone().requires_grad_()
    out = spike(x, lambda v: surrogate.derivative(v, neuron))
    assert out.tolist() == (X >= 0).double().tolist()  # Heaviside forward, 1 at x = 0
    out.sum().backward()
    torch.testing.assert_close(x.grad, expected, rtol=1e-12, atol=1e-15)


def test_lif_rate_derivative_is_the_slope_of_the_rate_curve():
    neuron = NEURONS["zhang2024"]
    u = torch.linspace(0.45, 3.0, 50, dtype=torch.float64)
    h = 1e-6
    numeric = (lif_rate_value(u + h, neuron, 1e-9) - lif_rate_value(u - h, neuron, 1e-9)) / (2 * h)
    analytic = parse_surrogate("lif_rate").derivative(u - neuron.threshold, neuron)
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("spec,message", [
    ("sigmoid", "unknown surrogate 'sigmoid'; choose one of: arctan, fast_sigmoid, lif_rate, ones"),
    ("arctan:wide", "surrogate 'arctan:wide': the parameter after ':' must be a number"),
    ("arctan:-1", "surrogate 'arctan:-1': the parameter must be a positive number"),
])
def test_bad_surrogate_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_surrogate(spec)

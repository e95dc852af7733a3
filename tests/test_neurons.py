"""LIF dynamics against a hand-stepped reference, LIF presets, encoders."""

import math

import pytest
import torch

from trainers import ConfigError
from trainers.snn.encoders import encode
from trainers.snn.neurons import LIF, NEURONS, lif_scan, spike
from trainers.snn.surrogates import lif_rate_value, parse_surrogate


def _reference(currents, neuron):
    """Scalar loop: leak, integrate, threshold, hard reset, refractory hold (one neuron)."""
    v, countdown, spikes, trace = 0.0, 0, [], []
    for current in currents:
        if countdown > 0:  # refractory: v held at 0, no integration, no spike
            countdown -= 1
            v = 0.0
            trace.append(0.0)
            spikes.append(0.0)
            continue
        v = (1 - neuron.dt / neuron.tau) * v + (neuron.dt / neuron.tau) * current
        trace.append(v)
        if v >= neuron.threshold:
            spikes.append(1.0)
            v = 0.0
            countdown = neuron.refractory_steps
        else:
            spikes.append(0.0)
    return spikes, trace


NEURON_CASES = [NEURONS["zhang2024"], NEURONS["fast"], LIF(tau=4.0, dt=1.0, threshold=0.3, t_ref=0.0)]


@pytest.mark.parametrize("neuron", NEURON_CASES, ids=["zhang2024", "fast", "no-refractory"])
@pytest.mark.parametrize("bptt", [False, True], ids=["in-place", "bptt"])
def test_lif_matches_a_hand_stepped_reference(neuron, bptt):
    g = torch.Generator().manual_seed(0)
    currents = torch.rand(60, 2, 5, generator=g, dtype=torch.float64) * 3  # [T, batch, neurons]
    currents[:, 0, 0] = 0.2  # a neuron below threshold: leaks toward 0.2 and never fires
    currents = currents.requires_grad_(bptt)
    scan = lif_scan(currents, neuron, derivative=lambda x: torch.ones_like(x), membrane=True)
    assert scan.spikes.requires_grad == bptt
    for b in range(2):
        for j in range(5):
            spikes, trace = _reference(currents[:, b, j].tolist(), neuron)
            assert scan.spikes[:, b, j].tolist() == spikes
            torch.testing.assert_close(scan.membrane[:, b, j], torch.tensor(trace, dtype=torch.float64),
                                       rtol=1e-12, atol=1e-12)
    assert scan.spikes[:, 0, 0].sum() == 0
    assert scan.spikes.sum() > 10
    if neuron.refractory_steps:  # never two spikes closer than the refractory period
        times = torch.nonzero(scan.spikes[:, 1, 1]).flatten()
        assert (times.diff() > neuron.refractory_steps).all()


def test_constant_current_equals_the_same_current_repeated():
    neuron = NEURONS["zhang2024"]
    current = torch.rand(3, 7) * 2
    once = lif_scan(current, neuron, steps=40, membrane=True)
    repeated = lif_scan(current.expand(40, 3, 7), neuron, membrane=True)
    assert torch.equal(once.spikes, repeated.spikes) and torch.equal(once.membrane, repeated.membrane)


def test_lif_rate_matches_the_simulated_rate_of_a_constant_current():
    neuron = LIF(tau=20.0, dt=0.01, threshold=0.4, t_ref=1.0)
    current = torch.tensor([[0.5, 1.0, 3.0]], dtype=torch.float64)
    spikes = lif_scan(current, neuron, steps=20_000).spikes[:, 0]
    intervals = [torch.nonzero(spikes[:, j]).flatten().diff().double().mean() for j in range(3)]
    simulated = 1 / torch.stack(intervals)  # spikes per step, from the inter-spike interval
    predicted = lif_rate_value(current, neuron, 1e-6)[0]
    torch.testing.assert_close(simulated, predicted, rtol=0.01, atol=0)


def test_bptt_membrane_gradient_of_one_step():
    """T = 1: v = (dt/τ) I, s = H(v − θ), so ds/dI = (dt/τ) f′(v − θ)."""
    neuron = NEURONS["fast"]
    surrogate = parse_surrogate("arctan:2")
    current = torch.tensor([[0.1, 1.0, 2.5, 4.0]], dtype=torch.float64, requires_grad=True)
    scan = lif_scan(current[None], neuron, derivative=lambda x: surrogate.derivative(x, neuron))
    scan.spikes.sum().backward()
    x = neuron.gain * current.detach() - neuron.threshold
    torch.testing.assert_close(current.grad, neuron.gain / (1 + (math.pi * x) ** 2))


def test_bad_neuron_parameters():
    with pytest.raises(ConfigError, match="LIF needs tau, dt, threshold > 0"):
        LIF(tau=20.0, dt=1.0, threshold=0.0)
    with pytest.raises(ConfigError, match="must not exceed tau"):
        LIF(tau=1.0, dt=2.0, threshold=1.0)


def test_poisson_encoding_is_reproducible_by_seed_and_has_the_pixel_rate():
    images = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    draw = lambda seed: encode("poisson", images, 4000, torch.Generator().manual_seed(seed)).values  # noqa: E731
    a, b, c = draw(1), draw(1), draw(2)
    assert a.dtype == torch.bool and a.shape == (4000, 1, 4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(a.float().mean(0), images, atol=0.03, rtol=0)
    torch.manual_seed(5)
    first = encode("poisson", images, 10).values
    torch.manual_seed(5)
    assert torch.equal(first, encode("poisson", images, 10).values)  # global RNG: fixed by torch.manual_seed


def test_latency_and_direct_encoding():
    images = torch.tensor([[1.0, 0.5, 0.0]])
    spikes = encode("latency", images, 11).values
    assert spikes.sum(0).tolist() == [[1, 1, 0]]  # one spike per lit pixel, none for black
    assert torch.nonzero(spikes[:, 0, 0]).item() == 0 and torch.nonzero(spikes[:, 0, 1]).item() == 5
    direct = encode("direct", images, 11)
    assert direct.constant and torch.equal(direct.values, images)
    with pytest.raises(ConfigError, match="unknown encoding 'morse'; choose one of: direct, latency, poisson"):
        encode("morse", images, 3)

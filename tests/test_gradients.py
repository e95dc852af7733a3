"""Gradient SNR against its one-backward-per-sample definition, and cosine to BP at the same weights."""

import pytest
import torch

from bioplaus_analysis import bp_cosines, gradient_snr, gradient_snr_loop, per_sample_moments
from trainers import ConfigError, build_model, load_run, rule_update


def _batch(shape, n=24, seed=3, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g, dtype=dtype), torch.arange(n) % 10


def _assert_close_snr(fast, loop, rel=1e-5):
    assert fast.keys() == loop.keys()
    for name in fast:
        assert fast[name] == pytest.approx(loop[name], rel=rel), name
        assert fast[name] > 0


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_snr_equals_the_per_sample_loop_on_the_cnn(rule, device):
    model = build_model("cnn", rule, (1, 12, 12), 10, seed=0, channels="4,6", fc_width=16).to(device)
    x, y = (t.to(device) for t in _batch((1, 12, 12)))
    _assert_close_snr(gradient_snr(model, x, y, batch_size=10), gradient_snr_loop(model, x, y))


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_snr_equals_the_per_sample_loop_on_a_trained_cnn(digits_runs, rule):
    model, _ = load_run(digits_runs[f"cnn-{rule}"])
    x, y = _batch((1, 8, 8), n=40)
    _assert_close_snr(gradient_snr(model, x, y), gradient_snr_loop(model, x, y))


@pytest.mark.parametrize("rule", ["bp", "dfa", "adfa", "dkp"])
@pytest.mark.parametrize("encoding", ["direct", "latency"])
def test_snr_equals_the_per_sample_loop_on_spiking_networks(rule, encoding, device):
    # two hidden layers: the second sees T steps of spikes per sample (the batched-product path)
    model = build_model("snn", rule, (1, 4, 4), 10, seed=0, hidden="12,8", time_steps=5, encoding=encoding)
    model = model.to(device)
    x, y = (t.to(device) for t in _batch((1, 4, 4), dtype=torch.float64))
    _assert_close_snr(gradient_snr(model.double(), x, y, batch_size=7), gradient_snr_loop(model, x, y), rel=1e-9)
    assert model.fused_linear_drive  # the taps called the layers while they listened, and then gave the fast path back


def test_snr_moments_of_a_linear_layer_are_outer_products():
    model = build_model("mlp", "dfa", (1, 3, 3), 10, seed=0, hidden="5").double()
    x, y = _batch((1, 3, 3), n=12, dtype=torch.float64)
    per_sample = torch.stack([rule_update(model, x[i:i + 1], y[i:i + 1])["blocks.fc1.1.weight"]
                              for i in range(len(x))])
    mean, variance = per_sample_moments(model, x, y)["fc1"]
    torch.testing.assert_close(mean, per_sample.mean(0), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(variance, per_sample.var(0, unbiased=False), rtol=1e-10, atol=1e-15)
    # the mean per-sample update is the batch update (batch-mean loss, eval mode)
    torch.testing.assert_close(mean, rule_update(model.eval(), x, y)["blocks.fc1.1.weight"], rtol=1e-12, atol=1e-15)


def test_snr_eps_and_input_checks():
    model = build_model("mlp", "bp", (1, 3, 3), 10, seed=0, hidden="5")
    x, y = _batch((1, 3, 3), n=8)
    small, large = gradient_snr(model, x, y, eps=0.0), gradient_snr(model, x, y, eps=10.0)
    assert all(large[k] < small[k] for k in small)
    with pytest.raises(ConfigError, match="at least 2 samples"):
        gradient_snr(model, x[:1], y[:1])
    with pytest.raises(ConfigError, match="8 images but 7 labels"):
        gradient_snr(model, x, y[:7])
    with pytest.raises(ConfigError, match="eps must be non-negative"):
        gradient_snr(model, x, y, eps=-1)


def test_bp_cosine_is_one_for_bp_and_for_dfa_last_layer(digits_runs, device):
    x, y = (t.to(device) for t in _batch((1, 8, 8), n=60))
    bp, _ = load_run(digits_runs["cnn-bp"], device)
    for name, value in bp_cosines(bp, x, y, batch_size=20).items():
        assert value["mean"] == pytest.approx(1.0, abs=1e-5), name
        assert value["n_batches"] == 3
    dfa, _ = load_run(digits_runs["cnn-dfa"], device)
    cosines = bp_cosines(dfa, x, y, batch_size=20)
    assert cosines["out"]["mean"] == pytest.approx(1.0, abs=1e-5)
    assert cosines["conv1"]["mean"] < 0.9 and cosines["conv1"]["sem"] > 0
    assert not dfa.training  # restored


def test_every_cosine_batch_holds_every_class_alike_on_a_class_grouped_sample(digits_runs):
    """The analysis's sample is grouped by class: contiguous batches would each hold two classes of ten, a
    different quantity from the class-balanced batch measured while training."""
    model, _ = load_run(digits_runs["cnn-dfa"])
    x, y = _batch((1, 8, 8), n=60)
    order = torch.argsort(y, stable=True)
    x, y = x[order], y[order]  # 6 of each class, grouped
    seen = []
    def update(m, images, labels):
        seen.append(torch.bincount(labels, minlength=10).tolist())
        return rule_update(m, images, labels)
    cosines = bp_cosines(model, x, y, batch_size=20, update=update)
    assert seen == [[2] * 10] * 3 and cosines["fc1"]["n_batches"] == 3
    assert cosines["fc1"]["mean"] == pytest.approx(bp_cosines(model, x, y, batch_size=20)["fc1"]["mean"])


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv_row_gradients_match_autograd(stride, padding, dilation):
    from bioplaus_analysis.gradients import _conv_row_grads
    conv = torch.nn.Conv2d(3, 4, 3, stride=stride, padding=padding, dilation=dilation).double()
    x = torch.rand(5, 3, 9, 8, dtype=torch.float64)
    delta = torch.rand_like(conv(x))
    rows = _conv_row_grads(conv, x, delta)
    for i in range(len(x)):
        (expected,) = torch.autograd.grad((conv(x[i:i + 1]) * delta[i:i + 1]).sum(), conv.weight)
        torch.testing.assert_close(rows[i], expected, rtol=1e-12, atol=1e-12)


def test_snr_equals_the_per_sample_loop_on_a_conv_snn():
    # conv layers fed T steps of spikes per sample, rows ordered (step, sample)
    model = build_model("csnn", "dfa", (1, 8, 8), 10, seed=0, channels="3,4", fc_width=6, time_steps=4,
                        encoding="latency").double()
    x, y = _batch((1, 8, 8), n=10, dtype=torch.float64)
    _assert_close_snr(gradient_snr(model, x, y, batch_size=4), gradient_snr_loop(model, x, y), rel=1e-9)

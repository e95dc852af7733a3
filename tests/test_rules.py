"""Each rule's update against a hand derivation (float64), on a small MLP and on conv layers."""

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainers import ConfigError, bp_gradient, build_model, rule_update
from trainers.nets.feedforward import Network, Normalize
from trainers.rules import RULES, get_rule

N, K = 6, 3


def _mlp(rule, seed=0):
    model = build_model("mlp", rule, (1, 2, 2), K, seed=seed, hidden="5,4").double()
    return model


def _batch(shape, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, *shape, generator=g, dtype=torch.float64), torch.arange(N) % K


def _error(logits, labels):
    return (torch.softmax(logits, 1) - F.one_hot(labels, K).to(logits)) / len(labels)


def _mlp_forward(model, x):
    """Hand forward pass; returns pre-activations, post-activations and logits."""
    W1, b1 = model.blocks.fc1[1].weight, model.blocks.fc1[1].bias
    W2, b2 = model.blocks.fc2[0].weight, model.blocks.fc2[0].bias
    W3, b3 = model.blocks.out[0].weight, model.blocks.out[0].bias
    x = x.flatten(1)
    a1 = x @ W1.T + b1
    h1 = a1.clamp_min(0)
    a2 = h1 @ W2.T + b2
    h2 = a2.clamp_min(0)
    return x, (a1, h1, a2, h2), h2 @ W3.T + b3, (W1, W2, W3)


def _expected(delta1, delta2, e, x, h1, h2):
    return {"blocks.fc1.1.weight": delta1.T @ x, "blocks.fc1.1.bias": delta1.sum(0),
            "blocks.fc2.0.weight": delta2.T @ h1, "blocks.fc2.0.bias": delta2.sum(0),
            "blocks.out.0.weight": e.T @ h2, "blocks.out.0.bias": e.sum(0)}


def _assert_grads(got, expected):
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value.detach(), rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_mlp_update_matches_hand_derivation(rule, device):
    model = _mlp(rule).to(device)
    x, labels = (t.to(device) for t in _batch((1, 2, 2)))
    flat, (a1, h1, a2, h2), logits, (W1, W2, W3) = _mlp_forward(model, x)
    e = _error(logits, labels)
    if rule == "bp":
        delta2 = (e @ W3) * (a2 > 0)
        delta1 = (delta2 @ W2) * (a1 > 0)
    elif rule == "fa":  # chained backwards through the fixed B of each layer
        delta2 = (e @ model.feedback["out"]) * (a2 > 0)
        delta1 = (delta2 @ model.feedback["fc2"]) * (a1 > 0)
    else:  # δ_l = (B_l e) ⊙ f'(a_l), B_l: (D_l, K)
        delta2 = (e @ model.feedback["fc2"].T) * (a2 > 0)
        delta1 = (e @ model.feedback["fc1"].T) * (a1 > 0)
    got = rule_update(model, x, labels)
    _assert_grads(got, _expected(delta1, delta2, e, flat, h1, h2))
    if rule == "dkp":  # Kolen–Pollack: ∇B_l = (eᵀ h_l)ᵀ in B's (D_l, K) layout
        torch.testing.assert_close(got["feedback.fc1"], (e.T @ h1).T.detach(), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(got["feedback.fc2"], (e.T @ h2).T.detach(), rtol=1e-10, atol=1e-12)
    else:
        assert not any(name.startswith("feedback.") for name in got)


def test_bp_equals_autograd_on_the_cnn_with_batchnorm():
    model = build_model("cnn", "bp", (1, 8, 8), 10, seed=2).double().train()
    x, labels = torch.rand(8, 1, 8, 8, dtype=torch.float64), torch.arange(8)
    got = rule_update(model, x, labels)
    loss = F.cross_entropy(model(x), labels)
    want = torch.autograd.grad(loss, list(model.parameters()))
    for (name, _), value in zip(model.named_parameters(), want):
        torch.testing.assert_close(got[name], value, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", ["dfa", "dkp"])
def test_dfa_last_layer_equals_bp(rule):
    model = build_model("cnn", rule, (1, 8, 8), 10, seed=0).double()
    x, labels = torch.rand(8, 1, 8, 8, dtype=torch.float64), torch.arange(8)
    update, true = rule_update(model, x, labels), bp_gradient(model, x, labels)
    for name in ("blocks.out.0.weight", "blocks.out.0.bias"):
        torch.testing.assert_close(update[name], true[name], rtol=1e-10, atol=1e-14)
    assert not torch.allclose(update["blocks.fc1.1.weight"], true["blocks.fc1.1.weight"])


def _conv_net(rule):
    """conv(1→2, 3x3) → ReLU, conv(2→2, 3x3) → ReLU, flatten → linear: no BN, so δ is by hand."""
    torch.manual_seed(0)
    blocks = OrderedDict(conv1=nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()),
                         conv2=nn.Sequential(nn.Conv2d(2, 2, 3), nn.ReLU()),
                         out=nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, K)))
    model = Network("cnn", get_rule(rule), Normalize([0.0], [1.0]), blocks, (1, 7, 7), K, {})
    get_rule(rule).init_feedback(model)
    return model.double()


def _conv_weight_grad(delta, inputs, kernel=3):
    """∇W[o, c, i, j] = Σ_{n,p,q} δ[n, o, p, q] · x[n, c, p+i, q+j], via unfolded patches."""
    patches = F.unfold(inputs, kernel)  # (N, C·k·k, L)
    return torch.einsum("nol,nkl->ok", delta.flatten(2), patches).view(delta.shape[1], inputs.shape[1],
                                                                        kernel, kernel)


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_conv_update_matches_hand_derivation(rule, device):
    model = _conv_net(rule).to(device)
    x, labels = (t.to(device) for t in _batch((1, 7, 7)))
    c1, c2, fc = model.blocks.conv1[0], model.blocks.conv2[0], model.blocks.out[1]
    a1 = F.conv2d(x, c1.weight, c1.bias)
    h1 = a1.clamp_min(0)  # (N, 2, 5, 5)
    a2 = F.conv2d(h1, c2.weight, c2.bias)
    h2 = a2.clamp_min(0)  # (N, 2, 3, 3)
    e = _error(h2.flatten(1) @ fc.weight.T + fc.bias, labels)
    if rule in ("bp", "fa"):
        w_out = fc.weight if rule == "bp" else model.feedback["out"]
        w_conv2 = c2.weight if rule == "bp" else model.feedback["conv2"]
        delta2 = (e @ w_out).view_as(a2) * (a2 > 0)
        delta1 = F.conv_transpose2d(delta2, w_conv2) * (a1 > 0)  # input gradient of a conv: its transpose
    else:
        delta2 = (e @ model.feedback["conv2"].T).view_as(a2) * (a2 > 0)
        delta1 = (e @ model.feedback["conv1"].T).view_as(a1) * (a1 > 0)
    got = rule_update(model, x, labels)
    expected = {"blocks.conv1.0.weight": _conv_weight_grad(delta1, x), "blocks.conv1.0.bias": delta1.sum((0, 2, 3)),
                "blocks.conv2.0.weight": _conv_weight_grad(delta2, h1), "blocks.conv2.0.bias": delta2.sum((0, 2, 3)),
                "blocks.out.1.weight": e.T @ h2.flatten(1), "blocks.out.1.bias": e.sum(0)}
    _assert_grads(got, expected)
    if rule == "dkp":
        torch.testing.assert_close(got["feedback.conv1"], h1.flatten(1).T @ e, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(got["feedback.conv2"], h2.flatten(1).T @ e, rtol=1e-10, atol=1e-12)


def test_feedback_kinds_buffers_or_parameters():
    for rule, trainable in (("fa", False), ("dfa", False), ("dkp", True)):
        model = build_model("cnn", rule, (1, 28, 28), 10)
        names = {n for n, _ in model.named_parameters() if n.startswith("feedback.")}
        buffers = {n for n, _ in model.named_buffers() if n.startswith("feedback.")}
        assert (names if trainable else buffers), rule
        assert not (buffers if trainable else names), rule
        assert "feedback.conv2" in model.state_dict()
    assert model.feedback["conv1"].shape == (32 * 26 * 26, 10)  # B_l: (D_l, K)
    assert dict(build_model("cnn", "bp", (1, 8, 8), 10).feedback.named_buffers()) == {}


def test_rule_update_leaves_model_untouched():
    model = build_model("cnn", "dfa", (1, 8, 8), 10).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rule_update(model, torch.rand(8, 1, 8, 8), torch.arange(8))
    bp_gradient(model, torch.rand(8, 1, 8, 8), torch.arange(8))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())


def test_seed_fixes_weights_and_feedback_without_touching_global_rng():
    state = torch.get_rng_state()
    a = build_model("cnn", "dfa", (1, 8, 8), 10, seed=5).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    b = build_model("cnn", "dfa", (1, 8, 8), 10, seed=5).state_dict()
    c = build_model("cnn", "dfa", (1, 8, 8), 10, seed=6).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["feedback.conv1"], c["feedback.conv1"])


def test_unknown_rule_lists_the_registry():
    with pytest.raises(ConfigError, match="unknown rule 'hebb'; choose one of: adfa, bp, brsf, dfa, dkp, fa, frsf, kp, readout, usf"):
        build_model("cnn", "hebb", (1, 8, 8), 10)
    assert set(RULES) == {"bp", "fa", "dfa", "dkp", "adfa", "usf", "frsf", "brsf", "kp", "readout"}


def test_rules_refuse_models_they_do_not_train():
    with pytest.raises(ConfigError, match="rule 'adfa' does not train model 'cnn'; choose one of: bp, brsf, dfa, dkp, fa, frsf, kp, readout, usf"):
        build_model("cnn", "adfa", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="rule 'fa' does not train model 'snn'; choose one of: adfa, bp, dfa, dkp"):
        build_model("snn", "fa", (1, 8, 8), 10)

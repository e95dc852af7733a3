"""The layer-wise rules beside FA: sign symmetry (uSF, frSF, brSF) and Kolen–Pollack. Updates against hand
derivations on an MLP, equal to FA with the same backward weights on conv and residual layers; brSF redraws
R every batch and resumes exactly; KP's B aligns with W; every rule trains the CNN. With B = W, FA and KP give BP's
gradient on padded, strided and 'same' convs; a reflect-padded conv keeps the written bracket."""

import os
import signal
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainers import Interrupted, TrainConfig, bp_gradient, build_model, rule_update, train, wrap
from trainers.rules.alignment import weight_alignment
from trainers.store.runfiles import load_checkpoint, read_metrics

NEW = ("usf", "frsf", "brsf", "kp")


def _batch(shape=(1, 3, 3), n=6):
    generator = torch.Generator().manual_seed(2)
    return torch.rand(n, *shape, generator=generator, dtype=torch.float64), torch.arange(n) % 10


def _backward_weight(rule, model, name, weight):
    """B as the rule uses it: sign(W)·s, sign(W)∘|R| (brSF's R the first draw after seeding 0), or B itself."""
    stored = model.feedback[name]
    if rule == "brsf":
        torch.manual_seed(0)  # the analyses' `measuring` seeds 0; out is the one layer drawing
        return torch.sign(weight) * torch.rand_like(weight) * stored
    return stored if rule == "kp" else torch.sign(weight) * stored


@pytest.mark.parametrize("rule", NEW)
def test_the_update_of_a_two_layer_mlp_by_hand(rule):
    model = build_model("mlp", rule, (1, 3, 3), 10, seed=0, hidden="5").double().eval()
    x, y = _batch()
    w1, b1 = model.blocks["fc1"][1].weight, model.blocks["fc1"][1].bias
    w2 = model.blocks["out"][0].weight
    with torch.no_grad():
        u = ((x - model.norm.mean) / model.norm.std).flatten(1)
        h = torch.relu(u @ w1.T + b1)
        logits = model(x)
        e = (torch.softmax(logits, 1) - F.one_hot(y, 10)) / len(y)
        delta = (e @ _backward_weight(rule, model, "out", w2.detach())) * (h > 0)
    update = rule_update(model, x, y)
    torch.testing.assert_close(update["blocks.out.0.weight"], e.T @ h, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(update["blocks.fc1.1.weight"], delta.T @ u, rtol=1e-12, atol=1e-14)
    if rule == "kp":  # B takes exactly W's gradient
        torch.testing.assert_close(update["feedback.out"], e.T @ h, rtol=1e-12, atol=1e-14)
    else:
        assert not any(key.startswith("feedback.") for key in update)


@pytest.mark.parametrize("model_name, options", [("cnn", {"channels": "3,4", "fc_width": 6}), ("resnet", {"depth": 8})])
@pytest.mark.parametrize("rule", ["usf", "frsf", "kp"])
def test_on_conv_and_residual_layers_each_layer_rule_is_fa_with_its_backward_weights(rule, model_name, options):
    ours = build_model(model_name, rule, (1, 8, 8), 10, seed=0, **options).double()
    fa = build_model(model_name, "fa", (1, 8, 8), 10, seed=0, **options).double()
    fa.load_state_dict({k: v for k, v in ours.state_dict().items() if not k.startswith("feedback.")}, strict=False)
    with torch.no_grad():
        for name, matrix in ours.rule.feedback_matrices(ours).items():
            fa.feedback[name].copy_(matrix)
    x, y = torch.rand(4, 1, 8, 8, dtype=torch.float64), torch.arange(4)
    a, b = rule_update(ours, x, y), rule_update(fa, x, y)
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("feedback."))
    if rule == "kp":  # every B takes its W's update, bit for bit (from W's one weight-gradient product)
        key = {id(p): k for k, p in ours.named_parameters()}
        pairs = [(key[id(ours.feedback[name])], key[id(layer.weight)]) for name, layer in ours.weight_layers().items()
                 if name in ours.feedback]
        assert len(pairs) >= 3 and all(torch.equal(a[fb], a[w]) for fb, w in pairs)


def test_brsf_redraws_r_every_batch_and_a_resumed_run_equals_the_uninterrupted_one(tmp_path, monkeypatch):
    model = build_model("mlp", "brsf", (1, 8, 8), 10, seed=0, hidden="8")
    first, second = (model.rule.feedback_matrices(model)["out"] for _ in range(2))
    assert torch.equal(first.sign(), second.sign()) and not torch.equal(first, second)
    import trainers.loop.steps as steps
    config = TrainConfig(model="mlp", rule="brsf", dataset="digits", epochs=2, model_options={"hidden": "16"},
                         probes_per_class=0)
    original, calls = steps.train_step, [0]

    def step(*args):
        calls[0] += 1
        if calls[0] == 60:  # inside epoch 2 (45 steps of 32 per epoch)
            os.kill(os.getpid(), signal.SIGTERM)
        return original(*args)
    monkeypatch.setattr(steps, "train_step", step)
    with pytest.raises(Interrupted):
        train(config, tmp_path / "cut", progress=False)
    monkeypatch.setattr(steps, "train_step", original)
    train(config, tmp_path / "cut", resume=True, progress=False)
    train(config, tmp_path / "full", progress=False)
    a, b = load_checkpoint(tmp_path / "cut"), load_checkpoint(tmp_path / "full")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [r["test_acc"] for r in read_metrics(tmp_path / "cut")] == [r["test_acc"] for r in read_metrics(tmp_path / "full")]


def test_kp_backward_weights_align_with_the_forward_weights():
    model = build_model("mlp", "kp", (1, 8, 8), 10, seed=0, hidden="32").train()
    from trainers import load_dataset
    images, labels = load_dataset("digits", "train")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.02)  # one law for W and B
    before = weight_alignment(model, images[:100])["out"]
    for epoch in range(4):
        for i in range(0, len(images), 32):
            optimizer.zero_grad()
            model.rule.objective(model, images[i:i + 32], labels[i:i + 32]).surrogate.backward()
            optimizer.step()
    after = weight_alignment(model, images[:100])["out"]
    assert before > 80 and after < 25, (before, after)


@pytest.mark.parametrize("rule", NEW)
def test_every_layer_rule_trains_the_cnn_on_digits(rule, tmp_path):
    run = train(TrainConfig(model="cnn", rule=rule, dataset="digits", epochs=2, probes_per_class=0, cos_batch=10),
                tmp_path / rule, progress=False)
    assert read_metrics(run)[-1]["test_acc"] > 0.6  # chance is 0.1


def test_kp_on_a_reflect_padded_conv_still_gives_b_the_bracket_gradient():
    """KP's B takes W's update from W's own product on Linear and zero-padded convs; a conv padded otherwise keeps
    the written bracket x ∗ B − stopgrad(x ∗ B), whose gradient for B is δᵀx over the zero-padded input while
    W's is over the reflect-padded one."""
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict(
        c1=nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, padding_mode="reflect"), nn.ReLU()),
        c2=nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.Flatten()),
        out=nn.Linear(4 * 6 * 6, 10))).double()
    model = wrap(net, ["c1", "c2", "out"], (1, 6, 6), "kp")
    conv = net.c2[0]
    (name,) = [n for n, layer in model.weight_layers().items() if layer is conv]
    seen = {}

    def keep(_module, inputs, output):
        seen["x"], seen["y"] = inputs[0].detach(), output
        output.retain_grad()
    handle = conv.register_forward_hook(keep)
    x, y = torch.rand(5, 1, 6, 6, dtype=torch.float64), torch.arange(5)
    model.rule.objective(model, x, y).surrogate.backward()
    handle.remove()
    delta, b = seen["y"].grad, model.feedback[name]
    torch.testing.assert_close(b.grad, torch.nn.grad.conv2d_weight(seen["x"], b.shape, delta, padding=1))
    reflected = F.pad(seen["x"], (1, 1, 1, 1), mode="reflect")
    torch.testing.assert_close(conv.weight.grad, torch.nn.grad.conv2d_weight(reflected, b.shape, delta))


@pytest.mark.parametrize("padding, stride", [(1, 1), (0, 2), ("same", 1)])
@pytest.mark.parametrize("rule", ["fa", "kp"])
def test_with_b_equal_to_w_the_layer_rules_give_bps_gradient(rule, padding, stride):
    """FA's error through B is BP's through W when B = W, on convs padded by number or by name and strided: the
    input gradient that `_ErrorThroughB` writes out is autograd's own."""
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict(
        c1=nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU()),
        c2=nn.Sequential(nn.Conv2d(3, 4, 3, padding=padding, stride=stride), nn.ReLU(), nn.Flatten()),
        fc=nn.Sequential(nn.LazyLinear(7), nn.ReLU()), out=nn.Linear(7, 10)))
    net(torch.zeros(1, 1, 8, 8))  # sizes the lazy layer
    model = wrap(net.double(), ["c1", "c2", "fc", "out"], (1, 8, 8), rule)
    with torch.no_grad():
        for name, layer in model.weight_layers().items():
            if name in model.feedback:
                model.feedback[name].copy_(layer.weight)
    x, y = torch.rand(5, 1, 8, 8, dtype=torch.float64), torch.arange(5)
    update, true = rule_update(model, x, y), bp_gradient(model, x, y)
    assert {k for k in update if not k.startswith("feedback.")} == set(true)
    for key, value in true.items():
        torch.testing.assert_close(update[key], value, rtol=1e-10, atol=1e-13)

"""Any network: `wrap` of a researcher's module gives the built-in networks' updates bit for bit, FA and DFA
through residual blocks match hand derivations, ResNets train with every rule, and bad networks are refused in
one line."""

import copy
import re
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainers import ConfigError, TrainConfig, build_model, load_dataset, load_run, rule_update, train, wrap
from trainers.loop.evaluation import evaluate


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_a_wrapped_sequential_gives_the_built_in_networks_updates_bit_for_bit(rule):
    built = build_model("cnn", rule, (1, 12, 12), 10, seed=3, channels="4,6,6", fc_width=16).train()
    module = copy.deepcopy(nn.Sequential(OrderedDict(built.blocks.items())))
    wrapped = wrap(module, list(built.blocks), (1, 12, 12), rule, norm=copy.deepcopy(built.norm)).train()
    assert list(wrapped.feedback.state_dict()) == list(built.feedback.state_dict())
    wrapped.feedback.load_state_dict(built.feedback.state_dict())  # the same weights and feedback
    x, y = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(0)), torch.arange(8)
    ours, theirs = rule_update(built, x, y), rule_update(wrapped, x, y)
    assert len(ours) == len(theirs)
    for key, value in ours.items():
        assert torch.equal(value, theirs[key.replace("blocks.", "module.")]), key


class Residual(nn.Module):
    """relu(W2 relu(W1 x) + S x): a branch of two linear layers and a projection shortcut (no biases)."""

    def __init__(self, fan_in, width, project=True):
        super().__init__()
        self.w1, self.w2 = nn.Linear(fan_in, width, bias=False), nn.Linear(width, width, bias=False)
        self.shortcut = nn.Linear(fan_in, width, bias=False) if project else nn.Identity()

    def forward(self, x):
        return torch.relu(self.w2(torch.relu(self.w1(x))) + self.shortcut(x))


def _residual_net(project=True, stages=1):
    torch.manual_seed(0)
    parts = [("stem", nn.Sequential(nn.Flatten(), nn.Linear(6, 5, bias=False), nn.ReLU()))]
    parts += [(f"stage{i + 1}", Residual(5 if i == 0 or not project else 4, 4 if project else 5, project))
              for i in range(stages)]
    parts += [("out", nn.Linear(4 if project else 5, 3, bias=False))]
    return nn.Sequential(OrderedDict(parts))


def _batch():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(7, 1, 2, 3, generator=generator, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 0])


def _error(logits, labels):
    return (torch.softmax(logits, 1) - F.one_hot(labels, 3)) / len(labels)


def test_fa_through_a_residual_block_sends_the_error_through_each_layers_own_b():
    net = _residual_net().double()
    model = wrap(net, ["stem", "stage1", "out"], (1, 2, 3), "fa", seed=1)
    assert sorted(model.feedback.state_dict()) == ["out", "stage1-shortcut", "stage1-w1", "stage1-w2"]
    x, y = _batch()
    b = {name: model.feedback[name] for name in ("out", "stage1.w1", "stage1.w2", "stage1.shortcut")}
    l0, w1, w2, s, wo = (net.stem[1].weight, net.stage1.w1.weight, net.stage1.w2.weight,
                         net.stage1.shortcut.weight, net.out.weight)
    with torch.no_grad():  # the forward pass, then the errors by hand
        u = x.flatten(1)
        a0 = torch.relu(u @ l0.T)
        a1 = torch.relu(a0 @ w1.T)
        z = a1 @ w2.T + a0 @ s.T
        h = torch.relu(z)
        e = _error(h @ wo.T, y)
        dz = (e @ b["out"]) * (z > 0)                        # into the block through B_out, not W_outᵀ
        da1 = (dz @ b["stage1.w2"]) * (a1 > 0)                # back along the branch through B_w2
        da0 = (dz @ b["stage1.shortcut"] + da1 @ b["stage1.w1"]) * (a0 > 0)  # shortcut and branch, each its B
    expected = {"module.out.weight": e.T @ h, "module.stage1.w2.weight": dz.T @ a1,
                "module.stage1.shortcut.weight": dz.T @ a0, "module.stage1.w1.weight": da1.T @ a0,
                "module.stem.1.weight": da0.T @ u}
    update = rule_update(model, x, y)
    for key, value in expected.items():
        torch.testing.assert_close(update[key], value, rtol=1e-12, atol=1e-14)


def test_dfa_on_a_two_stage_resnet_drives_each_block_through_its_own_layers():
    net = _residual_net(project=False, stages=2).double()
    model = wrap(net, ["stem", "stage1", "stage2", "out"], (1, 2, 3), "dfa", seed=1)
    x, y = _batch()
    l0, wo = net.stem[1].weight, net.out.weight
    with torch.no_grad():
        u = x.flatten(1)
        h0 = torch.relu(u @ l0.T)
        inner, outs = {}, [h0]
        for stage in (net.stage1, net.stage2):
            a = torch.relu(outs[-1] @ stage.w1.weight.T)
            z = a @ stage.w2.weight.T + outs[-1]  # identity shortcut
            inner[stage] = (outs[-1], a, z)
            outs.append(torch.relu(z))
        e = _error(outs[-1] @ wo.T, y)
    expected = {"module.out.weight": e.T @ outs[-1],
                "module.stem.1.weight": ((e @ model.feedback["stem"].T) * (h0 > 0)).T @ u}
    for name, stage in (("stage1", net.stage1), ("stage2", net.stage2)):
        block_in, a, z = inner[stage]
        dz = (e @ model.feedback[name].T) * (z > 0)           # e B_lᵀ at the block's output
        da = (dz @ stage.w2.weight) * (a > 0)                  # the block's own W2ᵀ inside it
        expected[f"module.{name}.w2.weight"] = dz.T @ a
        expected[f"module.{name}.w1.weight"] = da.T @ block_in  # block_in: no error goes to the block before
    update = rule_update(model, x, y)
    for key, value in expected.items():
        torch.testing.assert_close(update[key], value, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_every_rule_trains_resnet8_on_digits_above_chance(rule, tmp_path):
    config = TrainConfig(model="resnet", rule=rule, dataset="digits", epochs=2, optimizer="adam", lr=3e-3,
                         model_options={"depth": 8}, probes_per_class=0, cos_batch=10)
    model, _ = load_run(train(config, tmp_path / rule, progress=False))
    images, labels = load_dataset("digits", "test")
    assert evaluate(model, images, labels)[1] > 0.5  # chance is 0.1


def test_bad_networks_are_refused_in_one_line_naming_what_to_change():
    net = _residual_net(stages=2)
    cases = {
        "Sequential has no submodule 'stage9'; its children are stem, stage1, stage2, out": ["stem", "stage9", "out"],
        "block 'stage1.w1' lies inside block 'stage1'": ["stem", "stage1", "stage1.w1", "out"],
        "the blocks ran in the order ['stem', 'stage1', 'stage2', 'out'], not": ["stem", "stage2", "stage1", "out"],
        "layers with weights run after block 'stem' outside every block (stage2.w1, stage2.w2, stage2.shortcut)":
            ["stem", "stage1", "out"],
        "blocks name a submodule twice": ["stem", "stem", "out"],
        "blocks must be a list of submodule names": "stem",
    }
    for message, blocks in cases.items():
        with pytest.raises(ConfigError, match=re.escape(message)) as raised:
            wrap(net, blocks, (1, 2, 3), "dfa")
        assert "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match=r"the module's output must be logits \[batch, classes\] \(or pass output="):
        wrap(nn.Sequential(nn.Flatten(), nn.Linear(6, 3), nn.Unflatten(1, (3, 1))), ["1"], (1, 2, 3))
    picked = wrap(nn.Sequential(nn.Flatten(), nn.Linear(6, 3), nn.Unflatten(1, (3, 1))), ["1"], (1, 2, 3),
                  output=lambda out: out[..., 0])
    assert picked.num_classes == 3
    with pytest.raises(ConfigError, match="rule 'adfa' does not train model 'wrap'"):
        wrap(net, ["stem", "stage1", "stage2", "out"], (1, 2, 3), "adfa")

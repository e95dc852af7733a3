import pytest
import torch

from trainers import ConfigError, build_model
from trainers.nets.base import block_output_shapes


@pytest.mark.parametrize("shape, flat", [((1, 8, 8), 32 * 2 * 2), ((1, 28, 28), 32 * 12 * 12),
                                         ((3, 32, 32), 32 * 14 * 14)])
def test_cnn_is_sized_from_the_input(shape, flat):
    model = build_model("cnn", "bp", shape, 10)
    assert list(model.blocks) == ["conv1", "conv2", "fc1", "out"]
    assert model.blocks.fc1[1].in_features == flat
    assert model(torch.rand(2, *shape)).shape == (2, 10)


def test_mlp_depth_and_width_are_configurable():
    model = build_model("mlp", "dfa", (1, 28, 28), 10, hidden="1000,250")
    assert list(model.blocks) == ["fc1", "fc2", "out"]
    assert block_output_shapes(model) == {"fc1": (1000,), "fc2": (250,), "out": (10,)}
    assert model.feedback["fc2"].shape == (250, 10)


def test_normalisation_is_the_first_layer():
    model = build_model("mlp", "bp", (2, 1, 1), 3, mean=[0.5, 0.25], std=[2.0, 0.5], hidden=[4])
    x = torch.tensor([[[[1.5]], [[0.75]]]])
    torch.testing.assert_close(model.norm(x).flatten(), torch.tensor([0.5, 1.0]))


def test_bad_model_options():
    with pytest.raises(ConfigError, match="unknown model 'vgg'; choose one of: cnn, csnn, mlp, package.module:function, "
                                          "resnet, snn"):
        build_model("vgg", "bp", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match=r"model 'cnn' takes options \['channels', 'fc_width', 'norm'\], not \['hidden'\]"):
        build_model("cnn", "bp", (1, 8, 8), 10, hidden="10")
    with pytest.raises(ConfigError, match=r"input \(1, 4, 4\) is too small for 2 conv layers"):
        build_model("cnn", "bp", (1, 4, 4), 10)
    with pytest.raises(ConfigError, match="--hidden must be comma-separated positive integers"):
        build_model("mlp", "bp", (1, 8, 8), 10, hidden="100,0")


@pytest.mark.parametrize("kind, rule, spiking", [("cnn", "fa", False), ("mlp", "dfa", False), ("snn", "adfa", True),
                                                 ("csnn", "dkp", True)])
def test_every_network_is_a_network_base_holding_its_rule_object(kind, rule, spiking):
    from trainers import RULES
    from trainers.nets.base import NetworkBase
    model = build_model(kind, rule, (1, 8, 8), 10, **({"hidden": "16"} if kind in ("mlp", "snn") else {}))
    assert isinstance(model, NetworkBase) and model.rule is RULES[rule] and model.spiking is spiking
    assert model.hidden_names == list(model.blocks)[:-1] and model.output_block is model.blocks["out"]


def test_a_loaded_run_resolves_its_rule_once_and_its_files_keep_the_name(digits_runs):
    import json
    from trainers import RULES, load_run
    for name in ("cnn-dkp", "snn-dfa"):
        model, config = load_run(digits_runs[name])
        assert model.rule is RULES[name.split("-")[1]] and config["rule"] == name.split("-")[1]
        assert json.loads((digits_runs[name] / "config.json").read_text())["rule"] == config["rule"]


def test_the_same_options_message_for_every_network():
    for kind in ("cnn", "snn"):
        with pytest.raises(ConfigError, match=rf"^model '{kind}' takes options \[.*\], not \['depth'\]$"):
            build_model(kind, "bp", (1, 8, 8), 10, depth=3)


def test_channels_of_any_length_give_one_block_each_and_the_reference_cnn_is_unchanged():
    deep = build_model("cnn", "fa", (1, 28, 28), 10, channels="16,16,32,32")
    assert list(deep.blocks) == ["conv1", "conv2", "conv3", "conv4", "fc1", "out"]
    assert deep.blocks.fc1[1].in_features == 32 * 4 * 4  # 28 → 26 → 24 → 12 → 10 → 8 → 4
    assert [isinstance(deep.blocks[f"conv{i}"][-1], torch.nn.MaxPool2d) for i in (1, 2, 3, 4)] == [False, True] * 2
    reference = build_model("cnn", "bp", (1, 28, 28), 10, seed=3)
    assert [type(m).__name__ for m in reference.blocks.conv2] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    with pytest.raises(ConfigError, match=r"input \(1, 8, 8\) is too small for 4 conv layers .*pass fewer --channels"):
        build_model("cnn", "bp", (1, 8, 8), 10, channels="8,8,8,8")
    with pytest.raises(ConfigError, match="--channels of csnn takes two conv widths, e.g. 16,32; got 3"):
        build_model("csnn", "bp", (1, 28, 28), 10, channels="8,8,8")


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_every_rule_updates_every_block_of_a_four_conv_cnn(rule):
    from trainers import rule_update
    model = build_model("cnn", rule, (1, 28, 28), 10, seed=1, channels="8,8,16,16", fc_width=32).train()
    x, y = torch.rand(16, 1, 28, 28), torch.arange(16) % 10
    update = rule_update(model, x, y)
    for name, layer in model.weight_layers().items():
        key = next(n for n, p in model.named_parameters() if p is layer.weight)
        assert torch.isfinite(update[key]).all() and update[key].abs().sum() > 0, (rule, name)


def test_a_network_lacking_part_of_the_interface_is_refused_in_one_message_naming_it():
    from trainers.nets.base import INTERFACE, check_network
    model = build_model("mlp", "dfa", (1, 8, 8), 10, hidden="8")
    check_network(model)  # every built network passes

    class Bare(torch.nn.Module):
        num_classes, input_shape = 10, (1, 8, 8)
    with pytest.raises(ConfigError) as raised:
        check_network(Bare())
    message = str(raised.value)
    assert message.startswith("Bare is not a bioplaus network: it lacks blocks (") and "\n" not in message
    assert all(f"{name} (" in message for name in INTERFACE if name not in ("num_classes", "input_shape"))
    model.blocks = torch.nn.ModuleDict({"input": model.blocks["fc1"], "out": model.blocks["out"]})
    with pytest.raises(ConfigError, match=r"hidden blocks may not be named input or out .* rename \['input'\]"):
        check_network(model)
    model.blocks.clear()
    with pytest.raises(ConfigError, match=r"it needs at least one block and a Rule object; got blocks \[\]"):
        check_network(model)


def test_norm_none_leaves_batch_norm_out_and_an_unknown_norm_is_named():
    plain = build_model("cnn", "dfa", (1, 28, 28), 10, channels="8,8,8", norm="none")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert [type(m).__name__ for m in plain.blocks.conv2] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert plain(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in build_model("cnn", "bp", (1, 28, 28), 10).modules()) == 2
    with pytest.raises(ConfigError, match="unknown norm 'layer'; choose one of: batch, none"):
        build_model("cnn", "bp", (1, 28, 28), 10, norm="layer")

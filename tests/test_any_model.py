"""Analyse a model trained anywhere: features by layer name from any module (snnTorch and SpikingJelly spikes
as counts), `output=` for features, accuracy and attacks, and attacks that refuse a gradient autograd cannot
vouch for (a custom autograd.Function FA layer)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bioplaus_analysis import accuracy, fgsm, logits_of, record_features
from trainers import ConfigError, build_model, load_dataset

T = 6


def _digits(n=40):
    images, labels = load_dataset("digits", "test")
    return images[:n], labels[:n]


def test_features_by_name_equal_the_built_in_features_of_the_built_in_networks():
    images, labels = _digits()
    for kind, options in (("cnn", {"channels": "4,4", "fc_width": 8}), ("snn", {"hidden": "16", "time_steps": 5})):
        model = build_model(kind, "dfa", (1, 8, 8), 10, seed=0, **options)
        default = record_features(model, images, labels, batch_size=16)
        if kind == "cnn":
            named = record_features(model, images, labels, batch_size=16, layers=model.hidden_names)
            assert list(named.layers) == list(default.layers)
            assert all(np.array_equal(named.layers[k], default.layers[k]) for k in default.layers)
        assert default.measure == ("spike count" if kind == "snn" else "activation")


def test_any_module_by_layer_name_with_an_output_picked_from_a_tuple():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 10))

    class Pair(nn.Module):  # returns (logits, something else), as many research models do
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x), x.mean()
    images, labels = _digits()
    features = record_features(Pair(), images, labels, layers=["body.2"], output="first")
    hidden = torch.relu(body[1](images.flatten(1)))
    np.testing.assert_allclose(features.layers["body.2"], hidden.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(features.layers["out"], torch.softmax(body(images), 1).detach().numpy(), rtol=1e-5)
    assert accuracy(Pair(), images, labels, output="first") == accuracy(body, images, labels)
    with pytest.raises(ConfigError, match="Pair is not a bioplaus network: name the layers to record"):
        record_features(Pair(), images, labels)
    with pytest.raises(ConfigError, match="Pair has no layer 'body.9' to record"):
        record_features(Pair(), images, labels, layers=["body.9"], output="first")


class FALinear(torch.autograd.Function):
    """The common hand-written FA layer: y = x Wᵀ, but the input's gradient goes through B."""

    @staticmethod
    def forward(ctx, x, weight, feedback):
        ctx.save_for_backward(x, feedback)
        return x @ weight.T

    @staticmethod
    def backward(ctx, grad):
        x, feedback = ctx.saved_tensors
        return grad @ feedback, grad.T @ x, None


class FANet(nn.Module):
    def __init__(self, plain=False):
        super().__init__()
        torch.manual_seed(0)
        self.w1, self.w2 = nn.Parameter(torch.randn(32, 64) / 8), nn.Parameter(torch.randn(10, 32) / 6)
        self.b1, self.plain = torch.randn(32, 64), plain

    def forward(self, x):
        x = x.flatten(1)
        hidden = torch.relu(x @ self.w1.T if self.plain else FALinear.apply(x, self.w1, self.b1))
        return hidden @ self.w2.T


def test_a_custom_function_fa_model_is_refused_in_true_mode_and_its_twin_is_attacked():
    images, labels = _digits()
    with pytest.raises(ConfigError, match="FANet's forward runs custom autograd.Function FALinear: the input gradient"):
        fgsm(FANet(), images, labels, 0.1)
    twin = FANet(plain=True)  # the same weights, plain layers: autograd gives the true input gradient
    x = images.clone().requires_grad_(True)
    F.cross_entropy(twin(x), labels).backward()
    assert torch.equal(fgsm(twin, images, labels, 0.1), (images + 0.1 * x.grad.sign()).clamp(0, 1))
    feedback_path = fgsm(logits_of(FANet(), trust_autograd=True), images, labels, 0.1)  # confirmed: B's path
    assert not torch.equal(feedback_path, fgsm(twin, images, labels, 0.1))


def test_snntorch_spikes_are_counted_and_the_network_is_attacked():
    net, (images, labels) = _snntorch_net(), _digits()
    features = record_features(net, images, labels, layers=["lif1"], output="spike_counts")
    with torch.no_grad():  # by hand: the same loop, counting lif1's spikes
        mem, count, current = net.lif1.init_leaky(), 0, net.fc1(images.flatten(1) * 4)
        for _ in range(T):
            spk, mem = net.lif1(current, mem)
            count = count + spk
    assert features.measure == "spike count" and features.layers["lif1"].max() > 0
    np.testing.assert_array_equal(features.layers["lif1"], count.numpy())
    with pytest.raises(ConfigError, match="custom autograd.Function"):  # snnTorch's spike is one
        fgsm(net, images, labels, 0.1, output="spike_counts")
    model = logits_of(net, "spike_counts", trust_autograd=True)  # its surrogate gradient is the white box
    x = images.clone().requires_grad_(True)
    F.cross_entropy(model(x), labels).backward()
    assert torch.equal(fgsm(model, images, labels, 0.1), (images + 0.1 * x.grad.sign()).clamp(0, 1))


def test_spikingjelly_multi_step_spikes_are_counted():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc1 = layer.Linear(64, 20, step_mode="m")
            self.lif1 = neuron.LIFNode(tau=2.0, step_mode="m")
            self.fc2 = layer.Linear(20, 10, step_mode="m")

        def forward(self, x):
            functional.reset_net(self)  # a stateful network resets itself for every batch
            steps = (x.flatten(1) * 4).unsqueeze(0).repeat(T, 1, 1)
            return self.fc2(self.lif1(self.fc1(steps))).mean(0)
    net, (images, labels) = Net(), _digits()
    features = record_features(net, images, labels, layers=["lif1"], batch_size=16)
    with torch.no_grad():
        functional.reset_net(net)
        spikes = net.lif1(net.fc1((images.flatten(1) * 4).unsqueeze(0).repeat(T, 1, 1)))
    assert features.measure == "spike count" and features.layers["lif1"].max() > 0
    np.testing.assert_array_equal(features.layers["lif1"], spikes.sum(0).numpy())
    from bioplaus_analysis.features import spike_raster
    from bioplaus_analysis.foreign import Foreign
    trains = spike_raster(Foreign(net, ["fc1", "lif1"]), images[0])  # what the raster figure draws
    assert list(trains) == ["lif1"]  # fc1 does not spike
    np.testing.assert_array_equal(trains["lif1"], spikes[:, 0].bool().numpy())


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "dkp"])
def test_an_update_function_gives_the_batched_snr_and_the_built_in_cosines(rule):
    from bioplaus_analysis import bp_cosines, gradient_snr
    from trainers import rule_update
    model = build_model("cnn", rule, (1, 8, 8), 10, seed=0, channels="3,4", fc_width=8).double()
    images, labels = _digits(12)
    images = images.double()
    own = gradient_snr(model, images, labels, update=lambda m, x, y: rule_update(m, x, y))
    batched = gradient_snr(model, images, labels)
    assert own.keys() == batched.keys() and all(own[k] == pytest.approx(batched[k], rel=1e-9) for k in own)
    cosines = bp_cosines(model, images, labels, batch_size=6, update=lambda m, x, y: rule_update(m, x, y))
    built_in = bp_cosines(model, images, labels, batch_size=6)
    assert all(cosines[k]["mean"] == pytest.approx(built_in[k]["mean"], abs=1e-12) for k in built_in)


def test_an_update_function_on_any_module_is_compared_per_layer():
    from bioplaus_analysis import bp_cosines, gradient_snr
    from trainers import bp_gradient
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)).double()
    images, labels = _digits(12)
    images = images.double()
    halved = lambda m, x, y: {k: v if k.startswith("3.") else -v for k, v in bp_gradient(m, x, y).items()}  # noqa: E731
    cosines = bp_cosines(net, images, labels, batch_size=6, update=halved)
    assert cosines["3"]["mean"] == pytest.approx(1.0) and cosines["1"]["mean"] == pytest.approx(-1.0)
    snr = gradient_snr(net, images, labels, update=halved)
    assert set(snr) == {"1", "3"} and snr["1"] == pytest.approx(gradient_snr(net, images, labels,
                                                                            update=bp_gradient)["1"])


def test_a_run_whose_model_pt_holds_other_weights_is_refused(tmp_path):
    from trainers import RunDirError, TrainConfig, load_run, train
    run = train(TrainConfig(model="mlp", rule="bp", dataset="digits", epochs=1, model_options={"hidden": "8"},
                            probes_per_class=0), tmp_path / "run", progress=False)
    state = torch.load(run / "model.pt", weights_only=True)
    state["model"]["blocks.out.0.weight"] = torch.randn_like(state["model"]["blocks.out.0.weight"])  # swapped
    torch.save(state, run / "model.pt")
    with pytest.raises(RunDirError, match="model.pt holds weights its run did not train"):
        load_run(run)


def test_networks_analysed_in_memory_give_the_files_and_the_figures_their_data_supports(tmp_path, capsys):
    from collections import OrderedDict
    from bioplaus_analysis import analyze_models, read_results
    from bioplaus_analysis.commands.cli import main
    from trainers import wrap
    images, labels = load_dataset("digits", "test")
    models = {}
    for rule in ("bp", "fa"):
        torch.manual_seed(0)
        net = nn.Sequential(OrderedDict(fc1=nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU()),
                                        out=nn.Linear(16, 10)))
        models[f"mine-{rule}"] = wrap(net, ["fc1", "out"], (1, 8, 8), rule)
    out = analyze_models(models, images, labels, tmp_path / "an", per_class=3, eval_per_class=4, eps=[0, 0.1],
                         pgd_steps=2, embeddings=["pca"], progress=False)
    results, arrays = read_results(out)
    run = results["runs"]["mine-fa"]
    assert run["path"] is None and run["source"].startswith("in memory (weights sha256 ") and run["rule"] == "fa"
    assert results["provenance"]["sample"]["split"] == "given images" and (out / "robustness.csv").is_file()
    index = torch.as_tensor(arrays["eval/index"])  # 4 of the given images per class
    assert len(index) == 40 and results["accuracy"]["mine-bp"] == accuracy(models["mine-bp"], images[index], labels[index])
    assert main(["figures", str(out), "--out", str(tmp_path / "figs")]) == 0
    printed = capsys.readouterr().out
    missing = printed.splitlines()[-1].removeprefix("not drawn, the analysis holds no data for them: ").split(", ")
    assert {"training-curves", "main-learning", "cosine-to-bp", "weight-alignment", "spike-raster"} <= set(missing)
    assert (tmp_path / "figs" / "rdm-grid.png").is_file() and not (tmp_path / "figs" / "training-curves.png").exists()
    with pytest.raises(ConfigError, match="Linear is not a bioplaus network: name the layers to record"):
        analyze_models({"plain": nn.Linear(64, 10)}, images, labels, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def _snntorch_net():
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):  # the snnTorch tutorial's step-by-step loop, returning (spikes, membrane)
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc1, self.lif1 = nn.Linear(64, 20), snn.Leaky(beta=0.8)
            self.fc2, self.lif2 = nn.Linear(20, 10), snn.Leaky(beta=0.8)

        def forward(self, x):
            mem1, mem2, spikes = self.lif1.init_leaky(), self.lif2.init_leaky(), []
            current = self.fc1(x.flatten(1) * 4)
            for _ in range(T):
                spk1, mem1 = self.lif1(current, mem1)
                spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                spikes.append(spk2)
            return torch.stack(spikes), mem2
    return Net()


def test_an_snntorch_network_analysed_in_memory_gets_its_spike_figures(tmp_path):
    from bioplaus_analysis import analyze_models, read_results
    from bioplaus_analysis.figures import applicable, draw_figures
    net, (images, labels) = _snntorch_net(), load_dataset("digits", "test")
    common = dict(layers=["fc1", "lif1"], output="spike_counts", per_class=3, eval_per_class=3, eps=[0, 0.1],
                  pgd_steps=2, embeddings=["pca"], progress=False)
    out = analyze_models({"snn-mine": net}, images, labels, tmp_path / "an", rules={"snn-mine": "bp"},
                         trust_autograd=True, **common)
    results, arrays = read_results(out)
    assert results["runs"]["snn-mine"]["model"] == "Net" and results["runs"]["snn-mine"]["rule"] == "bp"
    assert results["layers"]["snn-mine"] == ["fc1", "lif1", "out"] and results["snr"] == {}
    first = torch.as_tensor(arrays["sample/index"])[0]
    with torch.no_grad():  # lif1's spike train for the raster's image, by hand
        mem, trains, current = net.lif1.init_leaky(), [], net.fc1(images[first:first + 1].flatten(1) * 4)
        for _ in range(T):
            spk, mem = net.lif1(current, mem)
            trains.append(spk[0])
    np.testing.assert_array_equal(arrays["raster/snn-mine/lif1"], torch.stack(trains).bool().numpy())
    assert results["firing"]["snn-mine"]["time_steps"] == T and "raster/snn-mine/fc1" not in arrays
    assert set(results["robustness"]["curves"]["snn-mine"]["fgsm"]) == {"true"}  # no rule: no feedback path
    assert {"firing-rates", "spike-raster", "robustness"} <= set(applicable(out))
    assert not {"gradient-snr", "bias-variance", "training-curves"} & set(applicable(out))
    drawn = draw_figures(out, tmp_path / "figs", names=["firing-rates", "spike-raster"], progress=False)
    assert all(path.is_file() for paths in drawn.values() for path in paths)
    untrusted = analyze_models({"snn-mine": net}, images, labels, tmp_path / "an2", **common)
    skipped = read_results(untrusted)[0]["robustness"]["skipped"]["snn-mine"]
    assert "custom autograd.Function" in skipped  # snnTorch's spike: attacked only once its gradient is confirmed

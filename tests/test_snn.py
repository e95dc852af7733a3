"""Spiking networks: DFA-family updates against a hand derivation, recording, learning, run files."""

import json

import pytest
import torch
import torch.nn.functional as F

from bioplaus_analysis.commands.cli import main
from trainers import ConfigError, TrainConfig, bp_gradient, build_model, evaluate, load_dataset, load_run, \
    rule_update, train
from trainers.rules import get_rule
from trainers.store.runfiles import read_metrics

N, K, T = 6, 3, 4


def _snn(rule, **options):
    options = dict(dict(hidden="5", time_steps=T, neuron="fast", init_gain=8.0), **options)
    return build_model("snn", rule, (1, 2, 2), K, seed=3, **options).double()


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, 1, 2, 2, generator=g, dtype=torch.float64), torch.arange(N) % K


def _hand_lif(current, neuron):
    """Per-step spikes, pre-reset membrane and non-refractory flags [T, N, D] by explicit stepping."""
    v = torch.zeros_like(current[0])
    countdown = torch.zeros_like(v)
    spikes, membrane, active = [], [], []
    for t in range(current.shape[0]):
        a = (countdown <= 0).double()
        v = ((1 - neuron.dt / neuron.tau) * v + neuron.dt / neuron.tau * current[t]) * a
        s = (v >= neuron.threshold).double()
        spikes.append(s), membrane.append(v), active.append(a)
        v = v * (1 - s)
        countdown = (countdown - 1).clamp_min(0) + neuron.refractory_steps * s
    return torch.stack(spikes), torch.stack(membrane), torch.stack(active)


@pytest.mark.parametrize("rule", ["dfa", "adfa", "dkp"])
def test_dfa_family_updates_match_a_hand_derivation(rule, device):
    """δ_t = (e Bᵀ) ⊙ d_t with d_t = (dt/τ)·f′(v_t − θ)·active_t (DFA, DKP) or g(I − θ) (aDFA);
    ΔW1 = Σ_t δ_tᵀ x for the direct-encoded input; the readout gets the BP gradient eᵀ rate."""
    model = _snn(rule, surrogate="arctan:2", g="fast_sigmoid:3").to(device)
    neuron, x, labels = model.neuron, *(t.to(device) for t in _batch())
    W1, b1 = model.blocks.fc1[1].weight, model.blocks.fc1[1].bias
    W2, b2 = model.blocks.out[0].weight, model.blocks.out[0].bias
    current = x.flatten(1) @ W1.T + b1  # constant over time
    spikes, membrane, active = _hand_lif(current.expand(T, N, 5), neuron)
    assert 0 < spikes.mean() < 1
    rate = spikes.mean(0)
    logits = rate @ W2.T + b2
    e = (torch.softmax(logits, 1) - F.one_hot(labels, K).double()) / N
    projected = e @ model.feedback["fc1"].T
    if rule == "adfa":
        local = (1 / (1 + 3 * (current - neuron.threshold).abs()) ** 2).expand(T, N, 5)
    else:
        local = neuron.gain / (1 + (torch.pi * (membrane - neuron.threshold)) ** 2) * active
    delta = projected * local  # [T, N, D]
    got = rule_update(model, x, labels)
    expected = {"blocks.fc1.1.weight": delta.sum(0).T @ x.flatten(1), "blocks.fc1.1.bias": delta.sum((0, 1)),
                "blocks.out.0.weight": e.T @ rate, "blocks.out.0.bias": e.sum(0)}
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value.detach(), rtol=1e-10, atol=1e-13, msg=name)
    if rule == "dkp":
        torch.testing.assert_close(got["feedback.fc1"], (e.T @ rate).T.detach(), rtol=1e-10, atol=1e-13)


def test_dfa_with_spiking_input_sums_the_update_over_time_steps():
    """Second block, fed by the first block's spikes: ΔW2 = Σ_t δ_tᵀ s1_t."""
    model = _snn("dfa", hidden="6,4", encoding="poisson")
    neuron, (x, labels) = model.neuron, _batch()
    torch.manual_seed(0)  # rule_update draws the Poisson spikes with seed 0
    inputs = (torch.rand((T, *x.shape), dtype=x.dtype) < x).double().flatten(2)
    layers = [model.blocks.fc1[1], model.blocks.fc2[0], model.blocks.out[0]]
    s1, _, _ = _hand_lif(inputs @ layers[0].weight.T + layers[0].bias, neuron)
    s2, v2, a2 = _hand_lif(s1 @ layers[1].weight.T + layers[1].bias, neuron)
    logits = s2.mean(0) @ layers[2].weight.T + layers[2].bias
    e = (torch.softmax(logits, 1) - F.one_hot(labels, K).double()) / N
    delta2 = (e @ model.feedback["fc2"].T) * model.surrogate_derivative(v2 - neuron.threshold) * neuron.gain * a2
    got = rule_update(model, x, labels)
    torch.testing.assert_close(got["blocks.fc2.0.weight"], torch.einsum("tnd,tne->de", delta2, s1).detach(),
                               rtol=1e-10, atol=1e-13)
    assert s1.sum() > 0 and s2.sum() > 0


def test_one_step_dfa_with_the_transposed_readout_equals_bp():
    """With T = 1 there is no recurrence, so DFA with B = W_outᵀ is exactly surrogate-gradient BP."""
    model = _snn("dfa", time_steps=1)
    x, labels = _batch()
    with torch.no_grad():
        model.feedback.fc1.copy_(model.blocks.out[0].weight.T)
    dfa, bp = rule_update(model, x, labels), bp_gradient(model, x, labels)
    assert bp["blocks.fc1.1.weight"].abs().sum() > 0
    for name in bp:
        torch.testing.assert_close(dfa[name], bp[name], rtol=1e-10, atol=1e-14, msg=name)


@pytest.mark.parametrize("neuron", ["fast", "zhang2024"])  # zhang2024 has refractory steps
@pytest.mark.parametrize("constant", [True, False])
def test_spike_derivatives_taken_step_by_step_equal_those_of_the_whole_trace(neuron, constant):
    """The DFA family's ∂s_t/∂I_t, computed inside the scan one step at a time, is bit for bit the
    formula applied to the stored membrane trace afterwards."""
    from trainers.snn.neurons import get_neuron, lif_scan
    from trainers.snn.scan import local_derivative
    lif, derivative = get_neuron(neuron), _snn("dfa").surrogate_derivative
    g = torch.Generator().manual_seed(0)
    current = torch.rand((5, 6) if constant else (7, 5, 6), generator=g, dtype=torch.float64) * 40
    steps = 7 if constant else None
    scan = lif_scan(current, lif, steps, derivative, membrane=True, local=True)
    assert scan.spikes.sum() > 0 and (scan.active is None) == (lif.refractory_steps == 0)
    assert torch.equal(scan.local, local_derivative(scan.membrane, lif, derivative, scan.active))
    alone = lif_scan(current, lif, steps, derivative, local=True)  # no membrane trace kept
    assert alone.membrane is None and torch.equal(alone.local, scan.local)


@pytest.mark.parametrize("encoding", ["poisson", "direct"])
@pytest.mark.parametrize("rule", ["dfa", "adfa", "dkp"])
def test_the_linear_drive_gives_the_update_of_the_pass_through_the_layer(rule, encoding):
    """A linear block drives its update with ⟨W, DᵀX⟩ + ⟨b, ΣD⟩ (one product over all steps; with direct
    encoding the first block's input is the image itself); a layer with a forward hook is called instead, as
    before: both give the same update."""
    model = build_model("snn", rule, (1, 8, 8), 10, seed=0, hidden="24,16", time_steps=6, encoding=encoding)
    x, labels = load_dataset("digits", "train")
    fast = rule_update(model, x[:32], labels[:32])
    handles = [block[-1].register_forward_hook(lambda *args: None) for block in model.blocks.values()]
    try:
        through_layers = rule_update(model, x[:32], labels[:32])
    finally:
        for handle in handles:
            handle.remove()
    assert fast["blocks.fc2.0.weight"].abs().sum() > 0 and fast["blocks.fc1.1.weight"].abs().sum() > 0
    for name, value in through_layers.items():
        torch.testing.assert_close(fast[name], value, rtol=1e-6, atol=1e-9, msg=name)


def test_dfa_keeps_no_graph_across_blocks_or_time():
    """Autograd saves only what each block's own weight update needs, and the readout's input."""
    model = build_model("snn", "dfa", (1, 8, 8), 10, hidden="40,30", time_steps=20, encoding="poisson")
    x, labels = load_dataset("digits", "train")
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.shape) or t, lambda t: t):
        objective = get_rule("dfa").objective(model, x[:16], labels[:16])
    # Per block: the product DᵀX [D, D_in] that is its weight's gradient (the ⟨W, DᵀX⟩ surrogate, from one
    # product over all steps), and the readout's input; nothing per time step or image is kept for autograd.
    assert sorted(tuple(s) for s in saved if s.numel() > 16 * 30) == [(30, 40), (40, 64)]
    assert not [s for s in saved if 20 in s] and len(saved) < 15
    objective.surrogate.backward()


def test_record_gives_counts_rates_membrane_and_spikes():
    model = build_model("snn", "bp", (1, 8, 8), 10, hidden="30,20", time_steps=12).eval()
    x, _ = load_dataset("digits", "test")
    record = model.record(x[:10], membrane=True, spikes=True)
    assert list(record.counts) == ["fc1", "fc2"]
    assert record.counts["fc1"].dtype == torch.int16 and record.counts["fc1"].shape == (10, 30)
    assert record.spikes["fc2"].dtype == torch.bool and record.spikes["fc2"].shape == (12, 10, 20)
    assert torch.equal(record.spikes["fc1"].sum(0).to(torch.int16), record.counts["fc1"])
    assert record.membrane["fc1"].shape == (12, 10, 30)
    assert (record.membrane["fc1"] < model.neuron.threshold).all() or record.counts["fc1"].sum() > 0
    rates = record.mean_rates()
    assert 0.01 < rates["fc1"] < 0.5  # the default init makes neurons fire; a silent layer passes no error
    assert torch.equal(record.logits, model(x[:10]))


def test_a_silent_layer_gets_no_dfa_update():
    """Why a DFA-SNN can sit at chance: with too small weights nothing fires, f′(v − θ) ≈ 0 and the
    readout sees zero rates. The default init_gain guards against it (see the test above)."""
    model = build_model("snn", "dfa", (1, 8, 8), 10, hidden="30", init_gain=0.2, surrogate="fast_sigmoid:50")
    x, labels = load_dataset("digits", "train")
    update = rule_update(model.train(), x[:64], labels[:64])
    assert model.eval().record(x[:64]).counts["fc1"].sum() == 0
    assert update["blocks.out.0.weight"].abs().max() == 0
    logits = model(x[:64])
    assert torch.equal(logits, logits[:1].expand(64, -1))  # every image gets the same prediction: chance


def test_eval_forward_is_deterministic_and_bptt_matches_it():
    model = build_model("snn", "bp", (1, 8, 8), 10, hidden="20", encoding="poisson", neuron="zhang2024").eval()
    x, _ = load_dataset("digits", "test")
    with torch.no_grad():
        a, b = model(x[:8]), model(x[:8])
    assert torch.equal(a, b)  # eval mode: a fixed Poisson seed
    assert torch.equal(model(x[:8]).detach(), a)  # the BPTT path computes the same values


@pytest.mark.parametrize("rule", ["bp", "dfa", "adfa", "dkp"])
def test_every_snn_rule_learns_digits(tmp_path, rule):
    config = TrainConfig(model="snn", rule=rule, dataset="digits", epochs=4, model_options={"hidden": "200"})
    rows = read_metrics(train(config, tmp_path / rule, progress=False))
    assert rows[-1]["test_acc"] > 0.85, rows[-1]  # chance is 0.1
    assert rows[-1]["cos_bp/out"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("rule,above", [("bp", 0.5), ("dfa", 0.2)])
def test_conv_snn_learns_digits_with_poisson_input(tmp_path, rule, above):
    config = TrainConfig(model="csnn", rule=rule, dataset="digits", epochs=3,
                         model_options={"time_steps": 8, "encoding": "poisson", "channels": "8,8", "fc_width": 32})
    rows = read_metrics(train(config, tmp_path / "csnn", progress=False))
    assert rows[-1]["test_acc"] > above, rows[-1]  # chance is 0.1; DFA through conv layers learns slowly
    assert set(k for k in rows[-1] if k.startswith("cos_bp/")) == {"cos_bp/conv1", "cos_bp/conv2", "cos_bp/fc1",
                                                                   "cos_bp/out"}


def test_snn_run_reloads_and_repeats_bit_for_bit(tmp_path, device):
    config = TrainConfig(model="snn", rule="adfa", dataset="digits", epochs=2, device=device.type,
                         model_options={"hidden": "50", "encoding": "poisson", "time_steps": 6})
    first = train(config, tmp_path / "a", progress=False)
    second = train(config, tmp_path / "b", progress=False)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(read_metrics(first)) == strip(read_metrics(second))
    stored = json.loads((first / "config.json").read_text())
    assert stored["model_options"] == {"hidden": "50", "encoding": "poisson", "time_steps": 6, "neuron": "fast",
                                       "surrogate": "fast_sigmoid", "g": "lif_rate", "init_gain": 6.0}
    assert stored["optimizer"] == "adam" and stored["lr"] == 1e-2
    model, _ = load_run(first, device)
    x, y = (t.to(device) for t in load_dataset("digits", "test"))
    assert evaluate(model, x, y) == (read_metrics(first)[-1]["test_loss"], read_metrics(first)[-1]["test_acc"])


def test_cli_trains_an_snn_and_rejects_bad_spiking_options(tmp_path, capsys):
    assert main(["train", "--model", "snn", "--rule", "adfa", "--dataset", "digits", "--epochs", "1",
                 "--time-steps", "5", "--encoding", "latency", "--hidden", "40", "--g", "arctan:1",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model_options"]["g"] == "arctan:1"
    for argv, message in [
        (["--model", "snn", "--time-steps", "-3"], "--time-steps must be a positive integer, got -3"),
        (["--model", "snn", "--encoding", "morse"], "unknown encoding 'morse'; choose one of: direct, latency"),
        (["--model", "snn", "--neuron", "hh"], "unknown neuron 'hh'; choose one of: fast, zhang2024"),
        (["--model", "snn", "--g", "cos"], "unknown g 'cos'; choose one of: arctan, fast_sigmoid, lif_rate"),
        (["--model", "snn", "--rule", "fa"], "rule 'fa' does not train model 'snn'; choose one of: adfa, bp"),
        (["--model", "cnn", "--rule", "adfa"], "rule 'adfa' does not train model 'cnn'"),
    ]:
        assert main(["train", "--dataset", "digits", "--out", str(tmp_path / "bad")] + argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "bad").exists()


def test_spiking_options_are_checked_in_python():
    with pytest.raises(ConfigError, match=r"model 'snn' takes options \['encoding', 'g', 'hidden'"):
        build_model("snn", "bp", (1, 8, 8), 10, channels="4,4")


def test_a_hidden_layer_that_never_fires_is_a_one_line_warning(tmp_path, capsys):
    # latency coding with the slow zhang2024 neuron: one input spike per pixel never lifts v to θ
    argv = ["train", "--dataset", "digits", "--model", "snn", "--rule", "adfa", "--hidden", "16", "--time-steps",
            "6", "--encoding", "latency", "--neuron", "zhang2024", "--epochs", "1", "--quiet", "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bioplaus train: warning: hidden layer fc1 fired no spike on ")
    assert "after epoch 1" in err and "Traceback" not in err


def test_a_run_that_cannot_fit_in_memory_is_refused_before_it_starts(tmp_path, capsys):
    from trainers.loop.memory import available_bytes, spiking_lower_bound
    model = build_model("snn", "bp", (1, 8, 8), 10, hidden="1000", time_steps=100_000)
    assert spiking_lower_bound(model, 32) == 2 * 100_000 * 1000 * 1000 * 4  # currents and spikes, float32
    free = available_bytes(torch.device("cpu"))
    assert free is None or free > 0
    run = tmp_path / "r"
    code = main(["train", "--dataset", "digits", "--model", "snn", "--time-steps", "100000", "--quiet", "--out", str(run)])
    err = capsys.readouterr().err
    if free is not None:
        assert code == 2 and err.count("\n") == 1 and "needs at least 745.1 GiB" in err and "lower --time-steps" in err
        assert not run.exists()  # refused before anything is written, and no empty folder left


@pytest.mark.parametrize("neuron", ["fast", "zhang2024"])  # zhang2024 has refractory steps
def test_the_rate_ceiling_is_what_a_neuron_driven_hard_reaches(neuron):
    """The analysis marks ⌈T / (1 + refractory steps)⌉ / T as the highest rate: a current far above threshold
    makes every neuron fire exactly that often."""
    from bioplaus_analysis.analysis import rate_ceiling
    from trainers.snn.neurons import get_neuron, lif_scan
    model = build_model("snn", "bp", (1, 8, 8), 10, seed=0, hidden="12", time_steps=25, neuron=neuron)
    scan = lif_scan(torch.full((3, 12), 1e4), get_neuron(neuron), 25)
    assert torch.all(scan.spikes.mean(0) == rate_ceiling(model, 25))
    assert rate_ceiling(model, 25) == (13 / 25 if neuron == "fast" else 5 / 25)  # 1 or 4 refractory steps

"""What learning costs: the operations of inference per layer counted by hand, the multiply-accumulates of a
training step derived by hand for BP, DFA and the readout control, the peak memory of a step with a known
answer, and cost.csv and the cost figure from a real analysis."""

import copy

import pandas as pd
import pytest
import torch
from torch import nn

from bioplaus_analysis import analyze, read_results
from bioplaus_analysis.cost import _profiled_peak, _Step, cost_section, layer_operations, spike_counts
from bioplaus_analysis.figures import DRAW, applicable
from bioplaus_analysis.figures.style import read_captions
from bioplaus_analysis.foreign import Foreign
from trainers import build_model, load_dataset


def _conv_connections_by_hand(conv: nn.Conv2d, x: torch.Tensor) -> float:
    """Σ over every output position, kernel tap and input channel of the input it reads (0 off the edge)."""
    (sh, sw), (ph, pw), (kh, kw) = conv.stride, conv.padding, conv.kernel_size
    _, channels, height, width = x.shape
    out_h, out_w = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    total = 0.0
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh - ph + a, j * sw - pw + b
                    if 0 <= r < height and 0 <= c < width:
                        total += float(x[:, :, r, c].sum())
    return total * conv.out_channels


def test_spikes_cost_accumulates_per_connection_and_analog_inputs_multiply_accumulates():
    conv, linear = nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.Linear(3 * 3 * 3, 4)
    network = nn.Sequential(conv, nn.Flatten(), linear)
    spikes = (torch.rand(2, 2, 5, 5, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    counted = layer_operations(network, spikes)
    assert counted["0"]["accumulates"] == pytest.approx(_conv_connections_by_hand(conv, spikes) / 2)
    assert counted["0"]["multiply_accumulates"] == 0
    # the conv's output is analog: every one of linear's 27 × 4 connections is a multiply-accumulate, per image
    assert counted["2"] == {"accumulates": 0.0, "multiply_accumulates": 27 * 4}
    analog = layer_operations(network, spikes * 0.5)
    assert analog["0"]["multiply_accumulates"] == pytest.approx(_conv_connections_by_hand(conv, torch.ones(1, 2, 5, 5)))


def test_firing_rates_over_t_steps_count_as_their_spikes():
    assert torch.equal(spike_counts(torch.tensor([0.0, 0.25, 1.0, 0.75]), 4), torch.tensor([0.0, 1, 4, 3]))
    assert torch.equal(spike_counts(torch.tensor([0.0, 1.0]), None), torch.tensor([0.0, 1.0]))  # binary as is
    assert spike_counts(torch.tensor([0.3, 0.5]), 4) is None and spike_counts(torch.tensor([-0.25]), 4) is None


def test_an_snns_synaptic_operations_are_its_spikes_times_their_fan_out():
    model = build_model("snn", "bp", (1, 8, 8), 10, seed=0, hidden="24,16", time_steps=6).eval()
    x, _ = load_dataset("digits", "test")
    counted = layer_operations(model, x[:20])
    spikes = model.record(x[:20]).counts
    assert spikes["fc1"].sum() > 0 and spikes["fc2"].sum() > 0
    assert counted["fc2"]["accumulates"] == pytest.approx(float(spikes["fc1"].sum()) * 16 / 20)
    assert counted["out"]["accumulates"] == pytest.approx(float(spikes["fc2"].sum()) * 10 / 20)  # the readout of rates
    assert counted["fc1"] == {"accumulates": 0.0, "multiply_accumulates": 64 * 24}  # direct input: once per image


MLP = (64, 32, 16, 10)  # digits' 8×8 pixels, two hidden layers, ten classes


def _step_macs(rule: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    model = build_model("mlp", rule, (1, 8, 8), 10, seed=0, hidden="32,16")
    x, y = load_dataset("digits", "train")
    config = {"model": "mlp", "rule": rule, "dataset": "digits", "batch_size": 8, "optimizer": "adam", "lr": 1e-3,
              "epochs": 1, "feedback_lr": 1e-3}
    step = _Step(model, config, x[:8], y[:8])
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 2 / 8


def test_the_multiply_accumulates_of_a_step_by_hand():
    products = [a * b for a, b in zip(MLP[:-1], MLP[1:])]  # 64·32, 32·16, 16·10
    forward = sum(products)
    # BP: forward, each weight's gradient (δᵀx, as large as its forward product) and δ sent down through every
    # layer but the first
    assert _step_macs("bp") == 2 * forward + products[1] + products[2]
    # DFA: forward, each weight's gradient, and the error projected to each hidden layer by its B (10 × width)
    assert _step_macs("dfa") == 2 * forward + 10 * (32 + 16)
    assert _step_macs("readout") == forward + products[2]  # only the output layer's gradient


def test_the_peak_memory_of_a_step_is_what_it_allocates_at_once():
    class Allocates:
        def __call__(self):  # two 1 MiB tensors live at once, then a third after one is freed
            a = torch.ones(2**18)
            b = a + 1
            del a
            return (b * 2).sum()
    peak = _profiled_peak(Allocates())
    assert 2 * 2**20 <= peak <= 2 * 2**20 + 4096


class _Runs:
    def __init__(self, models: dict, configs: dict):
        self.models, self.configs = models, configs


def test_the_cost_section_changes_neither_the_networks_nor_the_random_state():
    x, y = load_dataset("digits", "train")
    models = {rule: build_model("cnn", rule, (1, 8, 8), 10, seed=0).eval() for rule in ("bp", "dfa")}
    models["elsewhere"] = Foreign(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), layers=["1"])
    before = {name: copy.deepcopy(m.state_dict()) for name, m in models.items()}
    configs = {rule: {"model": "cnn", "rule": rule, "dataset": "digits", "batch_size": 16, "epochs": 1,
                      "optimizer": "adam", "lr": 1e-3} for rule in ("bp", "dfa")}
    configs["elsewhere"] = {"model": "Sequential", "rule": "elsewhere"}
    rng = torch.get_rng_state()
    section = cost_section(_Runs(models, configs), x[:20], y[:20], {}, torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), rng)
    for name, model in models.items():
        assert all(torch.equal(v, before[name][k]) for k, v in model.state_dict().items()), name
    assert sorted(section["step"]) == ["bp", "dfa"]  # a network trained elsewhere has no step to time
    assert section["layers"]["elsewhere"] == {"1": {"accumulates": 0.0, "multiply_accumulates": 640.0}}
    assert all(v["ms"] > 0 and v["peak_bytes"] > 0 and v["batch_size"] == 16 for v in section["step"].values())


@pytest.fixture(scope="module")
def analysed(digits_runs, tmp_path_factory):
    runs = [digits_runs[name] for name in ("cnn-bp", "cnn-dfa", "snn-dfa")]
    return analyze(runs, tmp_path_factory.mktemp("cost") / "a", per_class=2, eval_per_class=3, eps=[0.0, 0.1],
                   pgd_steps=1, embeddings=[], progress=False)


def test_cost_csv_holds_every_runs_step_and_layers_relative_to_bp(analysed, tmp_path):
    results, _ = read_results(analysed)
    frame = pd.read_csv(analysed / "cost.csv")
    step = frame.query("phase == 'training step'").set_index(["run", "quantity"])
    assert step.loc[("cnn-dfa", "time (ms)"), "value"] == pytest.approx(results["cost"]["step"]["cnn-dfa"]["ms"])
    assert step.loc[("cnn-bp", "peak memory (MiB)"), "relative_to_bp"] == 1.0
    ratio = results["cost"]["step"]["cnn-dfa"]["macs_per_image"] / results["cost"]["step"]["cnn-bp"]["macs_per_image"]
    assert step.loc[("cnn-dfa", "multiply-accumulates per image"), "relative_to_bp"] == pytest.approx(ratio)
    assert ratio < 1  # DFA sends no error down through the convolutions
    assert pd.isna(step.loc[("snn-dfa", "time (ms)"), "relative_to_bp"])  # no BP-SNN run in this analysis
    spiking = frame.query("run == 'snn-dfa' and phase == 'inference'").set_index(["layer", "quantity"])["value"]
    assert spiking[("out", "accumulates per image")] > 0
    assert spiking[("fc1", "firing rate (spikes per neuron and step)")] == pytest.approx(
        results["firing"]["snn-dfa"]["layers"]["fc1"]["mean"])
    assert "cost" in applicable(analysed)
    paths = DRAW["cost"](analysed, tmp_path)
    assert [p.name for p in paths] == ["cost.pdf", "cost.png"]
    results["runs"] = {run: info for run, info in results["runs"].items() if run.startswith("cnn-")}  # every run has BP
    DRAW["cost"]((results, read_results(analysed)[1]), tmp_path / "cnn")
    bp = results["cost"]["step"]["cnn-bp"]  # the panels are ratios: the caption gives what they are ratios of
    assert (f"BP's own step: {bp['ms']:.3g} ms, {bp['peak_bytes'] / 2 ** 20:.3g} MiB, "
            f"{bp['macs_per_image'] / 1e3:.4g} thousand MACs per image") in read_captions(tmp_path / "cnn")["cost"]
    caption = read_captions(tmp_path / "cnn")["cost"]  # measured on the CPU: that measure alone is named
    assert results["cost"]["device"].startswith("CPU") and "profiler" in caption and "max_memory_allocated" not in caption
    results["cost"]["device"] = "NVIDIA H100 80GB HBM3"
    DRAW["cost"]((results, read_results(analysed)[1]), tmp_path / "gpu")
    caption = read_captions(tmp_path / "gpu")["cost"]
    assert "torch.cuda.max_memory_allocated" in caption and "profiler" not in caption


def test_a_training_steps_spikes_cost_what_they_cost_in_inference():
    """The forward of a training step drives the same spikes through the same weights whatever the rule: BPTT's
    and DFA's first steps count the accumulates of inference on that batch (direct input: no sampling)."""
    from bioplaus_analysis.cost import counting_operations
    x, y = load_dataset("digits", "train")
    model = build_model("snn", "bp", (1, 8, 8), 10, seed=0, hidden="24,16", time_steps=6)
    inference = layer_operations(copy.deepcopy(model).eval(), x[:16])
    per_step = {}
    for rule in ("bp", "dfa"):
        network = build_model("snn", rule, (1, 8, 8), 10, seed=0, hidden="24,16", time_steps=6)
        config = {"model": "snn", "rule": rule, "dataset": "digits", "batch_size": 16, "epochs": 1}
        step = _Step(network, config, x[:16], y[:16])
        with counting_operations(step.model) as counts:
            step()
        per_step[rule] = {layer: c["accumulates"] / 16 for layer, c in counts.items()}
    expected = {layer: c["accumulates"] for layer, c in inference.items()}
    assert per_step["bp"] == pytest.approx(expected) and per_step["dfa"] == pytest.approx(expected)
    assert expected["fc2"] > 0 and expected["out"] > 0


def test_a_log_axis_over_decades_is_labelled_in_plain_numbers():
    """24 to 784 thousand: 100 at the major tick, and 20, 50, 200, 500 between, not 2 × 10^1 or 10^2."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.cost import _plain_log_ticks
    fig, ax = plt.subplots()
    ax.set_yscale("log")
    ax.set_ylim(20, 800)
    _plain_log_ticks(ax.yaxis, 784 / 24)
    fig.canvas.draw()
    labels = {t.get_text() for t in ax.get_yticklabels(minor=False) + ax.get_yticklabels(minor=True)
              if 20 <= t.get_position()[1] <= 800} - {""}  # the ticks in view
    plt.close(fig)
    assert labels == {"20", "50", "100", "200", "500"}

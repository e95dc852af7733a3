"""Figures render from analysis outputs alone: a small hand-built results.json + arrays.npz (two rules,
two seeds, a spiking model) drawn with the Agg backend into PDF and PNG; grouping and aggregation
checked against hand computations."""

import re

import numpy as np
import pytest

from bioplaus_analysis.choices import FIGURES
from bioplaus_analysis.figures import DRAW, applicable, draw_figures, load_analysis
from bioplaus_analysis.figures.robustness import _rule_matrix, other_seed_transfer, transfer_drop
from bioplaus_analysis.figures.style import (PAGE, curve_note, error_note, figure_style, letter_panels, mean_interval,
                                            new_figure, read_captions, save, wilson)
from bioplaus_analysis.results import rule_color
from trainers import RULES
from bioplaus_analysis.results import read_results, write_results
from trainers.errors import ConfigError

LAYERS = ["fc1", "fc2", "out"]  # three layers: each per-rule path has five points
EPS = [0.0, 0.1, 0.2]


def _fixture_results(rules=("dfa", "bp"), seeds=(1, 0), spiking=True, n=30, classes=3, steps=8, neurons=12):
    """(results, arrays) shaped like `bioplaus analyze` output, from random numbers with a fixed seed."""
    rng = np.random.default_rng(0)
    runs = [f"snn-{rule}-s{seed}" for rule in rules for seed in seeds]
    labels = np.repeat(np.arange(classes), n // classes)
    results = {"dataset": "digits", "runs": {}, "layers": {}, "snr": {}, "cosine": {}, "training": {}, "firing": {},
               "embeddings": {}, "accuracy": {}}
    arrays = {"sample/labels": labels, "sample/index": np.arange(n), "eval/index": np.arange(n),
              "rdm/input": rng.random((n, n)), "rdm/labels": (labels[:, None] != labels[None]).astype(float),
              "tsne/input": rng.normal(size=(n, 2))}
    for run in runs:
        _, rule, seed = run.split("-")
        results["runs"][run] = {"model": "snn", "rule": rule, "seed": int(seed[1:]), "cos_batch": 256}
        results["layers"][run] = LAYERS
        results["snr"][run] = {layer: float(rng.uniform(0.01, 0.1)) for layer in LAYERS}
        results["cosine"][run] = {"training": {"epoch": [1, 2], "fc1": list(rng.uniform(-1, 1, 2)),
                                               "fc2": list(rng.uniform(-1, 1, 2)),
                                               "out": [1.0, None if rule == "dfa" else 1.0]}}
        results["training"][run] = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "train_acc": [0.5, 0.8],
                                    "test_loss": [1.1, 0.6], "test_acc": [0.5, 0.7]}
        arrays[f"rdm/{run}"] = rng.random((len(LAYERS), n, n))
        for layer in LAYERS:
            arrays[f"tsne/{run}/{layer}"] = rng.normal(size=(n, 2))
        if spiking:
            results["firing"][run] = {"time_steps": steps, "unit": "spikes per time step",
                                      "layers": {"fc1": {"mean": 0.2, "silent_fraction": 0.1, "neurons": neurons}},
                                      "raster_image": {"test_index": 7, "label": 0}}
            arrays[f"rates/{run}/fc1"] = rng.random(neurons).astype(np.float32)
            arrays[f"raster/{run}/fc1"] = rng.random((steps, neurons)) < 0.3
        arrays[f"paths/{run}/coords"] = rng.normal(size=(len(LAYERS) + 2, 2))
    items = ["input", "labels", *[f"{run}/{layer}" for run in runs for layer in LAYERS]]
    arrays["paths/joint/coords"] = rng.normal(size=(len(items), 2))
    arrays["paths/joint/distances"] = np.abs(rng.normal(size=(len(items), len(items))))
    results["paths"] = {"comparison": "cosine", "joint": {"items": items, "stress": 0.1},
                        "per_run": {run: {"items": ["input", *LAYERS, "labels"], "stress": 0.05} for run in runs}}
    curves = {run: {attack: {mode: list(np.linspace(0.9, 0.1 if mode == "true" else 0.6, len(EPS)))
                             for mode in ("true", "feedback")} for attack in ("fgsm", "pgd")} for run in runs}
    results["robustness"] = {"eps": EPS, "attacks": ["fgsm", "pgd"], "modes": ["true", "feedback", "transfer"],
                             "pgd_steps": 3, "curves": curves, "transfer_order": runs, "skipped": {}}
    for attack in ("fgsm", "pgd"):
        arrays[f"transfer/{attack}"] = rng.random((len(EPS), len(runs), len(runs)))
    _fixture_dynamics(results, arrays, runs, rng)
    results["architecture"] = {run: {
        "blocks": [[layer, [[layer, [neurons if layer != "out" else classes, 64 if layer == "fc1" else neurons]]]]
                   for layer in LAYERS], "input": [1, 8, 8], "classes": classes,
        "feedback": {"kind": "transpose" if "-bp-" in run else "direct", "learned": False,
                     "matrices": {} if "-bp-" in run else {layer: [classes, neurons] for layer in LAYERS[:-1]}}}
        for run in runs}
    results["rsa"] = {"comparison": "corr",
                      "labels": {run: {layer: float(rng.uniform(0.1, 0.6)) for layer in LAYERS} for run in runs},
                      "untrained_labels": {run: {layer: 0.1 for layer in LAYERS} for run in runs},
                      "bp": {run: {layer: float(rng.uniform(0.3, 0.9)) for layer in LAYERS} for run in runs
                             if "-bp-" not in run},
                      "ceiling": {"snn": {layer: [0.8, 0.9] for layer in LAYERS}} if len(seeds) > 1 else {}}
    results["cost"] = {"step": {run: {"ms": float(rng.uniform(5, 10)), "peak_bytes": int(rng.integers(1, 9) * 2**20),
                                      "macs_per_image": 2e5, "batch_size": 32} for run in runs},
                       "layers": {run: {"fc1": {"accumulates": 0.0, "multiply_accumulates": 6400.0},
                                        "out": {"accumulates": 400.0 if spiking else 0.0,
                                                "multiply_accumulates": 0.0 if spiking else 120.0}} for run in runs},
                       "images": n, "device": "CPU, 1 threads", "warmup": 2, "timed": 5}
    results["provenance"] = {"sample": {"n": n, "per_class": n // classes}, "eval_sample": {"n": n, "per_class": 10},
                             "options": {"rdm_method": "correlation"}}
    return results, arrays


def _fixture_dynamics(results, arrays, runs, rng, epochs=(0, 1, 2)):
    """Cosine to BP after training, weight alignment and probe-RDM dynamics of `runs`, from random numbers."""
    results["alignment"], per_run = {}, {}
    for run in runs:
        bp, rule = run.replace(run.split("-")[1], "bp"), run.split("-")[1]
        results["cosine"][run]["analysis"] = {layer: {"mean": 1.0 if rule == "bp" or layer == "out" else
                                                      float(rng.uniform(0, 1)), "sem": 0.01, "n_batches": 2}
                                              for layer in LAYERS}
        results["alignment"][run] = {} if rule == "bp" else {"epoch": list(epochs),
                                                             "fc1": list(rng.uniform(40, 90, len(epochs)))}
        per_run[run] = {"epoch": list(epochs), "bp_run": bp,
                        "label_similarity": {"fc1": list(rng.uniform(0.5, 1, len(epochs)))},
                        "bp_similarity": {"fc1": [1.0] * len(epochs) if rule == "bp" else
                                          list(rng.uniform(0.8, 1, len(epochs)))}}
    items = ["labels", *[f"{run}/{epoch}" for run in runs for epoch in epochs]]
    arrays["dynamics/fc1/coords"] = rng.normal(size=(len(items), 2))
    results["dynamics"] = {"comparison": "cosine", "probes": 30, "split": "validation", "per_run": per_run,
                           "paths": {"fc1": {"items": items, "stress": 0.12}}}


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    write_results(folder, *_fixture_results())
    return folder


@pytest.fixture(scope="module")
def drawn_set(analysis_dir, tmp_path_factory):
    """Every figure of the fixture analysis, drawn once into one folder: (folder, {figure: [PDF, PNG]})."""
    folder = tmp_path_factory.mktemp("figures")
    return folder, draw_figures(analysis_dir, folder, "snn-", progress=False)


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_renders_to_pdf_and_png(drawn_set, name):
    from PIL import Image
    folder, drawn = drawn_set
    paths = drawn[name]
    assert [p.name for p in paths] == [f"snn-{name}.pdf", f"snn-{name}.png"]
    assert paths[0].read_bytes().startswith(b"%PDF")
    with Image.open(paths[1]) as image:
        assert image.format == "PNG" and min(image.size) > 300
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"snn-{n}.{ext}" for n in FIGURES for ext in (
        "pdf", "png")] + ["captions.json", "captions.md", "figures.json"])  # no temp files left
    width = float(re.search(rb"/MediaBox \[\s*0 0 ([\d.]+)", paths[0].read_bytes()).group(1)) / 72
    assert width == pytest.approx(3.3) or width == pytest.approx(6.9)  # one journal column or two
    caption = read_captions(folder)[f"snn-{name}"]
    assert f"snn-{name}" in (folder / "captions.md").read_text() and "seed" in caption and len(caption) > 80


def test_a_figure_drawn_twice_gives_the_same_pdf(analysis_dir, tmp_path):
    first = DRAW["robustness"](analysis_dir, tmp_path / "a")[0].read_bytes()
    assert DRAW["robustness"](analysis_dir, tmp_path / "b")[0].read_bytes() == first


def test_draw_figures_writes_every_applicable_figure_and_only_those(tmp_path, monkeypatch):
    results, arrays = _fixture_results(spiking=False)
    del arrays["tsne/input"]
    names = applicable((results, arrays))
    assert names == [n for n in FIGURES if n not in ("tsne-grid", "firing-rates", "spike-raster")]
    called = []
    for name in FIGURES:  # what draw_figures asks of each figure (the drawing itself: the tests above)
        monkeypatch.setitem(DRAW, name, lambda a, out, prefix, n=name: called.append(n) or [out / f"{prefix}{n}.pdf"])
    drawn = draw_figures((results, arrays), tmp_path, "cnn-")
    assert called == names and list(drawn) == names
    assert [p.name for pair in drawn.values() for p in pair] == [f"cnn-{n}.pdf" for n in names]


def test_figures_of_missing_data_raise_one_clear_error(tmp_path):
    results, arrays = _fixture_results(spiking=False)
    with pytest.raises(ConfigError, match="holds no spiking runs"):
        DRAW["spike-raster"]((results, arrays), tmp_path)
    with pytest.raises(ConfigError, match=r"transfer was measured at ε 0, 0.1, 0.2, not 0.15"):
        DRAW["transfer"]((results, arrays), tmp_path, eps=0.15)
    only_bp = _fixture_results(rules=("bp",))
    with pytest.raises(ConfigError, match="needs runs of a rule other than BP"):
        DRAW["cosine-to-bp"](only_bp, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_runs_group_by_rule_in_canonical_order_with_sorted_seeds(analysis_dir):
    groups = load_analysis(analysis_dir).groups()
    assert [(g.rule, g.runs, g.seeds, g.label) for g in groups] == [
        ("bp", ["snn-bp-s0", "snn-bp-s1"], [0, 1], "BPTT"), ("dfa", ["snn-dfa-s0", "snn-dfa-s1"], [0, 1], "DFA")]
    assert [g.color for g in groups] == [rule_color("bp"), rule_color("dfa")] == ["#000000", "#0072B2"]


def test_rule_colours_are_distinct_and_fixed():
    assert len({rule.color for rule in RULES.values()}) == len(RULES) == 10  # one colour per rule
    assert RULES["dfa"].color == "#0072B2"  # the same blue in every figure and every gallery


def test_mean_and_95_percent_t_interval_over_seeds_by_hand():
    mean, half = mean_interval([[1.0, 2.0], [3.0, 6.0]])
    assert mean.tolist() == [2.0, 4.0]
    t = 12.706204736  # Student t, 1 degree of freedom, 97.5 %
    assert half == pytest.approx([t * np.sqrt(2) / np.sqrt(2), t * np.sqrt(8) / np.sqrt(2)])  # t · sd / √n
    mean, half = mean_interval([[0.5, 0.25]])
    assert mean.tolist() == [0.5, 0.25] and half.tolist() == [0.0, 0.0]


def test_transfer_matrix_by_rule_by_hand(analysis_dir):
    groups = load_analysis(analysis_dir).groups()
    order = ["a0", "a1", "b0"]
    groups = [groups[0]._replace(runs=["a0", "a1"]), groups[1]._replace(runs=["b0"])]
    matrix = np.array([[0.1, 0.5, 0.7], [0.6, 0.2, 0.8], [0.9, 0.4, 0.3]])  # [source, target]
    by_rule = _rule_matrix(matrix, order, groups)
    # diagonal: white box of each run (mean over seeds); off-diagonal: mean over (source, target) pairs
    assert by_rule == pytest.approx(np.array([[0.15, 0.75], [0.65, 0.3]]))
    # the same rule's other seeds: a0 attacked from a1 and a1 from a0; one seed has no such cell
    own = other_seed_transfer(matrix, order, groups)
    assert own[0] == pytest.approx(0.55) and np.isnan(own[1])


def test_the_transfer_matrix_gains_the_own_rule_other_seed_column_with_several_seeds(analysis_dir):
    a = load_analysis(analysis_dir)
    drop, groups = transfer_drop(a, "fgsm", 0.1)
    assert drop.shape == (len(groups), len(groups) + 1)
    one_seed = _fixture_results(seeds=(0,))
    assert transfer_drop(load_analysis(one_seed), "fgsm", 0.1)[0].shape == (2, 2)


def test_figures_read_nothing_but_the_analysis_folder(analysis_dir, drawn_set):
    results, arrays = read_results(analysis_dir)
    assert "path" not in str(results["runs"])  # the fixture's runs have no folders: nothing else to read
    _, drawn = drawn_set  # drawn from that folder alone
    assert list(drawn) == list(FIGURES) and all(len(pair) == 2 for pair in drawn.values())


def test_the_figure_contract_refuses_other_widths_small_type_and_unlettered_panels(tmp_path):
    with figure_style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(5.0, 2.0))
        with pytest.raises(ConfigError, match="is 5.00 in wide; draw it 3.3 or 6.9 in wide"):
            save(fig, tmp_path, "wide", "a caption")
        fig, axes = new_figure(plt, PAGE, 2.0, 1, 2)
        with pytest.raises(ConfigError, match="has 2 panels but no panel letters"):
            save(fig, tmp_path, "unlettered", "a caption")
        letter_panels(axes)
        assert [t.get_text() for ax in axes[0] for t in ax.texts] == ["a", "b"]
        tiny = axes[0, 1].text(0.5, 0.5, "4 pt", fontsize=4)
        with pytest.raises(ConfigError, match="has text outside 6–8 pt: '4 pt' 4 pt"):
            save(fig, tmp_path, "tiny", "a caption")
        tiny.set_visible(False)
        save(fig, tmp_path, "lettered", "the caption")
    assert read_captions(tmp_path) == {"lettered": "the caption"}


def test_one_seed_draws_no_error_bars_and_says_so(tmp_path):
    one = _fixture_results(seeds=(0,))
    a = load_analysis(one)
    assert error_note(a.groups()) == "1 seed per rule, so no error bars"
    two = load_analysis(_fixture_results()).groups()
    assert error_note(two).startswith("2 seeds per rule; mean with 95 % t interval") and "dots are seeds" in error_note(two)
    assert curve_note(a.groups()) == error_note(a.groups())
    assert curve_note(two).endswith("t-interval band over seeds; thin lines are seeds")  # curves draw no dots
    from bioplaus_analysis.figures.learning import draw_training
    with figure_style() as plt:
        fig, ax = plt.subplots()
        draw_training(a, ax, "test_acc")
        assert not ax.collections  # no band: fill_between makes a PolyCollection
        plt.close(fig)
    DRAW["robustness"](one, tmp_path)
    DRAW["training-curves"](one, tmp_path)
    captions = read_captions(tmp_path)
    assert "1 seed per rule, so no error bars" in captions["training-curves"]
    assert "Lines: 1 seed per rule; shaded: 95 % Wilson interval over the images." in captions["robustness"]
    assert "mean over seeds" not in captions["robustness"] and "× seeds" not in captions["robustness"]


def test_the_transfer_caption_says_what_a_cell_averages():
    from bioplaus_analysis.figures.robustness import transfer_caption
    one = transfer_caption(load_analysis(_fixture_results(seeds=(0,))), 0.1)
    several = transfer_caption(load_analysis(_fixture_results()), 0.1)
    assert "off-diagonal: the source's attack on the target's network (1 seed per rule)" in one
    assert "mean" not in one.split("; ε is")[0]  # one run per rule: no cell is averaged
    assert "mean over (source, target) run pairs, cells are means over seeds (2 seeds per rule)" in several


def test_wilson_interval_by_hand_and_its_coverage():
    low, high = wilson(8, 10)  # Wilson 1927: p̂ = 0.8, n = 10, z = 1.96 → (0.490, 0.943)
    assert (float(low), float(high)) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    rng = np.random.default_rng(0)
    hits = rng.binomial(200, 0.3, size=2000)
    low, high = wilson(hits, 200)
    assert 0.93 <= np.mean((low <= 0.3) & (0.3 <= high)) <= 0.97  # nominal 95 %


def test_procrustes_recovers_a_rotated_reflected_scaled_path():
    from bioplaus_analysis.figures.representations import procrustes
    rng = np.random.default_rng(1)
    target = rng.normal(size=(6, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.diag([1, -1])
    source = (target - 3.0) @ rotation * 0.4
    assert procrustes(source, target) == pytest.approx(target, abs=1e-9)


def test_block_names_are_placed_away_from_the_path():
    from bioplaus_analysis.figures.representations import label_directions
    corner = label_directions(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]))
    assert corner == pytest.approx(np.array([[1, -1] / np.sqrt(2), [0.0, 1.0]]))  # outside the bend; the end beyond it
    straight = label_directions(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    assert straight[0] == pytest.approx([0.0, 1.0])  # a straight pass: to the side, not onto the line


def test_class_names_and_palette_are_disjoint_from_rule_colours():
    from bioplaus_analysis.figures.style import CLASS_COLORS, class_names
    assert class_names("fashion-mnist", [0, 9]) == ["T-shirt", "boot"] and class_names("digits", [3]) == ["3"]
    assert not {c.lower() for c in CLASS_COLORS} & {rule.color.lower() for rule in RULES.values()}
    assert len(set(CLASS_COLORS)) == 10
    from bioplaus_analysis.results import OTHER_RULE_COLORS
    rule_colors = [rule.color for rule in RULES.values()] + list(OTHER_RULE_COLORS)  # and networks trained elsewhere
    closest = min(np.linalg.norm(_cielab(c) - _cielab(r)) for c in CLASS_COLORS for r in rule_colors)
    assert closest > 15  # CIELAB ΔE: seaborn's class 0 #0173B2 against DFA's #0072B2 is 0.8
    assert min(np.linalg.norm(_cielab(o) - _cielab(rule.color)) for o in OTHER_RULE_COLORS for rule in RULES.values()) > 15


def _cielab(color: str) -> np.ndarray:
    """sRGB hex → CIELAB (D65), for colour distances as seen."""
    from matplotlib.colors import to_rgb
    rgb = np.array(to_rgb(color))
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_epoch_paths_keep_every_epoch_in_view():
    """Arrows are annotations, which do not widen the axes: a middle epoch far outside the others must still be
    inside the panel."""
    results, arrays = _fixture_results()
    coords = arrays["dynamics/fc1/coords"]
    far = results["dynamics"]["paths"]["fc1"]["items"].index("snn-dfa-s1/1")
    coords[far] = [25.0, -30.0]  # a middle epoch: neither the circle nor the square of its path
    from bioplaus_analysis.figures.dynamics import draw_epoch_paths
    with figure_style() as plt:
        fig, ax = plt.subplots()
        draw_epoch_paths(load_analysis((results, arrays)), ax, "fc1")
        fig.canvas.draw()
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        plt.close(fig)
    assert (coords[:, 0] > x0).all() and (coords[:, 0] < x1).all()
    assert (coords[:, 1] > y0).all() and (coords[:, 1] < y1).all()


def test_a_rules_epoch_path_runs_through_its_seeds_mean_position_per_epoch():
    """25 runs' arrows epoch by epoch could not be read: one arrowed path per rule, its seeds as thin lines."""
    results, arrays = _fixture_results()
    a = load_analysis((results, arrays))
    path = results["dynamics"]["paths"]["fc1"]
    coords = arrays["dynamics/fc1/coords"]
    from bioplaus_analysis.figures.dynamics import draw_epoch_paths
    with figure_style() as plt:
        fig, ax = plt.subplots()
        draw_epoch_paths(a, ax, "fc1")
        heads = {tuple(np.round(arrow.xy, 9)) for arrow in ax.texts if arrow.arrow_patch is not None}
        thin = len(ax.get_lines())
        plt.close(fig)
    expected = set()
    for g in a.groups():
        seeds = [coords[[k for k, item in enumerate(path["items"]) if item.rsplit("/", 1)[0] == run]] for run in g.runs]
        mean = np.mean(seeds, axis=0)
        expected |= {tuple(np.round(point, 9)) for point in mean[1:]}
        assert len(g.runs) > 1
    assert heads == expected and thin == sum(len(g.runs) for g in a.groups())


def test_a_raster_shows_neurons_spread_over_the_firing_ranking_not_only_the_saturated_top():
    from bioplaus_analysis.figures.spiking import raster_neurons
    spikes = np.arange(100) % 11  # neuron i fires i mod 11 times; neurons 0, 11, 22, ... are silent
    trains = (np.arange(10)[:, None] < spikes[None, :]).astype(np.float32)  # T = 10 (10 clips at T)
    chosen = raster_neurons(trains, count=5)
    firing = np.argsort(-trains.sum(0), kind="stable")
    firing = firing[trains.sum(0)[firing] > 0]
    assert list(chosen) == [firing[i] for i in (0, 22, 44, 67, 89)] and len(firing) == 90  # ends included
    counts = trains.sum(0)[chosen]
    assert counts[0] == 10 and counts[-1] == 1 and all(np.diff(counts) <= 0)  # most active first, none silent
    assert sorted(raster_neurons(trains[:, :12], count=50)) == list(range(1, 11))  # fewer fire: all of them


def test_transfer_eps_is_where_white_box_accuracy_is_nearest_half_the_clean_accuracy():
    from types import SimpleNamespace
    from bioplaus_analysis.figures.robustness import transfer_eps
    curves = {"r1": {"fgsm": {"true": [0.9, 0.7, 0.5, 0.1]}}, "r2": {"fgsm": {"true": [0.9, 0.6, 0.4, 0.0]}}}
    a = SimpleNamespace(results={"robustness": {"eps": [0.0, 0.05, 0.1, 0.2], "attacks": ["fgsm", "pgd"],
                                                "curves": curves}})
    assert transfer_eps(a) == 0.1  # mean 0.45 against half of 0.9
    curves["r1"]["fgsm"]["true"] = curves["r2"]["fgsm"]["true"] = [0.9, 0.1, 0.0, 0.0]
    assert transfer_eps(a) == 0.05  # never 0, even where every attack saturates


def test_cosine_panels_share_the_data_range_and_mark_zero_where_it_is_crossed():
    from bioplaus_analysis.figures.learning import share_limits
    with figure_style() as plt:
        fig, axes = new_figure(plt, PAGE, 2.0, 1, 2)
        axes[0, 0].plot([1, 2, 3], [0.45, 0.5, 0.58])
        axes[0, 1].plot([1, 2, 3], [0.5, 0.52, 0.55])
        share_limits(list(axes[0]))
        assert axes[0, 0].get_ylim() == axes[0, 1].get_ylim() == pytest.approx((0.40, 0.63))
        assert not [line for line in axes[0, 0].get_lines() if line.get_linestyle() == ":"]
        axes[0, 1].plot([1, 2, 3], [-0.2, 0.1, 0.3])
        share_limits(list(axes[0]))
        low, high = axes[0, 0].get_ylim()
        assert low == pytest.approx(-0.278) and high == pytest.approx(0.658)
        assert [line.get_ydata()[0] for line in axes[0, 0].get_lines() if line.get_linestyle() == ":"] == [0]
        plt.close(fig)


def test_similarity_panels_draw_the_change_since_epoch_0_and_write_its_level():
    results, arrays = _fixture_results()
    per_run = results["dynamics"]["per_run"]
    from bioplaus_analysis.figures.dynamics import draw_similarity
    with figure_style() as plt:
        fig, ax = plt.subplots()
        lines = draw_similarity(load_analysis((results, arrays)), ax, "fc1", "label_similarity")
        note = ax.get_legend().get_title().get_text()
        plt.close(fig)
    dfa = [per_run[f"snn-dfa-s{seed}"]["label_similarity"]["fc1"] for seed in (1, 0)]
    expected = np.mean([np.subtract(s, s[0]) for s in dfa], axis=0)
    assert len(lines) == 2  # DFA and BP
    dfa_line = next(line for line in lines if line.get_label().startswith("DFA"))
    assert dfa_line.get_ydata() == pytest.approx(expected) and dfa_line.get_ydata()[0] == 0
    starts = [per_run[run]["label_similarity"]["fc1"][0] for run in per_run]
    assert note == f"epoch 0: {np.mean(starts):.3f}"


def test_transfer_numbers_are_black_on_light_cells_and_white_on_dark_ones():
    from bioplaus_analysis.figures.robustness import _contrast_numbers
    with figure_style() as plt:
        fig, ax = plt.subplots()
        import seaborn as sns
        sns.heatmap(np.array([[0.0, 0.3], [0.6, 1.0]]), ax=ax, vmin=0, vmax=1, cmap="rocket_r", annot=True)
        _contrast_numbers(ax)
        colours = [text.get_color() for text in ax.texts]
        plt.close(fig)
    assert colours == ["black", "black", "white", "white"]  # 0.3: luminance 0.31, where seaborn writes white


def test_weight_alignment_curves_that_coincide_stay_distinguishable():
    results, arrays = _fixture_results(rules=("fa", "dfa", "dkp", "bp"), seeds=(0,))
    for run in ("snn-fa-s0", "snn-dfa-s0", "snn-dkp-s0"):
        results["alignment"][run]["fc1"] = [90.0, 89.9, 90.0]  # all three on top of each other
    from bioplaus_analysis.figures.dynamics import draw_alignment
    with figure_style() as plt:
        fig, ax = plt.subplots()
        lines = draw_alignment(load_analysis((results, arrays)), ax, "fc1")
        styles = [(line.get_marker(), line.get_linewidth()) for line in lines]
        plt.close(fig)
    assert len(lines) == 3 and len({m for m, _ in styles}) == 3  # BP has no feedback and no curve
    assert [w for _, w in styles] == sorted((w for _, w in styles), reverse=True)  # later, thinner ones on top


def test_the_alignment_caption_names_the_panels_a_rule_has_no_curve_in():
    from bioplaus_analysis.figures.dynamics import alignment_caption
    results, arrays = _fixture_results(rules=("bp", "fa", "dfa", "dkp"), seeds=(0,))
    assert "no feedback matrix there" not in alignment_caption(load_analysis((results, arrays)))
    for run in ("snn-dfa-s0", "snn-dkp-s0"):
        results["alignment"][run]["out"] = [80.0, 70.0, 60.0]  # FA alone lacks out; FA alone has conv2
    results["alignment"]["snn-fa-s0"]["conv2"] = [90.0, 85.0, 80.0]
    caption = alignment_caption(load_analysis((results, arrays)))
    assert "has no feedback matrix there (FA at out; DFA, DKP at conv2)" in caption


def test_round_ticks_give_short_labels_on_a_narrow_range():
    from bioplaus_analysis.figures.style import round_ticks
    with figure_style() as plt:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0.0404, 0.0537])
        round_ticks(ax.yaxis)
        ticks = [t for t in ax.get_yticks() if 0.0404 <= t <= 0.0537]
        plt.close(fig)
    assert ticks == pytest.approx([0.045, 0.05])  # not 0.0425, 0.0450, 0.0475, …


def test_the_dynamics_caption_says_which_rules_do_not_start_from_bps_weights(tmp_path):
    from bioplaus_analysis.figures.dynamics import dynamics_caption
    results, arrays = _fixture_results(rules=("dfa", "dkp", "bp"))
    for run, data in results["dynamics"]["per_run"].items():
        data["bp_similarity"]["fc1"][0] = 0.9995 if "-dfa-" in run else 1.0  # DFA: another init gain
    (tmp_path / "a").mkdir()
    write_results(tmp_path / "a", results, arrays)
    caption = dynamics_caption(load_analysis(tmp_path / "a"), ["labels", "bp", "paths"])
    assert "1 at epoch 0 where a rule starts from BPTT's weights (DFA start elsewhere" in caption
    assert "shared by the rules of one seed" not in caption
    for data in results["dynamics"]["per_run"].values():
        data["bp_similarity"]["fc1"][0] = 1.0
    (tmp_path / "b").mkdir()
    write_results(tmp_path / "b", results, arrays)
    caption = dynamics_caption(load_analysis(tmp_path / "b"), ["labels", "bp", "paths"])
    assert "1 at epoch 0 (the same initialisation" in caption and "shared by the rules of one seed" in caption


def test_figures_of_another_analysis_are_not_replaced_without_force(analysis_dir, tmp_path, capsys):
    from bioplaus_analysis.commands.cli import main
    other = tmp_path / "other"
    other.mkdir()
    results, arrays = read_results(analysis_dir)
    write_results(other, dict(results, dataset="another"), arrays)
    out = tmp_path / "figs"
    argv = ["figures", str(analysis_dir), "--out", str(out), "--only", "robustness", "--quiet"]
    assert main(argv) == 0 and main(argv) == 0  # the same analysis again: replaced
    before = (out / "robustness.png").read_bytes()
    argv[1] = str(other)
    assert main(argv) == 2
    assert "holds robustness.pdf/png drawn from another analysis" in capsys.readouterr().err
    assert (out / "robustness.png").read_bytes() == before
    assert main([*argv, "--force"]) == 0


def test_the_cosine_caption_says_which_blocks_are_exact_and_which_only_lack_room():
    from bioplaus_analysis.figures.learning import cosine_caption, cosine_layers
    results, arrays = _fixture_results(rules=("bp", "dfa"), seeds=(0,))
    run = next(name for name in results["cosine"] if "dfa" in name)
    table = results["cosine"][run]["training"]
    for k, layer in enumerate(("conv1", "conv2", "conv3")):  # a deeper net: four informative blocks, then out
        table[layer] = [0.1 * (k + 1)] * len(table["epoch"])
    table["out"] = [1.0] * len(table["epoch"])  # where DFA's update is BP's
    del table["fc2"]
    a = load_analysis((results, arrays))
    assert set(cosine_layers(a)) == {"fc1", "conv1", "conv2", "conv3"}
    caption = cosine_caption(a, cosine_layers(a)[:3])
    assert "Not shown: out, where every rule's update is BPTT's (cosine 1 by construction)." in caption
    assert f"Not shown for space: {cosine_layers(a)[3]} (see the cosine-to-bp figure)." in caption


def test_no_band_leaves_its_quantitys_range():
    """Three seeds near a bound give a 95 % t band wider than the room left (4.3 standard errors): it is cut
    at the bound, while the seeds and the mean are drawn as they are."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.learning import COSINE, PERCENT
    from bioplaus_analysis.figures.style import seed_curves
    from bioplaus_analysis.results import Group
    group = Group("cnn", "dfa", ["a", "b", "c"], [0, 1, 2], "DFA", RULES["dfa"].color)
    for values, (low, high) in (([[0.9, 0.99], [0.97, 0.999], [0.99, 0.93]], COSINE),
                                ([[97.0, 99.5], [99.9, 99.9], [92.0, 99.0]], PERCENT)):
        fig, ax = plt.subplots()
        seed_curves(ax, [1, 2], values, group, limits=(low, high))
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert band.max() == high and band.min() >= low  # the uncut band would reach past `high`
        assert len(ax.lines) == 4  # the mean and the three seeds
        plt.close(fig)


def test_a_block_has_one_marker_in_every_figure_and_no_marker_two_meanings():
    from bioplaus_analysis.figures.style import BLOCK_MARKERS, OTHER_BLOCK_MARKERS, block_marker
    assert block_marker("fc1") == "D" and block_marker("conv1") == "v"  # in a CNN and an SNN alike
    assert len(set(BLOCK_MARKERS.values())) == len(BLOCK_MARKERS)
    reserved = {"s", "*", "o", "h"}  # input RDM, label RDM, initialisation, last epoch
    assert not (set(BLOCK_MARKERS.values()) | set(OTHER_BLOCK_MARKERS)) & reserved
    assert block_marker("layer1.0") == block_marker("layer1.0") in OTHER_BLOCK_MARKERS


def test_a_rule_has_its_own_marker_whichever_rules_share_the_panel():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from trainers import RULES
    from bioplaus_analysis.figures.dynamics import draw_alignment
    from bioplaus_analysis.figures.style import rule_marker
    from bioplaus_analysis.results import Analysis
    aligned = [name for name, rule in RULES.items() if rule.trains_hidden and name != "bp"]  # rules with a B
    assert len({rule_marker(name) for name in aligned}) == len(aligned)
    layers = ["conv1", "conv2", "fc1", "out"]
    tables = {"fa": {"epoch": [0, 1], "fc1": [85, 60]}, "dfa": {"epoch": [0, 1], "conv2": [87, 80]}}
    for rules in (["dfa"], ["fa", "dfa"]):  # DFA first, then second: the same marker
        results = {"runs": {r: {"model": "cnn", "rule": r, "seed": 0} for r in rules},
                   "layers": {r: layers for r in rules}, "alignment": {r: tables[r] for r in rules}}
        fig, ax = plt.subplots()
        lines = draw_alignment(Analysis(results, {}), ax, "conv2")
        assert [line.get_marker() for line in lines] == [rule_marker(r) for r in rules]
        plt.close(fig)


def test_each_alignment_panel_holds_the_feedback_into_one_block():
    """FA's B of fc1 carries the error into conv2, DFA's B_conv2 too: both are drawn in the conv2 panel, so a panel
    holds one quantity (the feedback into its block), not FA's matrix of one block beside DFA's of another."""
    from bioplaus_analysis.figures.dynamics import alignment_blocks, receiving_block
    from bioplaus_analysis.results import Analysis
    layers = ["conv1", "conv2", "fc1", "out"]
    results = {"runs": {"fa": {"model": "cnn", "rule": "fa", "seed": 0}, "dfa": {"model": "cnn", "rule": "dfa", "seed": 0}},
               "layers": {"fa": layers, "dfa": layers},
               "alignment": {"fa": {"epoch": [0, 1], "conv2": [80, 70], "fc1": [85, 60], "out": [88, 50]},
                             "dfa": {"epoch": [0, 1], "conv1": [89, 88], "conv2": [87, 80], "fc1": [86, 70]}}}
    a = Analysis(results, {})
    assert [receiving_block(a, "fa", layer) for layer in ("conv2", "fc1", "out")] == ["conv1", "conv2", "fc1"]
    assert receiving_block(a, "dfa", "conv2") == "conv2"
    assert alignment_blocks(a) == ["conv1", "conv2", "fc1"]


def test_attack_curves_of_several_seeds_draw_each_seed_and_a_band_over_seeds(analysis_dir):
    """Two seeds per rule: every seed's curve is drawn (thin) beside the mean, the band is the t interval over
    the seeds (not a Wilson interval pooling images × seeds), within 0–100 %."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.robustness import draw_attack
    a = load_analysis(analysis_dir)
    fig, ax = plt.subplots()
    draw_attack(a, ax, "fgsm")
    thin = [line for line in ax.lines if line.get_alpha() == 0.35]
    # BP: true curve only; DFA: true and feedback; two seeds each
    assert len(thin) == 2 * (1 + 2)
    for band in ax.collections:
        low, high = band.get_paths()[0].vertices[:, 1].min(), band.get_paths()[0].vertices[:, 1].max()
        assert 0.0 <= low and high <= 100.0
    plt.close(fig)


def test_a_long_row_of_rdms_names_every_other_class(analysis_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.representations import draw_rdm
    a = load_analysis(analysis_dir)
    names = []
    for every in (1, 2):
        fig, ax = plt.subplots()
        draw_rdm(a, ax, a.arrays["rdm/labels"], "labels", "y", every)
        names.append([t.get_text() for t in ax.get_yticklabels()])
        plt.close(fig)
    assert len(names[0]) >= 2 and names[1] == names[0][::2]


def test_every_grid_of_nine_rules_fits_one_page(tmp_path):
    """The gallery's nine CNN rules: the RDM grid shrinks its rows to one page, the per-rule paths wrap onto rows;
    a figure taller than a page is refused."""
    from PIL import Image
    from bioplaus_analysis.figures.style import MAX_HEIGHT, new_figure, save
    rules = ("bp", "fa", "dfa", "dkp", "usf", "frsf", "brsf", "kp", "readout")
    (tmp_path / "analysis").mkdir()
    write_results(tmp_path / "analysis", *_fixture_results(rules=rules, seeds=(0,), spiking=False))
    drawn = draw_figures(tmp_path / "analysis", tmp_path / "figures", names=["rdm-grid", "paths-per-rule"],
                         progress=False)  # the t-SNE grid shrinks its rows as the RDM grid does
    for name, (_, png) in drawn.items():
        width, height = Image.open(png).size
        assert height / 300 <= MAX_HEIGHT + 0.01, name
    assert Image.open(drawn["paths-per-rule"][1]).size[1] / 300 > 2.0  # two rows of paths
    with figure_style() as plt:
        fig, _ = new_figure(plt, PAGE, MAX_HEIGHT + 1)
        with pytest.raises(ConfigError, match="in tall; a page holds"):
            save(fig, tmp_path, "tall", "a caption")


def test_the_readout_control_has_no_cosine_snr_or_bias_point_where_its_hidden_blocks_take_no_update():
    """Its hidden update is zero, which has no direction: drawn as cosine 0 it would read "unrelated to BP"."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.learning import cosine_caption, draw_bias_variance, draw_cosine, draw_snr
    results, arrays = _fixture_results(rules=("dfa", "bp", "readout"), spiking=False)
    for run in results["runs"]:
        results["cosine"][run]["analysis"] = {layer: {"mean": 0.0 if "readout" in run and layer != "out" else 0.5}
                                              for layer in LAYERS}
    a = load_analysis((results, arrays))
    assert [g.rule for g in a.compared_groups()] == ["dfa"]
    fig, axes = plt.subplots(1, 3)
    assert [line.get_label() for line in draw_cosine(a, axes[0], "fc1")] == ["DFA (2 seeds)"]
    assert [h.get_label() for h in draw_bias_variance(a, axes[1], "fc1")] == ["BPTT (2 seeds)", "DFA (2 seeds)"]
    readout = next(h for h in draw_snr(a, axes[2]) if h.get_label().startswith("readout"))
    mean = np.asarray(readout.lines[0].get_ydata(), float)  # per block: fc1, fc2, out
    assert np.isnan(mean[:-1]).all() and np.isfinite(mean[-1])
    plt.close(fig)
    assert "readout is not drawn: its hidden blocks take no update." in cosine_caption(a, ["fc1"])


def test_rdm_comparisons_are_named_with_real_subscripts_on_axes():
    from bioplaus_analysis.choices import comparison_label, comparison_name
    assert comparison_name("tau-a") == "Kendall τ_A"  # captions are plain text
    assert comparison_label("tau-a") == r"Kendall ${\tau}_A$" and comparison_label("rho-a") == r"Spearman ${\rho}_A$"
    assert comparison_label("corr") == "Pearson r"


def test_a_spiking_figure_says_what_bptt_is(tmp_path):
    for legend, expected in (("BPTT", True), ("BP", False)):
        with figure_style() as plt:
            fig, axes = new_figure(plt, PAGE, 2.0)
            axes[0, 0].plot([0, 1], label=legend)
            axes[0, 0].legend()
            save(fig, tmp_path, f"f{legend}", "Accuracy.")
        caption = read_captions(tmp_path)[f"f{legend}"]
        assert ("backpropagation through time with the surrogate gradient" in caption) == expected


def test_transfer_colours_start_at_no_drop_and_columns_give_the_clean_accuracy(analysis_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.robustness import clean_accuracy, draw_transfer, transfer_range
    a = load_analysis(analysis_dir)
    drop, groups = transfer_drop(a, "fgsm", 0.1)
    low, high = transfer_range(a, ["fgsm"], 0.1)
    assert low == min(0.0, np.nanmin(drop)) and high == pytest.approx(np.nanmax(drop))
    clean = clean_accuracy(a, "fgsm", groups)
    assert clean == pytest.approx([0.9] * len(groups))  # the fixture's curves start at 0.9
    fig, ax = plt.subplots()
    draw_transfer(a, ax, "fgsm", 0.1)
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{g.label} (90)" for g in groups] + ["other seed"]
    plt.close(fig)


def test_the_firing_legend_gives_the_mean_over_seeds_and_their_range():
    from bioplaus_analysis.figures.spiking import _over_seeds
    assert _over_seeds([0.12]) == "12%"
    assert _over_seeds([0.10, 0.12, 0.15]) == "12% (10–15)"
    assert _over_seeds([0.001, 0.002]) == "0%"  # the seeds agree at this precision: one number


def test_the_tsne_caption_gives_its_perplexity_and_seed():
    from bioplaus_analysis.figures.representations import _tsne_settings
    results, arrays = _fixture_results()
    results["provenance"] = {"sample": {"n": 30}, "seeds": {"embedding": 4}}
    assert _tsne_settings(load_analysis((results, arrays))).endswith("perplexity 9.66667, seed 4.")  # (30 − 1) / 3


def test_the_robustness_figure_draws_the_feedback_path_in_its_own_row(analysis_dir, tmp_path, monkeypatch):
    """Many rules' solid and dashed curves in one panel tangle: true (here surrogate) gradient above, feedback below;
    no second row where no rule has a feedback path of its own (BP's is its true gradient, the readout has none)."""
    import bioplaus_analysis.figures.robustness as robustness
    drawn, save_figure = [], robustness.save
    monkeypatch.setattr(robustness, "save", lambda fig, *args: drawn.append(
        [({line.get_linestyle() for line in ax.get_lines()}, ax.get_title()) for ax in fig.axes])
        or save_figure(fig, *args))
    DRAW["robustness"](analysis_dir, tmp_path)
    assert drawn[-1] == [({"-"}, "FGSM, surrogate gradient"), ({"-"}, "PGD, 3 steps, surrogate gradient"),
                         ({"--"}, "FGSM, each rule's feedback path"), ({"--"}, "PGD, 3 steps, each rule's feedback path")]
    assert read_captions(tmp_path)["robustness"].startswith(
        "a: FGSM, surrogate gradient (solid); b: PGD, surrogate gradient (solid); c: FGSM, each rule's feedback path "
        "(dashed); d: PGD, each rule's feedback path (dashed). ")
    DRAW["robustness"](_fixture_results(rules=("bp", "readout")), tmp_path / "control")
    assert [styles for styles, _ in drawn[-1]] == [{"-"}, {"-"}] and "gradient" not in drawn[-1][0][1]
    caption = read_captions(tmp_path / "control")["robustness"]
    assert caption.startswith("a: FGSM; b: PGD. ") and "feedback path" not in caption


def test_a_rules_joint_path_runs_through_its_blocks_mean_position_over_seeds(analysis_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.representations import draw_joint_paths
    a = load_analysis(analysis_dir)
    coords, items = a.arrays["paths/joint/coords"], a.results["paths"]["joint"]["items"]
    fig, ax = plt.subplots()
    draw_joint_paths(a, ax)
    ends = [tuple(np.round(arrow.xy, 9)) for arrow in ax.texts]  # each arrow's head: one per block per rule
    for g in a.groups():
        for layer in LAYERS:
            mean = np.mean([coords[items.index(f"{run}/{layer}")] for run in g.runs], axis=0)
            assert tuple(np.round(mean, 9)) in ends
    assert len(ends) == len(a.groups()) * len(LAYERS)  # one path per rule, not one per seed
    plt.close(fig)


def test_figures_of_a_transfer_measured_at_one_eps(tmp_path):
    results, arrays = _fixture_results()
    results["robustness"]["transfer_eps"] = [0.1]
    for attack in ("fgsm", "pgd"):
        arrays[f"transfer/{attack}"] = arrays[f"transfer/{attack}"][1:2]  # the ε = 0.1 slice alone
    a = load_analysis((results, arrays))
    assert transfer_drop(a, "fgsm", 0.1)[0][:, :2] == pytest.approx(
        (0.9 - _rule_matrix(arrays["transfer/fgsm"][0], results["robustness"]["transfer_order"], a.groups())) * 100)
    assert [p.name for p in DRAW["transfer"]((results, arrays), tmp_path)] == ["transfer.pdf", "transfer.png"]
    DRAW["main-robustness"]((results, arrays), tmp_path)
    with pytest.raises(ConfigError, match="transfer was measured at ε 0.1, not 0.2"):
        transfer_drop(a, "fgsm", 0.2)


def test_an_analysis_of_bp_and_the_readout_control_has_no_cosine_or_bias_variance_figure():
    names = applicable(load_analysis(_fixture_results(rules=("bp", "readout"), spiking=False)))
    assert "cosine-to-bp" not in names and "bias-variance" not in names and "gradient-snr" in names


def test_an_analysis_of_spiking_and_other_networks_names_both_references():
    results, arrays = _fixture_results()
    a = load_analysis((results, arrays))
    assert (a.reference(), a.reference(False)) == ("BPTT", "the BPTT surrogate gradient")
    results["runs"]["snn-bp-s0"]["model"] = "cnn"  # one network that does not spike
    mixed = load_analysis((results, arrays))
    assert mixed.reference() == "BP/BPTT" and "for the spiking networks the BPTT" in mixed.reference(False)


def test_a_page_wide_legend_fills_its_columns_evenly():
    """Seven entries take two rows of 4 and 3, not six columns with one entry left alone under the first."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.style import COLUMN, PAGE, legend_columns
    wide, narrow = plt.figure(figsize=(PAGE, 2)), plt.figure(figsize=(COLUMN, 2))
    assert [legend_columns(wide, n) for n in (1, 5, 6, 7, 11, 12, 13)] == [1, 5, 6, 4, 6, 6, 5]
    assert [legend_columns(narrow, n) for n in (1, 7)] == [1, 2]
    plt.close(wide), plt.close(narrow)


def test_the_raster_names_its_image_s_class(tmp_path, monkeypatch):
    import bioplaus_analysis.figures.spiking as spiking
    from bioplaus_analysis.figures.style import class_names
    results, arrays = _fixture_results()
    results["dataset"] = "fashion-mnist"
    for info in results["firing"].values():
        info["raster_image"] = {"test_index": 7, "label": 9}
    titles, save_figure = [], spiking.save
    monkeypatch.setattr(spiking, "save", lambda fig, *args: titles.append(fig.axes[0].get_title()) or save_figure(fig, *args))
    DRAW["spike-raster"]((results, arrays), tmp_path)
    assert titles == [f"test image 7\n{class_names('fashion-mnist', [9])[0]}"] and "class" not in titles[0]

"""The RSA summary: similarities to the label RDM (trained and untrained networks) and to the same seed's BP RDM
beside BP's noise ceiling, checked on RDMs with known answers and on a real analysis; paired tests in stats.csv."""

import numpy as np
import pytest
import torch

from bioplaus_analysis import analyze, read_results
from bioplaus_analysis.figures import DRAW
from bioplaus_analysis.rsa import compare_rdms, label_rdm, rdm_matrix
from bioplaus_analysis.rsa_summary import rsa_summary
from bioplaus_analysis.stats import noise_ceiling
from trainers import build_model, load_run


def _results(runs: dict) -> dict:
    return {"runs": {name: {"model": "cnn", "rule": rule, "seed": seed} for name, (rule, seed) in runs.items()},
            "layers": {name: ["fc1", "out"] for name in runs}}


def test_known_similarities_and_the_noise_ceiling():
    rng = np.random.default_rng(0)
    labels = label_rdm(np.repeat(np.arange(3), 4))
    noise = lambda: rdm_matrix(rng.normal(size=(12, 5)))  # noqa: E731
    bp0, bp1, dfa0 = (np.stack([labels, noise()]) for _ in range(3))  # fc1 is the label RDM itself, out is noise
    arrays = {"rdm/labels": labels, "rdm/bp0": bp0, "rdm/bp1": bp1, "rdm/dfa0": dfa0,
              "rdm_untrained/dfa0": np.stack([noise(), noise()])}
    results = _results({"bp0": ("bp", 0), "bp1": ("bp", 1), "dfa0": ("dfa", 0)})
    summary = rsa_summary(results, arrays, "corr", "corr")
    assert summary["labels"]["dfa0"]["fc1"] == pytest.approx(1.0)
    assert summary["labels"]["bp1"]["out"] == pytest.approx(compare_rdms(np.stack([bp1[1], labels]))[0, 1])
    untrained = summary["untrained_labels"]["dfa0"]["fc1"]
    assert untrained == pytest.approx(compare_rdms(np.stack([arrays["rdm_untrained/dfa0"][0], labels]))[0, 1])
    by_default = rsa_summary(results, arrays)  # against the labels: Kendall's τ_A, no credit for the label RDM's ties
    assert by_default["label_comparison"] == "tau-a" and by_default["labels"]["dfa0"]["fc1"] == pytest.approx(
        compare_rdms(np.stack([labels, labels]), "tau-a")[0, 1]) and by_default["labels"]["dfa0"]["fc1"] < 1
    assert list(summary["untrained_labels"]) == ["dfa0"]  # the others have no untrained RDMs
    assert list(summary["bp"]) == ["dfa0"] and summary["bp"]["dfa0"]["fc1"] == pytest.approx(1.0)  # vs bp0: seed 0
    assert summary["ceiling"]["cnn"]["out"] == pytest.approx(list(noise_ceiling(np.stack([bp0[1], bp1[1]]))))
    assert summary["ceiling"]["cnn"]["fc1"] == pytest.approx([1.0, 1.0])  # identical RDMs: at the ceiling


def test_an_untrained_network_is_the_run_as_its_training_started(digits_runs):
    run = digits_runs["cnn-dfa"]
    untrained, config = load_run(run, weights=False)
    trained, _ = load_run(run)
    fresh = build_model("cnn", "dfa", config["input_shape"], config["num_classes"], seed=config["seed"],
                        mean=config["mean"], std=config["std"], **config["model_options"])
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in untrained.state_dict().items())
    assert not torch.equal(untrained.weight_layers()["fc1"].weight, trained.weight_layers()["fc1"].weight)


@pytest.fixture(scope="module")
def analysed(digits_runs, tmp_path_factory):
    runs = [digits_runs[name] for name in ("cnn-bp", "cnn-dfa", "cnn-fa")]
    return analyze(runs, tmp_path_factory.mktemp("rsa") / "a", per_class=3, eval_per_class=3, eps=[0.0, 0.1],
                   pgd_steps=1, embeddings=[], modes=["true"], progress=False)


def test_an_analysis_reports_the_summary_with_paired_tests_and_draws_it(analysed, tmp_path):
    results, arrays = read_results(analysed)
    rsa, labels = results["rsa"], arrays["rdm/labels"]
    fc1 = results["layers"]["cnn-fa"].index("fc1")
    assert (rsa["comparison"], rsa["label_comparison"]) == ("corr", "tau-a")
    assert rsa["labels"]["cnn-fa"]["fc1"] == pytest.approx(
        compare_rdms(np.stack([arrays["rdm/cnn-fa"][fc1], labels]), "tau-a")[0, 1])
    assert rsa["bp"]["cnn-dfa"]["fc1"] == pytest.approx(
        compare_rdms(np.stack([arrays["rdm/cnn-dfa"][fc1], arrays["rdm/cnn-bp"][fc1]]))[0, 1])
    # training moved fc1's representation from the initial one
    assert rsa["labels"]["cnn-bp"]["fc1"] != pytest.approx(rsa["untrained_labels"]["cnn-bp"]["fc1"], abs=1e-3)
    paired = [r for r in results["stats"] if r["quantity"] == "RDM similarity to labels/fc1" and r["versus"] == "bp"]
    assert sorted(r["rule"] for r in paired) == ["dfa", "fa"] and all(r["n"] == 1 for r in paired)
    paths = DRAW["rsa-summary"](analysed, tmp_path)
    assert [p.name for p in paths] == ["rsa-summary.pdf", "rsa-summary.png"]


def test_each_rule_s_untrained_baseline_is_drawn_under_its_own_dots(analysed):
    """Rules whose recipes initialise differently start from different levels: one dash per rule and block."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from bioplaus_analysis.figures.rsa_summary import _blocks, _dodge, _untrained
    from bioplaus_analysis.results import load_analysis
    a = load_analysis(analysed)
    groups = a.groups()
    blocks = _blocks(a, groups)
    fig, ax = plt.subplots()
    _untrained(a, ax, blocks, groups)
    dashes = {(round(float(np.mean(line.get_xdata())), 6), float(line.get_ydata()[0])) for line in ax.get_lines()}
    table = a.results["rsa"]["untrained_labels"]
    expected = {(round(_dodge(i, j, len(groups)), 6), table[g.runs[0]][block])
                for j, g in enumerate(groups) for i, block in enumerate(blocks)}
    plt.close(fig)
    assert dashes == expected and len(dashes) == len(groups) * len(blocks)

"""The long-format CSVs beside results.json: `pandas.read_csv` loads each in one call, and every value is
the one results.json and arrays.npz hold."""

import json

import numpy as np
import pandas as pd
import pytest

from bioplaus_analysis import analyze, read_results
from bioplaus_analysis.tidy_tables import COLUMNS, TABLES


@pytest.fixture(scope="module")
def analysed(digits_runs, tmp_path_factory):
    runs = [digits_runs[name] for name in ("cnn-bp", "cnn-dfa", "cnn-dkp")]
    return analyze(runs, tmp_path_factory.mktemp("tidy") / "a", per_class=4, eval_per_class=6, eps=[0.0, 0.1, 0.2],
                   pgd_steps=1, embeddings=["pca", "mds"], progress=False)


def test_each_table_loads_in_one_call_with_its_documented_columns(analysed):
    for name in TABLES:
        frame = pd.read_csv(analysed / f"{name}.csv")
        assert tuple(frame.columns) == COLUMNS[name] and len(frame) > 0, name


def test_robustness_rows_are_the_curves_and_the_transfer_matrix(analysed):
    results, arrays = read_results(analysed)
    frame = pd.read_csv(analysed / "robustness.csv")
    # 3 runs x 2 attacks x 3 eps: true and feedback rows (BP's feedback is its true curve); transfer from 2 others
    # at the one ε where the mean white-box FGSM accuracy is nearest half the clean accuracy
    assert len(frame) == 3 * 2 * 3 * 2 + 3 * 2 * 1 * 2
    fgsm = np.mean([c["fgsm"]["true"] for c in results["robustness"]["curves"].values()], axis=0)  # mean per ε
    assert results["robustness"]["transfer_eps"] == [[0.1, 0.2][int(np.argmin(abs(fgsm[1:] - fgsm[0] / 2)))]]
    row = frame.query("run == 'cnn-dfa' and attack == 'pgd' and mode == 'feedback' and eps == 0.2").iloc[0]
    assert (row["model"], row["rule"], row["seed"]) == ("cnn", "dfa", 0)
    assert row["accuracy"] == results["robustness"]["curves"]["cnn-dfa"]["pgd"]["feedback"][2]
    crafted = frame.query("run == 'cnn-dkp' and mode == 'transfer' and source == 'cnn-bp' and attack == 'fgsm'")
    order = results["robustness"]["transfer_order"]
    expected = arrays["transfer/fgsm"][:, order.index("cnn-bp"), order.index("cnn-dkp")]
    np.testing.assert_allclose(crafted.sort_values("eps")["accuracy"], expected)
    assert list(crafted["eps"]) == results["robustness"]["transfer_eps"]


def test_snr_cosine_and_embedding_rows_match_results_json(analysed):
    results = json.loads((analysed / "results.json").read_text())
    snr = pd.read_csv(analysed / "snr.csv").set_index(["run", "layer"])["snr"]
    assert snr[("cnn-dkp", "fc1")] == pytest.approx(results["snr"]["cnn-dkp"]["fc1"], rel=1e-12)
    cosine = pd.read_csv(analysed / "cosine.csv")
    training = cosine.query("run == 'cnn-dfa' and when == 'training' and layer == 'conv1'").sort_values("epoch")
    assert training["cosine"].tolist() == pytest.approx(results["cosine"]["cnn-dfa"]["training"]["conv1"])
    embedding = pd.read_csv(analysed / "embedding.csv")
    assert set(embedding["score_name"]) == {"explained_variance_ratio", "stress1"}
    assert len(embedding.query("run == 'input'")) == 2  # the pixels, embedded once by each method
    assert results["provenance"]["options"]["embedding_quality"] == {"pca": "explained_variance_ratio",
                                                                     "mds": "stress1"}


def test_dynamics_rows_match_the_alignment_and_similarities_of_results_json(analysed):
    results = json.loads((analysed / "results.json").read_text())
    frame = pd.read_csv(analysed / "dynamics.csv")
    dkp = frame.query("run == 'cnn-dkp' and block == 'conv2'").sort_values("epoch")
    assert dkp["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert dkp["alignment"].tolist() == pytest.approx(results["alignment"]["cnn-dkp"]["conv2"], rel=1e-12)
    per_run = results["dynamics"]["per_run"]["cnn-dkp"]
    assert dkp["label_similarity"].tolist() == pytest.approx(per_run["label_similarity"]["conv2"], rel=1e-12)
    assert dkp["bp_similarity"].tolist() == pytest.approx(per_run["bp_similarity"]["conv2"], rel=1e-12)
    bp = frame.query("run == 'cnn-bp'")
    assert bp["alignment"].isna().all() and bp["bp_similarity"].tolist() == pytest.approx([1.0] * len(bp))

"""Learning dynamics in the analysis: alignment history from initialisation, probe-RDM similarity to the labels
and to BP's RDM at the same epoch, and the joint epoch paths."""

import numpy as np
import pytest

from trainers import ConfigError, TrainConfig, train
from trainers.store.runfiles import read_metrics

from bioplaus_analysis.dynamics import alignment_history, representation_dynamics


@pytest.fixture(scope="module")
def mlp_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dynamics")
    return {rule: train(TrainConfig(model="mlp", rule=rule, dataset="digits", epochs=3, seed=0, probes_per_class=5,
                                    model_options={"hidden": "32"}), root / rule, progress=False)
            for rule in ("bp", "fa", "dfa")}


def test_a_bp_run_against_itself_has_similarity_1_at_every_epoch(mlp_runs):
    part = representation_dynamics({"bp": mlp_runs["bp"]}, "cosine", 0, {})
    run = part["per_run"]["bp"]
    assert run["bp_run"] == "bp" and run["epoch"] == [0, 1, 2, 3]
    assert run["bp_similarity"]["fc1"] == pytest.approx([1.0] * 4, abs=1e-12)
    assert part["probes"] == 50 and part["split"] == "validation"


def test_rules_of_one_seed_start_from_one_representation_and_then_part(mlp_runs):
    arrays = {}
    part = representation_dynamics(mlp_runs, "cosine", 0, arrays)
    for rule in ("fa", "dfa"):
        similarity = part["per_run"][rule]["bp_similarity"]["fc1"]
        assert similarity[0] == pytest.approx(1.0, abs=1e-12)  # the same seed: the same initial forward weights
        assert min(similarity[1:]) < 0.9999
        assert all(-1 <= s <= 1 for s in part["per_run"][rule]["label_similarity"]["fc1"])
    items = part["paths"]["fc1"]["items"]
    assert items[0] == "labels" and len(items) == 1 + 3 * 4 and "dfa/3" in items
    assert arrays["dynamics/fc1/coords"].shape == (len(items), 2)
    assert np.allclose(np.diag(arrays["dynamics/fc1/distances"]), 0)


def test_alignment_history_starts_at_initialisation_and_matches_metrics(mlp_runs):
    history = alignment_history(mlp_runs["fa"])
    assert history["epoch"] == [0, 1, 2, 3] and set(history) == {"epoch", "out"}
    assert history["out"][1:] == [row["align/out"] for row in read_metrics(mlp_runs["fa"])]
    assert 80 < history["out"][0] < 100  # random feedback starts about orthogonal
    assert alignment_history(mlp_runs["bp"]) == {}


def test_runs_with_different_probe_sets_are_refused(mlp_runs, tmp_path):
    other = train(TrainConfig(model="mlp", rule="bp", dataset="digits", epochs=1, seed=1, probes_per_class=3,
                              model_options={"hidden": "32"}), tmp_path / "other", progress=False)
    with pytest.raises(ConfigError, match="different probe sets"):
        representation_dynamics({"a": mlp_runs["bp"], "b": other}, "cosine", 0, {})

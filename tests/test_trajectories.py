"""Representational paths: every layer's RDM as a point, one joint MDS that every run shares."""

import numpy as np

from bioplaus_analysis import label_rdm, rdm_matrix, representational_paths


def _paths(seed):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 4)
    runs = {run: {layer: rdm_matrix(rng.normal(size=(12, 8))) for layer in ("fc1", "out")} for run in ("a", "b")}
    return representational_paths(runs, rdm_matrix(rng.normal(size=(12, 8))), label_rdm(labels), seed=seed)


def test_joint_paths_are_deterministic_by_seed_and_share_axes():
    (joint, per_run), (again, _) = _paths(3), _paths(3)
    np.testing.assert_array_equal(joint.coords, again.coords)
    assert joint.items == ["input", "labels", "a/fc1", "a/out", "b/fc1", "b/out"]
    assert per_run["a"].items == ["input", "fc1", "out", "labels"]
    assert 0 <= joint.stress < 1 and joint.distances.shape == (6, 6)
    other, _ = _paths(4)
    assert not np.allclose(other.coords, joint.coords)

"""Features, RDMs (against rsatoolbox called directly), representational paths and embeddings."""

import numpy as np
import pytest
import rsatoolbox
import torch

from bioplaus_analysis import (angles, compare_rdms, embed, label_rdm, layer_rdms, rdm_matrix, record_features,
                               representational_paths)
from bioplaus_analysis.embedding import default_perplexity
from bioplaus_analysis.features import analysis_sample
from trainers import ConfigError, load_run


def _calc_rdm(patterns, method):
    return rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(patterns), method=method).get_matrices()[0]


@pytest.mark.parametrize("method", ["correlation", "euclidean", "mahalanobis"])
def test_rdms_match_rsatoolbox(method):
    patterns = np.random.default_rng(0).normal(size=(25, 40))
    np.testing.assert_allclose(rdm_matrix(patterns, method), _calc_rdm(patterns, method), rtol=1e-10, atol=1e-12)


def test_rdms_of_recorded_features_match_rsatoolbox(digits_runs):
    model, _ = load_run(digits_runs["cnn-dfa"])
    sample = analysis_sample("digits", 5)
    layers = record_features(model, sample.images, sample.labels).layers
    for name, rdm in layer_rdms(layers, "correlation").items():
        np.testing.assert_allclose(rdm, _calc_rdm(layers[name].astype(np.float64), "correlation"), atol=1e-9)


def test_constant_patterns_and_label_rdm():
    patterns = np.vstack([np.zeros((2, 6)), np.random.default_rng(1).normal(size=(3, 6))])
    rdm = rdm_matrix(patterns, "correlation")
    assert np.isfinite(rdm).all() and rdm[0, 1] == 1.0 and rdm[0, 0] == 0.0
    np.testing.assert_array_equal(label_rdm([0, 0, 1]), [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    with pytest.raises(ConfigError, match="unknown RDM method 'cityblock'"):
        rdm_matrix(patterns, "cityblock")


def test_features_are_block_outputs_in_eval_mode_and_independent_of_batching(digits_runs):
    model, _ = load_run(digits_runs["cnn-bp"])
    model.train()
    sample = analysis_sample("digits", 4)
    features = record_features(model, sample.images, sample.labels, batch_size=7)
    assert model.training  # mode restored
    assert list(features.layers) == ["input", "conv1", "conv2", "fc1", "out"]
    model.eval()
    with torch.no_grad():
        h, expected = model.norm(sample.images), {}
        for name, block in model.blocks.items():
            h = block(h)
            expected[name] = h.flatten(1)
    for name in ("conv1", "conv2", "fc1"):
        np.testing.assert_allclose(features.layers[name], expected[name].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(features.layers["out"], torch.softmax(expected["out"], 1).numpy(), atol=1e-6)
    np.testing.assert_array_equal(features.layers["input"], sample.images.flatten(1).numpy())
    again = record_features(model, sample.images, sample.labels, batch_size=500)
    for name in features.layers:
        np.testing.assert_allclose(features.layers[name], again.layers[name], rtol=1e-5, atol=1e-6)


def test_spiking_features_are_spike_counts(digits_runs):
    model, _ = load_run(digits_runs["snn-dfa"])
    sample = analysis_sample("digits", 3)
    features = record_features(model, sample.images, sample.labels)
    assert features.measure == "spike count"
    counts = model.record(sample.images).counts["fc1"]
    np.testing.assert_array_equal(features.layers["fc1"], counts.numpy())
    assert features.layers["fc1"].max() <= model.time_steps


def test_angles_are_a_metric_from_clipped_similarities():
    theta = angles(np.array([[1.0000001, 0.5], [0.5, 1.0]]))
    np.testing.assert_allclose(theta, [[0.0, np.pi / 3], [np.pi / 3, 0.0]])
    with pytest.raises(ConfigError, match="not finite"):
        angles(np.array([[1.0, np.nan], [np.nan, 1.0]]))


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
    # distances are the angles of rsatoolbox's cosine comparison
    rdms = np.stack([rdm_matrix(np.eye(5)[:, :4] + i) for i in range(1, 3)])
    rsa = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(rdms), rsatoolbox.rdm.RDMs(rdms), method="cosine")
    np.testing.assert_allclose(compare_rdms(rdms), rsa)


@pytest.mark.parametrize("method", ["tsne", "pca", "mds"])
def test_embeddings_are_seeded(method):
    x = np.random.default_rng(2).normal(size=(30, 60))
    a, b = embed(x, method, seed=1), embed(x, method, seed=1)
    assert a.coords.shape == (30, 2)
    np.testing.assert_array_equal(a.coords, b.coords)


def test_tsne_perplexity_adapts_to_small_samples():
    assert default_perplexity(1000) == 30.0
    assert default_perplexity(31) == 10.0
    assert embed(np.random.default_rng(0).normal(size=(8, 3)), "tsne").coords.shape == (8, 2)

"""RDMs against rsatoolbox called directly, the label RDM, and RDM comparisons as angles."""

import numpy as np
import pytest
import rsatoolbox

from bioplaus_analysis import angles, compare_rdms, label_rdm, layer_rdms, rdm_matrix, record_features
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


def test_angles_are_a_metric_from_clipped_similarities():
    theta = angles(np.array([[1.0000001, 0.5], [0.5, 1.0]]))
    np.testing.assert_allclose(theta, [[0.0, np.pi / 3], [np.pi / 3, 0.0]])
    with pytest.raises(ConfigError, match="not finite"):
        angles(np.array([[1.0, np.nan], [np.nan, 1.0]]))


def test_compare_rdms_is_rsatoolboxs_cosine_comparison():
    rdms = np.stack([rdm_matrix(np.eye(5)[:, :4] + i) for i in range(1, 3)])
    rsa = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(rdms), rsatoolbox.rdm.RDMs(rdms), method="cosine")
    np.testing.assert_allclose(compare_rdms(rdms), rsa)

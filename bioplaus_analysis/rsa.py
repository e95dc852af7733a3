"""Representational dissimilarity matrices (RDMs) with rsatoolbox conventions, computed by matrix products.

`correlation` is 1 − Pearson r between patterns and `euclidean` the squared Euclidean distance
divided by the number of features, exactly as rsatoolbox's `calc_rdm` defines them (tested), but
in one matrix product instead of rsatoolbox's einsum; other rsatoolbox methods go to `calc_rdm`.
Layers are compared with rsatoolbox's `compare`; a similarity in [−1, 1] becomes the angle
arccos(similarity), a metric, for representational paths.
"""

import numpy as np
import rsatoolbox
import torch
from rsatoolbox.rdm import RDMs, compare

from trainers import ConfigError, correlation_rdm, unknown_name

from .choices import COMPARISONS, RDM_METHODS



def rdm_matrix(patterns: np.ndarray, method: str = "correlation") -> np.ndarray:
    """The [n, n] RDM of `patterns` [n, features]. Constant patterns (a silent layer) have no
    correlation with anything: their correlation dissimilarity is 1."""
    if method not in RDM_METHODS:
        raise unknown_name("RDM method", method, RDM_METHODS)
    x = np.asarray(patterns, dtype=np.float64).reshape(len(patterns), -1)
    if method == "euclidean":
        squared = np.einsum("ij,ij->i", x, x)
        rdm = (squared[:, None] + squared[None, :] - 2.0 * (x @ x.T)) / x.shape[1]
        rdm = np.maximum(rdm, 0.0)
    elif method == "correlation":  # the same function records the probe RDMs while training
        rdm = correlation_rdm(torch.from_numpy(x)).numpy()
    else:
        dataset = rsatoolbox.data.Dataset(x)
        rdm = rsatoolbox.rdm.calc_rdm(dataset, method=method).get_matrices()[0]
    rdm = (rdm + rdm.T) / 2.0
    np.fill_diagonal(rdm, 0.0)
    return rdm


def label_rdm(labels) -> np.ndarray:
    """The category model: 0 for two images of the same class, 1 otherwise."""
    labels = np.asarray(labels)
    return (labels[:, None] != labels[None, :]).astype(np.float64)


def compare_rdms(matrices: np.ndarray, method: str = "corr") -> np.ndarray:
    """[m, m] similarities between m RDMs [m, n, n] with rsatoolbox's `compare` (default Pearson r: centred)."""
    if method not in COMPARISONS:
        raise unknown_name("RDM comparison", method, COMPARISONS)
    rdms = RDMs(np.asarray(matrices))
    return np.asarray(compare(rdms, rdms, method=method), dtype=np.float64)


def angles(similarity: np.ndarray) -> np.ndarray:
    """arccos of similarities clipped to [−1, 1], symmetrised with a zero diagonal: a metric."""
    if not np.all(np.isfinite(similarity)):
        raise ConfigError("an RDM comparison is not finite (a constant RDM?); choose another --compare method")
    theta = np.arccos(np.clip(similarity, -1.0, 1.0))
    theta = (theta + theta.T) / 2.0
    np.fill_diagonal(theta, 0.0)
    return theta


def layer_rdms(layers: dict, method: str = "correlation") -> dict:
    """{layer: [n, n] RDM} of every layer's [n, features] patterns."""
    return {name: rdm_matrix(patterns, method) for name, patterns in layers.items()}

"""Low-dimensional embeddings: metric MDS of precomputed distances, t-SNE and PCA of features.

All scikit-learn embedders sit behind these functions, so a change of scikit-learn's API (MDS's
`dissimilarity` became `metric` in 1.9; its `init` default changes in 1.10) touches one place.
Every embedding is seeded; t-SNE's perplexity adapts to the sample size.
"""

import inspect
from typing import NamedTuple

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import MDS, TSNE

from trainers import ConfigError

from .choices import EMBEDDINGS
from .registry import Registry

EMBEDDERS = Registry("embedding", EMBEDDINGS)  # name → function (features [n, ...], seed) -> Embedding
# What each method's `Embedding.quality` is (results.json and embedding.csv name it).
QUALITY = {"tsne": "kl_divergence", "pca": "explained_variance_ratio", "mds": "stress1"}

class Embedding(NamedTuple):
    """[n, 2] coordinates; `quality` is Kruskal's stress-1 (MDS), the explained variance (PCA), or the
    KL divergence (t-SNE)."""
    coords: np.ndarray
    quality: float


def _stress1(distances: np.ndarray, coords: np.ndarray) -> float:
    """Kruskal's stress-1: sqrt(Σ(d − d̂)² / Σ d²) over pairs; 0 is a perfect fit."""
    fitted = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))
    upper = np.triu_indices(len(coords), 1)
    total = float((distances[upper] ** 2).sum())
    return float(np.sqrt(((distances[upper] - fitted[upper]) ** 2).sum() / total)) if total > 0 else 0.0


def mds(distances: np.ndarray, seed: int = 0, n_init: int = 8) -> Embedding:
    """Metric MDS (SMACOF, best of `n_init` seeded random starts) of a symmetric distance matrix."""
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        raise ConfigError(f"MDS needs a square distance matrix, got shape {distances.shape}")
    if len(distances) < 3:
        raise ConfigError(f"MDS needs at least 3 items, got {len(distances)}")
    options = dict(n_components=2, n_init=n_init, random_state=seed, max_iter=1000, eps=1e-9)
    if "metric_mds" in inspect.signature(MDS).parameters:  # scikit-learn ≥ 1.9
        embedder = MDS(metric="precomputed", metric_mds=True, init="random", **options)
    else:
        embedder = MDS(dissimilarity="precomputed", metric=True, **options)
    coords = embedder.fit_transform(distances)
    return Embedding(coords, _stress1(distances, coords))


def default_perplexity(n: int) -> float:
    """30 (scikit-learn's default) for large samples, less for small ones: it must stay below n/3."""
    return float(max(2.0, min(30.0, (n - 1) / 3.0)))


@EMBEDDERS.register("tsne")
def tsne(features: np.ndarray, seed: int = 0, perplexity: float | None = None) -> Embedding:
    """t-SNE of [n, d] features (PCA to 50 dimensions first when d > 50), PCA-initialised."""
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if len(x) < 5:
        raise ConfigError(f"t-SNE needs at least 5 samples, got {len(x)}")
    if x.shape[1] > 50 and len(x) > 50:
        x = PCA(n_components=50, random_state=seed).fit_transform(x)
    perplexity = default_perplexity(len(x)) if perplexity is None else float(perplexity)
    embedder = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    coords = embedder.fit_transform(x)
    return Embedding(coords, float(embedder.kl_divergence_))


@EMBEDDERS.register("pca")
def pca(features: np.ndarray, seed: int = 0) -> Embedding:
    """The first two principal components and the fraction of variance they explain."""
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if np.allclose(x, x[0]):
        return Embedding(np.zeros((len(x), 2)), 0.0)  # a constant layer (e.g. silent neurons)
    model = PCA(n_components=min(2, *x.shape), random_state=seed)
    coords = model.fit_transform(x)
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return Embedding(coords, float(model.explained_variance_ratio_.sum()))


@EMBEDDERS.register("mds")
def mds_of_features(features: np.ndarray, seed: int = 0) -> Embedding:
    """Metric MDS (one seeded start) of the Euclidean distances between feature vectors."""
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    squared = np.einsum("ij,ij->i", x, x)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * x @ x.T, 0.0))
    np.fill_diagonal(distances, 0.0)
    return mds(distances, seed, n_init=1)


def embed(features: np.ndarray, method: str, seed: int = 0) -> Embedding:
    """One layer's 2-D embedding by `method`, one of `EMBEDDERS` (tsne, pca, mds)."""
    return EMBEDDERS.lookup(method)(features, seed)

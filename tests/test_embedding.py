"""Embeddings: seeded t-SNE, PCA and MDS behind one registry; t-SNE's perplexity adapts to the sample."""

import numpy as np
import pytest

from bioplaus_analysis import embed
from bioplaus_analysis.embedding import default_perplexity
from trainers import ConfigError


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


def test_an_unknown_embedding_lists_the_registered_ones():
    with pytest.raises(ConfigError, match="unknown embedding 'umap'; choose one of: mds, pca, tsne"):
        embed(np.zeros((4, 3)), "umap")

"""The names an analysis accepts (RDM methods, comparisons, embeddings, attacks, modes), kept apart from
the modules that implement them so that building the command line loads no heavy library."""

import re

RDM_METHODS = ("correlation", "euclidean", "mahalanobis", "poisson")  # the first two by matrix products
COMPARISONS = ("cosine", "corr", "spearman", "kendall", "tau-a", "rho-a", "bures")
# How each comparison is named in captions and stats.csv ("corr", the default, is Pearson's r of the RDMs' upper
# triangles: centred, so an RDM's mean level does not count as similarity, unlike the uncentred cosine).
COMPARISON_NAMES = {"cosine": "uncentred cosine", "corr": "Pearson r", "spearman": "Spearman ρ",
                    "kendall": "Kendall τ_b", "tau-a": "Kendall τ_A", "rho-a": "Spearman ρ_A", "bures": "Bures similarity"}


def comparison_name(method: str) -> str:
    """How a comparison is named in captions ("Pearson r" for "corr"); an unlisted one by its own name."""
    return COMPARISON_NAMES.get(method, method)


def comparison_label(method: str) -> str:
    """`comparison_name` for an axis label: a subscript drawn as one ("Kendall $\\tau_A$"), not as "_A"."""
    return re.sub(r"([τρ])_(\w)", lambda m: f"${{\\{'tau' if m[1] == 'τ' else 'rho'}}}_{m[2]}$",
                  comparison_name(method))


EMBEDDINGS = ("tsne", "pca", "mds")
ATTACKS = ("fgsm", "pgd")
# The default ε grids (`robustness.default_eps`), here so that the command line's help shows them without torch
MNIST_LIKE_EPS = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)
CIFAR10_EPS = (0.0, 1 / 255, 2 / 255, 4 / 255, 6 / 255, 8 / 255)
MODES = ("true", "feedback", "transfer")
FIGURES = ("main-learning", "main-robustness", "main-representations", "schematic", "training-curves", "rdm-grid", "rsa-summary", "paths-per-rule", "tsne-grid", "gradient-snr", "cosine-to-bp",
           "robustness", "transfer", "firing-rates", "spike-raster", "weight-alignment", "representation-dynamics",
           "bias-variance", "cost")

# Images per batch of the cosine to BP after training: the size of the batch measured while training (`cos_batch`
# 256 rounded down to whole classes: 25 of each of 10), every class alike in both.
COSINE_BATCH = 250

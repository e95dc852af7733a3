"""Representational paths: every layer's RDM as a point, distances between RDMs as angles
arccos(similarity), embedded in 2-D by metric MDS.

The joint embedding puts every run's layers, the input and the labels in one MDS, so the paths of
different rules share axes and can be overlaid; per-run embeddings show each path on its own.
"""

from typing import NamedTuple

import numpy as np

from .embedding import mds
from .rsa import angles, compare_rdms


class Path2D(NamedTuple):
    """`items` names each point ("input", "labels", "RUN/LAYER"); `coords` [items, 2]; `distances`
    the angles between the items' RDMs (radians); `stress` Kruskal's stress-1 of the MDS."""
    items: list
    coords: np.ndarray
    distances: np.ndarray
    stress: float


def embed_rdms(items: list, matrices: list, comparison: str = "corr", seed: int = 0) -> Path2D:
    distances = angles(compare_rdms(np.stack(matrices), comparison))
    fit = mds(distances, seed)
    return Path2D(list(items), fit.coords, distances, fit.quality)


def representational_paths(run_rdms: dict, input_rdm, label_rdm, comparison: str = "corr",
                           seed: int = 0) -> tuple[Path2D, dict]:
    """(joint Path2D of all runs, {run: Path2D of that run alone}) from {run: {layer: RDM}}, where the
    layers exclude the input; every path starts at the shared input RDM and ends near the labels."""
    items, matrices = ["input", "labels"], [input_rdm, label_rdm]
    per_run = {}
    for run, layers in run_rdms.items():
        items += [f"{run}/{layer}" for layer in layers]
        matrices += list(layers.values())
        per_run[run] = embed_rdms(["input", *layers, "labels"], [input_rdm, *layers.values(), label_rdm],
                                  comparison, seed)
    return embed_rdms(items, matrices, comparison, seed), per_run

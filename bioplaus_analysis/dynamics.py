"""Learning dynamics read from the runs' files: the weight alignment per epoch, and how each block's
representation of the probe set moves while training — its RDM's similarity to the label RDM and to BP's RDM
(same model and seed) at the same epoch, and a joint path of every run's epochs per block (MDS of arccos
similarities, as `trajectories` does for layers)."""

import numpy as np

from trainers import ConfigError, read_dynamics
from trainers.store.probes import square
from trainers.store.runfiles import read_config, read_metrics

from .rsa import compare_rdms, label_rdm
from .tidy_tables import bp_run_of
from .trajectories import embed_rdms


def alignment_history(run_dir) -> dict:
    """{"epoch": [...], block: [degrees]}: from dynamics.npz (which starts at initialisation, epoch 0), else
    from metrics.csv's align/ columns; {} for a run that recorded none (BP, or no probes)."""
    dynamics = read_dynamics(run_dir)
    if dynamics is not None:
        table = {"epoch": dynamics["epochs"].tolist(),
                 **{k.split("/", 1)[1]: dynamics[k].tolist() for k in dynamics if k.startswith("align/")}}
    else:
        rows = read_metrics(run_dir)
        keys = [k for k in (rows[0] if rows else {}) if k.startswith("align/")]
        table = {"epoch": [r["epoch"] for r in rows], **{k.split("/", 1)[1]: [r[k] for r in rows] for k in keys}}
    return table if len(table) > 1 else {}


def _similarity_curves(rdms, reference, comparison: str) -> list:
    """Per epoch, the similarity of the square RDMs `rdms` [epochs, n, n] to `reference` ([n, n] or per epoch)."""
    references = reference if reference.ndim == 3 else [reference] * len(rdms)
    return [float(compare_rdms(np.stack([r, ref]), comparison)[0, 1]) for r, ref in zip(rdms, references)]


def representation_dynamics(run_dirs: dict, comparison: str, seed: int, arrays: dict,
                            label_comparison: str | None = None) -> dict:
    """The dynamics part of results.json (and its paths' arrays) for the runs {name: folder} that recorded
    dynamics.npz; {} when none did. All runs must share one probe set (the same labels in the same order).
    Similarity to the label RDM by `label_comparison` (default `comparison`), to BP's and in the paths by
    `comparison`."""
    label_comparison = label_comparison or comparison
    recorded = {name: d for name, d in ((n, read_dynamics(r)) for n, r in run_dirs.items()) if d is not None}
    if not recorded:
        return {}
    labels = {tuple(d["labels"].tolist()) for d in recorded.values()}
    if len(labels) > 1:
        raise ConfigError("the runs recorded different probe sets (--probes-per-class or --validation differ); "
                          "analyse runs with one probe set together")
    probe_labels = next(iter(recorded.values()))["labels"]
    target = label_rdm(probe_labels)
    squares = {name: {k.split("/", 1)[1]: np.stack([square(v) for v in d[k]]) for k in d if k.startswith("rdm/")}
               for name, d in recorded.items()}
    configs = {n: read_config(run_dirs[n]) for n in recorded}
    references = {n: bp_run_of(configs, n) for n in recorded}  # the same seed's BP run, if it recorded dynamics
    per_run = {}
    for name, blocks in squares.items():
        bp = references[name]
        epochs = recorded[name]["epochs"].tolist()
        shared = min(len(epochs), len(recorded[bp]["epochs"])) if bp else 0
        per_run[name] = {"epoch": epochs, "bp_run": bp,
                         "label_similarity": {b: _similarity_curves(r, target, label_comparison)
                                              for b, r in blocks.items()},
                         "bp_similarity": {b: _similarity_curves(r[:shared], squares[bp][b][:shared], comparison)
                                           for b, r in blocks.items() if bp and b in squares[bp]}}
    return {"comparison": comparison, "label_comparison": label_comparison, "probes": len(probe_labels),
            "split": str(next(iter(recorded.values()))["split"]), "per_run": per_run,
            "paths": _epoch_paths(squares, {n: d["epochs"].tolist() for n, d in recorded.items()}, target, comparison,
                                  seed, arrays)}


def _epoch_paths(squares: dict, epochs: dict, target, comparison: str, seed: int, arrays: dict) -> dict:
    """Per block: one MDS of every run's RDM at every epoch (items "RUN/EPOCH") and the label RDM (item
    "labels"); coordinates and distances into `arrays`."""
    paths = {}
    for block in dict.fromkeys(b for blocks in squares.values() for b in blocks):
        items, matrices = ["labels"], [target]
        for name, blocks in squares.items():
            if block in blocks:
                items += [f"{name}/{epoch}" for epoch in epochs[name]]
                matrices += list(blocks[block])
        path = embed_rdms(items, matrices, comparison, seed)
        arrays[f"dynamics/{block}/coords"], arrays[f"dynamics/{block}/distances"] = path.coords, path.distances
        paths[block] = {"items": path.items, "stress": path.stress}
    return paths

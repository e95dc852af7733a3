"""The RSA summary an analysis reports per run and block: RDM similarity to the label RDM, for the trained
network and for the same network as its training started (the untrained baseline every rule starts from), and
to the RDM of the BP run of the same model and seed, beside BP's noise ceiling across its seeds. Section "rsa"
of results.json; drawn as `rsa-summary` (paired tests against BP are rows of stats.csv)."""

import numpy as np

from .results import Analysis
from .rsa import compare_rdms
from .stats import noise_ceiling
from .tidy_tables import bp_run_of


def _similarity(a: np.ndarray, b: np.ndarray, method: str) -> float:
    return float(compare_rdms(np.stack([a, b]), method)[0, 1])


def _per_layer(a: Analysis, run: str, reference, method: str) -> dict:
    """{layer: similarity of the run's RDM of that layer to `reference(k)`}."""
    rdms = a.arrays[f"rdm/{run}"]
    return {layer: _similarity(rdms[k], reference(k), method) for k, layer in enumerate(a.layers(run))}


def _ceilings(a: Analysis, method: str) -> dict:
    """{model: {layer: [lower, upper]}}: the noise ceiling of the BP seeds of each model (two seeds or more)."""
    ceilings = {}
    for g in a.groups():
        if g.rule == "bp" and len(g.runs) > 1:
            stacks = np.stack([a.arrays[f"rdm/{run}"] for run in g.runs])  # [seeds, layers, n, n]
            ceilings[g.model] = {layer: list(noise_ceiling(stacks[:, k], method))
                                 for k, layer in enumerate(a.layers(g.runs[0]))}
    return ceilings


def rsa_summary(results: dict, arrays: dict, method: str = "corr", label_method: str = "tau-a") -> dict:
    """{"comparison", "label_comparison", "labels", "untrained_labels", "bp": {run: {layer: similarity}},
    "ceiling"}: similarities to the label RDM by `label_method`, between networks' RDMs by `method`; "bp" holds
    the runs of other rules with a BP run of the same model and seed and the same layers."""
    a, labels = Analysis(results, arrays), arrays["rdm/labels"]
    summary = {"comparison": method, "label_comparison": label_method, "labels": {}, "untrained_labels": {}, "bp": {},
               "ceiling": _ceilings(a, method)}
    for run in results["runs"]:
        summary["labels"][run] = _per_layer(a, run, lambda k: labels, label_method)
        untrained = arrays.get(f"rdm_untrained/{run}")
        if untrained is not None:
            summary["untrained_labels"][run] = {layer: _similarity(untrained[k], labels, label_method)
                                                for k, layer in enumerate(a.layers(run))}
        bp = bp_run_of(results["runs"], run)
        if bp not in (None, run) and a.layers(bp) == a.layers(run):
            summary["bp"][run] = _per_layer(a, run, lambda k: arrays[f"rdm/{bp}"][k], method)
    return summary

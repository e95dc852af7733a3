"""stats.csv: every rule's final accuracy, white-box robustness and RDM similarity to the labels and to BP
(beside BP's noise ceiling across seeds) with a 95 % interval, and each rule against BP as a paired
difference with its interval and paired t-test.

One row per (quantity, model, rule[, seed]): `versus` is empty for an estimate, "bp" for a difference to
BP paired by seed (or an RDM compared with the same seed's BP run), "labels" for an RDM comparison with the
label RDM, "bp seeds" for the noise ceiling of BP's RDMs across seeds; `n` counts the seeds (or images)
behind it and `method` names the interval. `p_value` is each paired test's own; `p_holm` the same test
adjusted (Holm) for every paired test in the table.
"""

import math

from .choices import comparison_name
from .results import is_true_gradient, load_analysis
from .rsa_summary import rsa_summary
from .stats import holm, paired_difference, rdm_bootstrap, t_interval

SEEDS_T = "t interval over seeds"
ACCURACY_T = "t interval over seeds, clipped to [0, 1]"
PAIRED = "paired t over seeds (interval of the differences, two-sided test)"


def _seed_values(a) -> dict:
    """{quantity: {run: value}}: final test and validation accuracy, and accuracy under each white-box attack
    (the true input gradient; a spiking network's is its surrogate gradient)."""
    values = {}
    for run, history in a.results.get("training", {}).items():
        for key in ("test_acc", "val_acc"):
            last = (history.get(key) or [None])[-1]
            if last is not None and math.isfinite(last):  # a split not evaluated is null or NaN
                values.setdefault(f"{key} (final epoch)", {})[run] = last
    robustness = a.results.get("robustness", {})
    for run, attacks in robustness.get("curves", {}).items():
        for attack, modes in attacks.items():
            for eps, acc in zip(robustness["eps"], modes.get("true", [])):
                values.setdefault(f"{attack} accuracy at eps={eps:g} (white box)", {})[run] = acc
    return values


def seed_rows(a) -> list[dict]:
    """Per group: the mean over seeds with its t interval; per non-BP group: the paired difference to BP."""
    rows, groups = [], a.groups()
    for quantity, by_run in _seed_values(a).items():
        for g in groups:
            runs = [r for r in g.runs if r in by_run]
            if not runs:
                continue
            mean, low, high = t_interval([by_run[r] for r in runs], bounds=(0.0, 1.0))  # every quantity is an accuracy
            rows.append(dict(quantity=quantity, model=g.model, rule=g.rule, seed="", versus="", n=len(runs),
                             estimate=mean, low=low, high=high, p_value=math.nan, method=ACCURACY_T))
            rows += _versus_bp(quantity, g, groups, by_run)
    return rows


def _versus_bp(quantity, g, groups, by_run) -> list[dict]:
    """The difference of group `g` to the BP group of its model, over the seeds both have."""
    bp = next((b for b in groups if b.model == g.model and is_true_gradient(b.rule)), None)
    if bp is None or is_true_gradient(g.rule):
        return []
    own, reference = dict(zip(g.seeds, g.runs)), dict(zip(bp.seeds, bp.runs))
    seeds = [s for s in own if s in reference and own[s] in by_run and reference[s] in by_run]
    if not seeds:
        return []
    mean, low, high, p = paired_difference([by_run[own[s]] for s in seeds], [by_run[reference[s]] for s in seeds])
    return [dict(quantity=quantity, model=g.model, rule=g.rule, seed="", versus=bp.rule, n=len(seeds),
                 estimate=mean, low=low, high=high, p_value=p, method=PAIRED)]


def rdm_rows(a, draws: int = 1000, seed: int = 0, method: str = "tau-a") -> list[dict]:
    """Each run's and each rule's RDM similarity to the label RDM per layer: per run, a bootstrap over the
    representation sample's images; per rule, the t interval over its seeds' estimates."""
    labels, rows = a.arrays.get("rdm/labels"), []
    if labels is None:
        return rows
    n, by_layer, groups = len(labels), {}, a.groups()
    for g in groups:
        per_seed = []
        for run, run_seed in zip(g.runs, g.seeds):
            intervals = rdm_bootstrap(a.arrays[f"rdm/{run}"], labels, method, draws, seed)
            per_seed.append(intervals[:, 0])
            for layer, estimate in zip(a.layers(run), intervals[:, 0]):
                by_layer.setdefault(layer, {})[run] = float(estimate)
            rows += [dict(quantity=f"RDM similarity to labels/{layer}", model=g.model, rule=g.rule, seed=run_seed,
                          versus="labels", n=n, estimate=est, low=low, high=high, p_value=math.nan,
                          method=f"{comparison_name(method)}; percentile bootstrap over {n} images, {draws} draws")
                     for layer, (est, low, high) in zip(a.layers(run), intervals)]
        for k, layer in enumerate(a.layers(g.runs[0])):
            mean, low, high = t_interval([values[k] for values in per_seed])
            rows.append(dict(quantity=f"RDM similarity to labels/{layer}", model=g.model, rule=g.rule, seed="",
                             versus="labels", n=len(per_seed), estimate=mean, low=low, high=high,
                             p_value=math.nan, method=f"{comparison_name(method)}; {SEEDS_T}"))
    for layer, by_run in by_layer.items():  # each rule against BP, paired by seed
        for g in groups:
            rows += [dict(row, versus="bp", method=f"{comparison_name(method)}; {PAIRED}")
                     for row in _versus_bp(f"RDM similarity to labels/{layer}", g, groups, by_run)]
    return rows


def _ceiling_row(bp, layer: str, ceilings: dict, method: str) -> list[dict]:
    """The noise ceiling of the BP seeds' RDMs of `layer` (none with one seed), from the RSA summary."""
    if layer not in ceilings.get(bp.model, {}):
        return []
    lower, upper = ceilings[bp.model][layer]
    return [dict(quantity=f"RDM noise ceiling of BP/{layer}", model=bp.model, rule=bp.rule, seed="", versus="bp seeds",
                 n=len(bp.runs), estimate=lower, low=lower, high=upper, p_value=math.nan,
                 method=f"{comparison_name(method)}; low: each seed vs the mean of the others (lower bound), "
                        "high: vs the mean of all (upper bound)")]


def _to_bp_row(g, layer: str, to_bp: dict, method: str) -> list[dict]:
    """Group `g`'s RDM similarity of `layer` to BP's of the same seed (the RSA summary's, per run): mean and t
    interval over seeds."""
    values = [to_bp[run][layer] for run in g.runs if run in to_bp]
    if not values:
        return []
    mean, low, high = t_interval(values)
    return [dict(quantity=f"RDM similarity to BP/{layer}", model=g.model, rule=g.rule, seed="", versus="bp",
                 n=len(values), estimate=mean, low=low, high=high, p_value=math.nan,
                 method=f"{comparison_name(method)}; the same seed's BP run; {SEEDS_T}")]


def bp_rdm_rows(a, method: str = "corr") -> list[dict]:
    """Per layer: the noise ceiling of the BP seeds (how similar BP is to itself across seeds: the most a rule
    can reach) and each other rule's RDM similarity to BP's of the same seed, as the analysis's RDM summary
    holds them (computed here for an analysis without one, or of another comparison)."""
    summary = a.results.get("rsa", {})
    if summary.get("comparison") != method:
        summary = rsa_summary(a.results, a.arrays, method)
    rows, groups = [], a.groups()
    for bp in (g for g in groups if is_true_gradient(g.rule)):
        others = [g for g in groups if g.model == bp.model and not is_true_gradient(g.rule)
                  and a.layers(g.runs[0]) == a.layers(bp.runs[0])]
        for layer in a.layers(bp.runs[0]):
            rows += _ceiling_row(bp, layer, summary["ceiling"], method)
            for g in others:
                rows += _to_bp_row(g, layer, summary["bp"], method)
    return rows


def stats_rows(analysis, draws: int = 1000, seed: int = 0, method: str = "corr",
               label_method: str = "tau-a") -> list[dict]:
    """Every row of stats.csv for an analysis (a folder or an `Analysis`): similarities to the label RDM by
    `label_method`, between RDMs by `method`; `p_holm` adjusts the table's paired tests against BP as one
    family (Holm), so a reader may take any of them at the stated level."""
    a = load_analysis(analysis)
    rows = seed_rows(a) + rdm_rows(a, draws, seed, label_method) + bp_rdm_rows(a, method)
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows])):
        row["p_holm"] = adjusted
    return rows


__all__ = ["stats_rows"]

"""Intervals and tests for comparing rules: over seeds (Student's t: with 3 seeds a bootstrap has only 10
distinct resamples and under-covers), over images (a bootstrap of the probe images for RDM comparisons, as
rsatoolbox's `bootstrap_sample_pattern` draws it), and each rule against BP as a paired difference.

`bioplaus_analysis.stats_table` turns an analysis into the rows of stats.csv written here.
"""

import csv
import io
import math
from pathlib import Path

import numpy as np
from rsatoolbox.rdm import RDMs, compare
from scipy import stats as scipy_stats

from trainers.store.runfiles import atomic_write

from .results import STATS
from .rsa import compare_rdms

LEVEL = 0.95
COLUMNS = ("quantity", "model", "rule", "seed", "versus", "n", "estimate", "low", "high", "p_value", "p_holm",
           "method")


def t_interval(values, level: float = LEVEL, bounds=None) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t interval of the mean of `values`; NaN bounds for fewer than 2. With
    `bounds` (lowest, highest), the interval is clipped to the range the quantity can take (an accuracy's [0, 1])."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = scipy_stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, low, high


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment of a family of p values (NaN: no test, left out and returned as NaN): the
    i-th smallest of m becomes max over j ≤ i of min(1, (m − j + 1) p_(j)), controlling the family-wise error."""
    p = np.asarray(p_values, dtype=float)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    adjusted, running = np.full(len(p), math.nan), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def paired_difference(values, reference, level: float = LEVEL) -> tuple[float, float, float, float]:
    """(mean difference, low, high, p) of `values` − `reference` paired by position (seed): the t interval of
    the differences and the two-sided paired t-test; NaN interval and p for fewer than 2 pairs."""
    difference = np.asarray(values, dtype=float) - np.asarray(reference, dtype=float)
    mean, low, high = t_interval(difference, level)
    ok = np.isfinite(difference)
    p = math.nan
    if ok.sum() >= 2:
        p = 1.0 if np.all(difference[ok] == difference[ok][0]) and difference[ok][0] == 0 else \
            float(scipy_stats.ttest_1samp(difference[ok], 0.0).pvalue)
    return mean, low, high, p


def bootstrap_interval(data, statistic, draws: int = 1000, seed: int = 0, level: float = LEVEL):
    """(estimate, low, high): `statistic(data)` and the percentile interval of it over `draws` resamples of
    the rows of `data` with replacement."""
    data = np.asarray(data)
    rng = np.random.default_rng(seed)
    values = np.array([statistic(data[rng.integers(0, len(data), len(data))]) for _ in range(draws)])
    low, high = np.nanpercentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(statistic(data)), float(low), float(high)


def _similarities(vectors, reference, method: str) -> np.ndarray:
    """Similarity of each row of `vectors` [m, pairs] to `reference` [pairs], NaN pairs left out: cosine by a
    product, other methods by rsatoolbox's `compare`."""
    if method != "cosine":
        return np.asarray(compare(RDMs(vectors), RDMs(reference[None]), method=method), dtype=float)[:, 0]
    keep = np.isfinite(reference)
    x, y = vectors[:, keep], reference[keep]
    # elementwise sums: a BLAS product of one vector pair per draw costs more in thread start-up than in work
    return (x * y).sum(1) / (np.sqrt((x * x).sum(1) * (y * y).sum()) + 1e-300)


def resampled_similarity(rdms, reference, idx, method: str = "corr") -> np.ndarray:
    """Similarity of each of `rdms` [m, n, n] to `reference` [n, n] on the images `idx` drawn with
    replacement, the pairs of an image with its own copy left out (as rsatoolbox's `subsample_pattern`)."""
    upper = np.triu_indices(len(idx), k=1)
    i, j = idx[upper[0]], idx[upper[1]]
    vectors, target = rdms[:, i, j], reference[i, j]  # fancy indexing: copies, safe to modify
    same = i == j
    vectors[:, same], target[same] = np.nan, np.nan
    return _similarities(vectors, target, method)


def weighted_cosines(rdms, reference, weights) -> np.ndarray:
    """[draws, m] cosine similarities of `rdms` [m, n, n] to `reference` [n, n] when image k appears
    `weights[b, k]` times in draw b: each pair of distinct images counts w_k·w_l times, and the pairs of
    an image with its own copy add nothing (the diagonal is left out), exactly as `resampled_similarity`
    leaves them out; three matrix products per RDM instead of a gather per draw."""
    w = np.asarray(weights, dtype=float)
    off = 1.0 - np.eye(len(reference))  # the image-with-itself pairs count for nothing
    reference = reference * off
    quadratic = lambda matrix: np.einsum("bi,bi->b", w @ matrix, w)  # noqa: E731  wᵀ M w per draw
    yy = quadratic(reference * reference)
    return np.stack([quadratic(r * reference) / (np.sqrt(quadratic(r * r * off) * yy) + 1e-300) for r in rdms],
                    axis=1)


def weighted_pearsons(rdms, reference, weights) -> np.ndarray:
    """[draws, m] Pearson correlations of `rdms` [m, n, n] with `reference` [n, n] when image k appears
    `weights[b, k]` times in draw b: the pairs weighted as in `weighted_cosines`, each moment a quadratic form
    (the correlation of the centred pairs: what `resampled_similarity` gives with method "corr")."""
    w = np.asarray(weights, dtype=float)
    off = 1.0 - np.eye(len(reference))
    quadratic = lambda matrix: np.einsum("bi,bi->b", w @ (matrix * off), w)  # noqa: E731  Σ over weighted pairs
    total = quadratic(np.ones_like(reference))
    mean_y = quadratic(reference) / total
    var_y = quadratic(reference * reference) / total - mean_y ** 2
    columns = []
    for r in rdms:
        mean_x = quadratic(r) / total
        covariance = quadratic(r * reference) / total - mean_x * mean_y
        var_x = quadratic(r * r) / total - mean_x ** 2
        columns.append(covariance / (np.sqrt(var_x * var_y) + 1e-300))
    return np.stack(columns, axis=1)


def _tau_a_sums(x: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[draws] Σ over entry pairs (e: positive, f: not) of w_e w_f sign(x_e − x_f), entries `x` [E] sorted,
    weights `w` [draws, E]: each positive entry against the negative weight below and above its value. Weights are
    integers, so the sums are exact in float64 whatever their order."""
    if np.all(x[1:] != x[:-1]):  # no ties: each negative entry against the positive weight below it
        wn = w[:, ~positive]
        below = np.cumsum(w, axis=1)[:, ~positive] - np.cumsum(wn, axis=1)  # positive weight below each
        total_negative = wn.sum(1)
        return (w.sum(1) - total_negative) * total_negative - 2 * (wn * below).sum(1)
    negative = np.where(positive, 0.0, w)
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])  # groups of equal x: a tie counts 0
    group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(x)]))
    per_group = np.add.reduceat(negative, starts, axis=1)  # [draws, groups]
    below = np.cumsum(per_group, axis=1) - per_group
    above = per_group.sum(1, keepdims=True) - below - per_group
    return (np.where(positive, w, 0.0) * (below - above)[:, group]).sum(1)


def weighted_tau_as(rdms, reference, weights, chunk: int = 64) -> np.ndarray:
    """[draws, m] Kendall τ_A of `rdms` [m, n, n] with a 0/1 `reference` [n, n] (the label RDM) when image k
    appears weights[d, k] times in draw d, its pairs with its own copies left out: rsatoolbox's τ_A of each
    resampled vector (tested equal), from one sort per RDM instead of one per draw. Against a binary reference
    only pairs of one same-class and one different-class entry are not tied."""
    reference = np.asarray(reference, dtype=float)
    if not _binary(reference):
        raise ValueError("the fast τ_A bootstrap needs a 0/1 reference RDM (the label RDM)")
    i, j = np.triu_indices(len(reference), k=1)
    weights = np.asarray(weights, dtype=float)
    out = np.empty((len(weights), len(rdms)))
    entries = []
    for rdm in rdms:
        order = np.argsort(np.asarray(rdm)[i, j], kind="stable")
        entries.append((order, np.asarray(rdm)[i, j][order], reference[i, j][order] > 0.5))
    for start in range(0, len(weights), chunk):
        part = weights[start:start + chunk]
        weight = part[:, i] * part[:, j]  # [draws, E]: entry (i, j) appears c_i · c_j times
        total = weight.sum(1)
        for m, (order, x, positive) in enumerate(entries):
            out[start:start + chunk, m] = _tau_a_sums(x, positive, weight[:, order]) / (total * (total - 1) / 2)
    return out


def _binary(reference) -> bool:
    upper = np.asarray(reference)[np.triu_indices(len(reference), k=1)]
    return bool(np.isin(upper, (0.0, 1.0)).all())


FAST_BOOTSTRAPS = {"cosine": weighted_cosines, "corr": weighted_pearsons, "tau-a": weighted_tau_as}


def noise_ceiling(rdms, method: str = "corr") -> tuple[float, float]:
    """(lower, upper) bound of the similarity any RDM can reach to the group that `rdms` [m ≥ 2, n, n] sample
    (Nili et al. 2014): the mean similarity of each RDM to the mean of the others (lower) and to the mean of
    all (upper, which includes the RDM itself)."""
    rdms = np.asarray(rdms, dtype=float)
    if len(rdms) < 2:
        raise ValueError("a noise ceiling needs at least two RDMs")
    similarity = lambda a, b: float(compare_rdms(np.stack([a, b]), method)[0, 1])  # noqa: E731
    lower = [similarity(r, np.delete(rdms, k, axis=0).mean(0)) for k, r in enumerate(rdms)]
    upper = [similarity(r, rdms.mean(0)) for r in rdms]
    return float(np.mean(lower)), float(np.mean(upper))


def rdm_bootstrap(rdms, reference, method: str = "corr", draws: int = 1000, seed: int = 0,
                  level: float = LEVEL) -> np.ndarray:
    """[m, 3] (estimate, low, high) of the similarity of each of `rdms` [m, n, n] to `reference` [n, n], with
    the percentile interval of a bootstrap over the n images (`resampled_similarity` per draw; cosine, Pearson
    and τ_A against a 0/1 reference by `FAST_BOOTSTRAPS`, which give the same numbers)."""
    rdms, reference = np.asarray(rdms, dtype=float), np.asarray(reference, dtype=float)
    n = len(reference)
    rng = np.random.default_rng(seed)
    estimate = resampled_similarity(rdms, reference, np.arange(n), method)
    samples = [rng.integers(0, n, n) for _ in range(draws)]
    if method in FAST_BOOTSTRAPS and (method != "tau-a" or _binary(reference)):
        counts = np.stack([np.bincount(idx, minlength=n) for idx in samples])
        values = FAST_BOOTSTRAPS[method](rdms, reference, counts)
    else:
        values = np.stack([resampled_similarity(rdms, reference, idx, method) for idx in samples])
    low, high = np.nanpercentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2], axis=0)
    return np.stack([estimate, low, high], axis=1)


def write_stats(out, rows: list[dict]) -> Path:
    """stats.csv in `out`, atomically: one line per row, the columns of `COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else
                             "" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write(Path(out) / STATS, buffer.getvalue())
    return Path(out) / STATS

"""Intervals and tests: Student-t over seeds, paired differences to BP, bootstrap over images for RDM
comparisons (the same resampling as rsatoolbox's), their coverage, and stats.csv."""

import csv
import math

import numpy as np
import pytest
from rsatoolbox.rdm import RDMs, compare
from scipy import stats as scipy_stats

from bioplaus_analysis.results import write_results
from bioplaus_analysis.rsa import compare_rdms, label_rdm, rdm_matrix
from bioplaus_analysis.stats import (bootstrap_interval, paired_difference, rdm_bootstrap, resampled_similarity,
                                     t_interval, weighted_cosines, weighted_pearsons, weighted_tau_as,
                                     write_stats)
from bioplaus_analysis.stats_table import stats_rows

from test_figures import _fixture_results


def test_t_interval_by_hand_and_none_for_one_value():
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / np.sqrt(3)  # t(0.975, 2 df) · sd / √n
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    mean, low, high = t_interval([0.7])
    assert mean == 0.7 and np.isnan(low) and np.isnan(high)


def test_an_accuracy_interval_stays_within_its_range():
    near_zero = [0.0, 0.01, 0.05]
    mean, low, high = t_interval(near_zero)
    assert low < 0  # the plain t interval crosses 0 ...
    clipped = t_interval(near_zero, bounds=(0.0, 1.0))
    assert clipped == pytest.approx((mean, 0.0, high))  # ... the bounded one stops there and keeps its top
    assert t_interval([0.97, 0.99, 1.0], bounds=(0.0, 1.0))[2] == 1.0


def test_paired_difference_is_the_paired_t_test():
    rule, bp = [0.80, 0.83, 0.79, 0.85], [0.86, 0.87, 0.85, 0.86]
    mean, low, high, p = paired_difference(rule, bp)
    assert mean == pytest.approx(np.mean(np.subtract(rule, bp)))
    assert p == pytest.approx(scipy_stats.ttest_rel(rule, bp).pvalue)
    assert low < mean < high < 0
    assert np.isnan(paired_difference([0.8], [0.9])[3])


def test_intervals_cover_the_true_mean_at_the_nominal_rate():
    rng = np.random.default_rng(1)
    samples = [rng.normal(3.0, 2.0, 40) for _ in range(100)]
    boot = sum(low <= 3.0 <= high for _, low, high in (bootstrap_interval(x, np.mean, 500, seed=k)
                                                        for k, x in enumerate(samples)))
    student = sum(low <= 3.0 <= high for _, low, high in map(t_interval, samples))
    assert boot >= 90 and student >= 90, (boot, student)


@pytest.mark.parametrize("method, fast", [("cosine", weighted_cosines), ("corr", weighted_pearsons),
                                          ("tau-a", weighted_tau_as)])
def test_a_resampled_rdm_comparison_equals_rsatoolbox_on_the_same_draw(method, fast):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 6)
    rdms = np.stack([rdm_matrix(rng.normal(size=(24, 10)) + labels[:, None] * k) for k in (0.0, 1.0)])
    idx = rng.integers(0, 24, 24)
    ours = resampled_similarity(rdms, label_rdm(labels), idx, method)
    theirs = RDMs(np.concatenate([rdms, label_rdm(labels)[None]]), pattern_descriptors={"index": np.arange(24)})
    theirs = theirs.subsample_pattern("index", idx)
    expected = np.asarray(compare(theirs[[0, 1]], theirs[2], method=method))[:, 0]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    weights = np.bincount(idx, minlength=24)[None]  # the same draw as image multiplicities
    rdms[0][np.diag_indices(24)] = 5.0  # a diagonal that is not 0 is left out as well
    np.testing.assert_allclose(fast(rdms, label_rdm(labels), weights)[0], ours, rtol=1e-10)
    intervals = rdm_bootstrap(rdms, label_rdm(labels), method, draws=200)
    slow = rdm_bootstrap(rdms, label_rdm(labels), "spearman", draws=200)  # per draw, through rsatoolbox's compare
    assert np.all(slow[:, 1] <= slow[:, 0]) and np.all(slow[:, 0] <= slow[:, 2])
    np.testing.assert_allclose(intervals[:, 0],
                               [compare_rdms(np.stack([r, label_rdm(labels)]), method)[0, 1] for r in rdms])
    assert np.all(intervals[:, 1] <= intervals[:, 0]) and np.all(intervals[:, 0] <= intervals[:, 2])
    assert intervals[1, 0] > intervals[0, 0]  # the class-structured patterns are closer to the labels


def test_the_fast_tau_a_counts_ties_as_rsatoolbox_does():
    """Tied dissimilarities (here a quarter of the entries share four values) count neither way; over draws with
    repeated images the fast τ_A equals rsatoolbox's on each resampled RDM."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(3), 5)
    rdm = np.round(rdm_matrix(rng.normal(size=(15, 4)) + labels[:, None]), 1)  # coarse values: many ties
    draws = [rng.integers(0, 15, 15) for _ in range(6)] + [np.arange(15)]
    weights = np.stack([np.bincount(idx, minlength=15) for idx in draws])
    fast = weighted_tau_as(rdm[None], label_rdm(labels), weights)[:, 0]
    slow = [resampled_similarity(rdm[None], label_rdm(labels), idx, "tau-a")[0] for idx in draws]
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    with pytest.raises(ValueError, match="0/1 reference"):
        weighted_tau_as(rdm[None], rdm, weights)


def test_the_default_rdm_comparison_is_centred_so_a_shared_mean_level_is_not_similarity():
    """Two RDMs with unrelated structure on the same high mean level: the uncentred cosine calls them
    near-identical, Pearson r (the default) does not."""
    rng = np.random.default_rng(1)
    a, b = (rdm_matrix(rng.normal(size=(30, 50))) for _ in range(2))
    assert compare_rdms(np.stack([a, b]), "cosine")[0, 1] > 0.95
    assert abs(compare_rdms(np.stack([a, b]))[0, 1]) < 0.2


def test_stats_csv_holds_every_rule_with_its_interval_and_the_paired_difference_to_bp(tmp_path):
    results, arrays = _fixture_results(rules=("dfa", "bp"), seeds=(0, 1))
    results["training"]["snn-dfa-s1"]["test_acc"] = [0.5, 0.6]
    results["training"]["snn-bp-s1"]["test_acc"] = [0.5, 0.9]
    write_results(tmp_path, results, arrays)
    rows = stats_rows(tmp_path, draws=50)
    path = write_stats(tmp_path, rows)
    with path.open() as handle:
        table = list(csv.DictReader(handle))
    final = {(r["rule"], r["versus"]): r for r in table if r["quantity"] == "test_acc (final epoch)"}
    assert float(final[("dfa", "")]["estimate"]) == pytest.approx(0.65) and final[("dfa", "")]["n"] == "2"
    difference = final[("dfa", "bp")]
    assert float(difference["estimate"]) == pytest.approx(((0.7 - 0.7) + (0.6 - 0.9)) / 2)
    assert float(difference["p_value"]) == pytest.approx(scipy_stats.ttest_rel([0.7, 0.6], [0.7, 0.9]).pvalue)
    assert ("bp", "bp") not in final
    tests = [r for r in table if r["p_value"]]  # every paired test, adjusted together (Holm)
    assert len(tests) > 1 and all(float(r["p_holm"]) >= float(r["p_value"]) for r in tests)
    assert all(r["p_holm"] == "" for r in table if not r["p_value"])
    smallest = min(tests, key=lambda r: float(r["p_value"]))
    assert float(smallest["p_holm"]) == pytest.approx(min(1.0, len(tests) * float(smallest["p_value"])), rel=1e-5)
    per_image = [r for r in table if r["quantity"] == "RDM similarity to labels/fc1" and r["seed"] == "0"]
    assert len(per_image) == 2 and all(float(r["low"]) <= float(r["estimate"]) <= float(r["high"]) for r in per_image)
    assert {r["quantity"] for r in table} >= {"fgsm accuracy at eps=0.1 (white box)", "RDM similarity to labels/out"}


def test_holm_adjusts_step_down_by_hand():
    from bioplaus_analysis.stats import holm
    # sorted 0.01, 0.03, 0.04 of m = 3: 3·0.01, max(0.03, 2·0.03), max(0.06, 1·0.04); NaN is no test
    assert holm([0.01, 0.04, 0.03, math.nan])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([0.01, 0.04, 0.03, math.nan])[3])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1


def test_the_noise_ceiling_of_identical_rdms_is_one_and_of_two_rdms_is_their_similarity():
    from bioplaus_analysis.stats import noise_ceiling
    rng = np.random.default_rng(2)
    base = rdm_matrix(rng.normal(size=(20, 8)))
    assert noise_ceiling([base, base, base]) == pytest.approx((1.0, 1.0))
    a, b = (rdm_matrix(rng.normal(size=(20, 8)) * 0.5 + rng.normal(size=(20, 8))) for _ in range(2))
    lower, upper = noise_ceiling([a, b])  # with two seeds: each vs the other; each vs their mean
    assert lower == pytest.approx(compare_rdms(np.stack([a, b]))[0, 1])
    mean = (a + b) / 2
    assert upper == pytest.approx(np.mean([compare_rdms(np.stack([r, mean]))[0, 1] for r in (a, b)]))
    assert lower < upper


def test_stats_csv_holds_the_bp_noise_ceiling_and_each_rules_similarity_to_bp():
    results, arrays = _fixture_results(rules=("dfa", "bp"), seeds=(0, 1))
    from bioplaus_analysis.results import Analysis
    rows = stats_rows(Analysis(results, arrays), draws=20)
    ceiling = [r for r in rows if r["quantity"].startswith("RDM noise ceiling of BP/")]
    to_bp = [r for r in rows if r["quantity"].startswith("RDM similarity to BP/")]
    assert ceiling and all(r["rule"] == "bp" and r["n"] == 2 and r["low"] <= r["high"] <= 1 for r in ceiling)
    assert to_bp and all(r["rule"] == "dfa" and r["versus"] == "bp" and r["n"] == 2 for r in to_bp)
    assert {r["quantity"].split("/")[1] for r in ceiling} == {r["quantity"].split("/")[1] for r in to_bp}

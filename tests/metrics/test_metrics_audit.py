"""The per-example audit's statistics on hand-built distributions with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics.audit import (
    DELTA,
    EPS_CAP,
    bucket_edges,
    bucket_points,
    eps_resolution,
    epsilon,
    final_score,
    forget_score,
    klom,
    logit_confidence,
    permutation_forget_scores,
    rank_auc,
    rule_epsilons,
    ulira,
    ulira_auc,
)


def _brute_force_epsilon(u: np.ndarray, g: np.ndarray) -> float:
    """The challenge's ε written as plainly as possible: every rule of metric.py's two
    families on its own thresholds (torch.linspace in float32 for the single ones, numpy
    linspace for the intervals), each rule's rates counted one by one."""
    pos, neg = (g, u) if np.median(g) > np.median(u) else (u, g)
    r_pos, r_neg = np.ptp(pos), np.ptp(neg)
    with np.errstate(divide="ignore", invalid="ignore"):
        if min(r_pos, r_neg) / max(r_pos, r_neg) < 0.01:
            return EPS_CAP
    fprs, fnrs = [], []  # per rule, in arrays of rules (tuples of 160 000 rules are slow)
    low, high = min(pos.min(), neg.min()), max(pos.max(), neg.max())
    count = math.ceil((high - low) * 100)
    ends = torch.tensor([low, high], dtype=torch.float64)
    for t in torch.linspace(ends[0], ends[1], count).double().numpy():
        fprs.append([(neg >= t).mean()])
        fnrs.append([(pos < t).mean()])
    peaky, other = (neg, pos) if r_pos >= r_neg else (pos, neg)
    width = np.ptp(peaky)
    start, stop = peaky.min() + width - 2.0, peaky.max() + 2.0
    for right in np.linspace(start, stop, math.ceil((stop - start) * 100)):
        lefts = np.linspace(right - width - 2.0, right - width + 2.0, 400)[:, None]
        tpr = ((lefts <= peaky) & (peaky <= right)).mean(1)  # one rule per left end
        fprs.append(((lefts <= other) & (other <= right)).mean(1))
        fnrs.append(1 - tpr)
    eps = rule_epsilons(np.concatenate(fprs), np.concatenate(fnrs))
    return float(min(np.nanmax(np.r_[0.0, eps]), EPS_CAP))


def test_logit_confidence_is_the_margin_and_stays_finite():
    logits = np.array([[2.0, 1.0, -1.0], [0.5, 3.0, 3.0], [30.0, 0.0, 0.0]], dtype=np.float32)
    labels = np.array([0, 2, 0])
    z = logits.astype(np.float64)
    expected = [z[i, y] - logsumexp(np.delete(z[i], y)) for i, y in enumerate(labels)]
    np.testing.assert_allclose(logit_confidence(logits, labels), expected, rtol=1e-12)
    extreme = logit_confidence(np.array([[1e4, 0.0], [0.0, 1e4]]), np.array([0, 0]))
    assert np.isfinite(extreme).all() and extreme[0] > 700 and extreme[1] < -700


def test_rule_epsilons_perfect_discarded_and_ordinary():
    eps = rule_epsilons(np.array([0.0, 0.0, 0.5, 0.1]), np.array([0.0, 0.5, 0.0, 0.2]))
    assert eps[0] == np.inf
    assert np.isnan(eps[1]) and np.isnan(eps[2])
    expected = max(math.log(1 - DELTA - 0.1) - math.log(0.2),
                   math.log(1 - DELTA - 0.2) - math.log(0.1))
    assert eps[3] == pytest.approx(expected)


def test_perfect_separation_is_infinite_then_capped():
    rng = np.random.default_rng(0)
    u, g = rng.normal(0, 1, 16), rng.normal(10, 1, 16)
    assert epsilon(u, g) == EPS_CAP


def test_identical_samples_give_zero():
    sample = np.random.default_rng(1).normal(size=32)
    assert epsilon(sample, sample.copy()) == 0.0


def test_peaky_sample_hits_the_cap_and_a_wider_one_does_not():
    rng = np.random.default_rng(2)
    wide = rng.normal(0, 1, 32)
    peaky = 0.1 * rng.normal(size=32)
    ratio = np.ptp(peaky) / np.ptp(wide)
    assert epsilon(wide, peaky * (0.005 / ratio)) == EPS_CAP  # range 0.5 % of the other's
    assert epsilon(wide, peaky * (0.05 / ratio)) < EPS_CAP  # 5 %: an ordinary estimate


def test_one_sided_zero_rate_rule_is_discarded():
    golden = np.arange(10.0)
    unlearned = np.r_[np.arange(9.0) + 0.5, 100.0]
    # a threshold in (9, 100) has FPR = 0 and FNR = 0.9: kept, it alone would make ε infinite
    eps = epsilon(unlearned, golden)
    assert eps < 1.0
    assert eps == pytest.approx(_brute_force_epsilon(unlearned, golden), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_vectorised_epsilon_equals_the_rule_by_rule_definition(seed):
    rng = np.random.default_rng(seed)
    u = rng.normal(rng.uniform(-1, 1), rng.uniform(0.2, 1.5), size=(8, 4))
    g = rng.normal(0, 1, size=(10, 4))
    u[:, 3] = np.round(u[:, 3], 1)  # ties, and values on a threshold grid
    g[:, 3] = np.round(g[:, 3], 1)
    got = epsilon(u, g)
    expected = [_brute_force_epsilon(u[:, i], g[:, i]) for i in range(4)]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_buckets_and_resolution():
    assert (eps_resolution(512), len(bucket_edges(512))) == (7, 14)
    assert (eps_resolution(16), len(bucket_edges(16))) == (3, 6)
    points = bucket_points(np.array([0.0, 0.49, 0.5, 1.2, 2.99, 3.0, 50.0]), 16)
    np.testing.assert_array_equal(points, [1, 1, 0.5, 0.25, 2.0**-5, 0, 0])
    assert forget_score(np.array([0.0, 0.5]), 16) == 0.75
    assert final_score(0.5, 90.0, 100.0, 80.0, 100.0) == pytest.approx(0.36)
    with pytest.raises(UnlearnError):
        eps_resolution(2)


def test_null_claim_two_identical_gaussian_samples_of_64_models():
    # 500 examples: F's spread over repeats is about 0.005 and the median ε's about 0.03, so
    # ±0.02 and ±0.15 are 4 standard errors plus the claim's rounding (0.19, 1.6)
    rng = np.random.default_rng(4)
    eps = epsilon(rng.normal(size=(64, 500)), rng.normal(size=(64, 500)))
    assert forget_score(eps, 64) == pytest.approx(0.19, abs=0.02)
    assert float(np.median(eps)) == pytest.approx(1.6, abs=0.15)


def test_permutation_null_of_one_gaussian_is_the_f_of_two_samples_of_it():
    # 2K = 64 draws of one Gaussian: every re-split is two independent 32-model samples, so the
    # F values centre on the F of two fresh samples (about 0.18 at 500 examples), with a spread
    # over re-splits of about 0.005 (the spread over 500 independent examples' points)
    rng = np.random.default_rng(8)
    k, n = 32, 500
    scores = permutation_forget_scores(rng.normal(size=(2 * k, n)), k, 8, seed=0)
    fresh = forget_score(epsilon(rng.normal(size=(k, n)), rng.normal(size=(k, n))), k)
    assert scores.shape == (8,)
    assert fresh == pytest.approx(0.18, abs=0.02)
    assert scores.mean() == pytest.approx(fresh, abs=0.015)
    assert 0.001 < scores.std(ddof=1) < 0.015


def test_permutation_null_of_two_apart_ensembles_spans_mixed_and_separated_splits():
    # half the pool is shifted by 6 sd: a split with all shifted rows on one side scores F = 0,
    # a balanced split is two samples of the same mixture (F well above 0); the re-splits mix
    # both, so the permutation null is not the (low) F of the original halves
    rng = np.random.default_rng(9)
    k, n = 8, 40
    pool = np.concatenate([rng.normal(size=(k, n)), rng.normal(6.0, 1.0, size=(k, n))])
    assert forget_score(epsilon(pool[k:], pool[:k]), k) == 0.0
    scores = permutation_forget_scores(pool, k, 20, seed=1)
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert scores.mean() > 0.1 and scores.std(ddof=1) > 0.0
    # every split by hand, each ε computed afresh: the null's memo of the pool's rows (shared
    # by every re-split) changes no draw
    rng = np.random.default_rng(1)
    by_hand = [forget_score(epsilon(pool[order[k:]], pool[order[:k]]), k)
               for order in (rng.permutation(2 * k) for _ in range(20))]
    assert scores.tolist() == by_hand


def test_permutation_null_of_identical_models_is_a_perfect_score_every_time():
    # every model gives the same φ: ε = 0 on every example of every re-split, F = 1, sd 0
    pool = np.tile(np.random.default_rng(11).normal(size=(1, 20)), (8, 1))
    np.testing.assert_array_equal(permutation_forget_scores(pool, 4, 3, seed=0), 1.0)


def test_permutation_null_is_deterministic_by_seed():
    pool = np.random.default_rng(10).normal(size=(12, 30))
    np.testing.assert_array_equal(permutation_forget_scores(pool, 6, 5, seed=3),
                                  permutation_forget_scores(pool, 6, 5, seed=3))
    assert not np.array_equal(permutation_forget_scores(pool, 6, 5, seed=3),
                              permutation_forget_scores(pool, 6, 5, seed=4))


@pytest.mark.parametrize(("shape", "k", "permutations", "message"), [
    ((12, 30), 5, 10, r"shape \(2k, examples\) = \(10, n >= 1\), got \(12, 30\)"),
    ((12,), 6, 10, r"shape \(2k, examples\) = \(12, n >= 1\), got \(12,\)"),
    ((12, 0), 6, 10, r"got \(12, 0\)"),
    ((4, 30), 2, 10, r"integer k >= 3, got 2"),
    ((12, 30), 6, 1, r"integer permutations >= 2 \(an sd needs two values\), got 1"),
    ((12, 30), 6.0, 10, r"integer k >= 3, got 6.0"),
])
def test_permutation_null_rejects_bad_input(shape, k, permutations, message):
    with pytest.raises(UnlearnError, match=message):
        permutation_forget_scores(np.zeros(shape), k, permutations, seed=0)


def test_ulira_on_two_gaussians_of_known_separation():
    # per example φ_u ~ N(μ_x + dσ, σ²), φ_g ~ N(μ_x, σ²); the mean LLR over n examples is
    # normal with mean ±d²/2 and variance d²/n, so AUC = Φ(d √(n / 2))
    rng = np.random.default_rng(5)
    n, d, k = 4, 0.5, 400
    centre, sigma = rng.normal(0, 3, n), rng.uniform(0.5, 2, n)
    golden = rng.normal(centre, sigma, size=(k, n))
    unlearned = rng.normal(centre + d * sigma, sigma, size=(k, n))
    result = ulira(unlearned, golden, splits=5, seed=0)
    # One decision per (model, example): two unit Gaussians d apart give AUC Φ(d/√2) and,
    # at the midpoint, accuracy Φ(d/2). Pooled over n examples the gap grows by √n.
    assert result.auc == pytest.approx(norm.cdf(d / math.sqrt(2)), abs=0.03)
    assert result.acc == pytest.approx(norm.cdf(d / 2), abs=0.03)
    assert result.pooled_auc == pytest.approx(norm.cdf(d * math.sqrt(n / 2)), abs=0.05)
    assert result.llr.shape == (n,) and (result.llr > 0).all()
    null = ulira(rng.normal(centre, sigma, size=(k, n)), golden, splits=5, seed=0)
    assert null.auc == pytest.approx(0.5, abs=0.06)
    assert 0 <= null.tpr_at_1fpr <= null.tpr_at_5fpr <= 1


def test_ulira_separates_far_apart_ensembles_completely():
    rng = np.random.default_rng(6)
    result = ulira(rng.normal(12, 1, size=(16, 50)), rng.normal(0, 1, size=(16, 50)))
    assert result.auc == 1.0 and result.acc == 1.0 and result.tpr_at_1fpr == 1.0
    assert result.auc_std == 0.0


@pytest.mark.parametrize("decimals", [None, 1, 0])  # no ties, some, nearly all
def test_rank_auc_equals_scikit_learns_roc_auc_score(decimals):
    rng = np.random.default_rng(11)
    labels = rng.random(500) < 0.3
    scores = rng.normal(size=500) + labels
    if decimals is not None:
        scores = np.round(scores, decimals)
    assert rank_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert rank_auc([True, False], [1.0, 1.0]) == 0.5
    with pytest.raises(UnlearnError, match="one positive and one negative"):
        rank_auc(np.ones(3, dtype=bool), np.arange(3.0))


def test_ulira_auc_is_ulira_s_auc_from_the_same_splits():
    rng = np.random.default_rng(12)
    u, g = rng.normal(0.2, 1, size=(9, 30)), rng.normal(0, 1, size=(8, 30))
    assert ulira_auc(u, g, splits=7, seed=3) == ulira(u, g, splits=7, seed=3).auc
    assert ulira_auc(u, g, splits=7, seed=3) != ulira_auc(u, g, splits=7, seed=4)


def test_klom_identical_is_zero_and_clipped_values_meet():
    rng = np.random.default_rng(7)
    margins = rng.normal(size=(16, 30))
    same = klom(margins, margins.copy())
    np.testing.assert_allclose(same.per_example, 0.0, atol=1e-12)
    clipped = klom(np.full((4, 1), 1e6), np.full((4, 1), 100.0))
    assert clipped.per_example[0] == pytest.approx(0.0, abs=1e-12)  # both clip to +100


def test_klom_by_hand_from_the_reference_formula():
    # 20 bins over the pooled [min, max]; a value equal to the max is past the last bin.
    # u = 0, 0, 0, (1 dropped): p = 1 in bin 1. g = 0, .5, .5, .75: q = 1/4 in bin 1 -> log 4.
    u = np.array([[0.0], [0.0], [0.0], [1.0]])
    g = np.array([[0.0], [0.5], [0.5], [0.75]])
    assert klom(u, g).per_example[0] == pytest.approx(math.log(4), rel=1e-12)
    # u = 0, 0, 1, (2 dropped): p = 2/3, 1/3 in bins 1 and 11; g = 2 x4, all dropped: q = 0
    # everywhere, floored at 1e-5 where p > 0, then renormalised: 1/2, 1/2.
    u = np.array([[0.0], [0.0], [1.0], [2.0]])
    g = np.full((4, 1), 2.0)
    expected = 2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3)
    assert klom(u, g).per_example[0] == pytest.approx(expected, rel=1e-12)
    # u = 0, 0, 0, (4 dropped): p = 1 in bin 1, where g = 1, 2, 3, (4 dropped) has nothing:
    # q = 1e-5 there and 1/3 in three other bins; renormalised, KL = log((1 + 1e-5) / 1e-5).
    u = np.array([[0.0], [0.0], [0.0], [4.0]])
    g = np.array([[1.0], [2.0], [3.0], [4.0]])
    assert klom(u, g).per_example[0] == pytest.approx(math.log((1 + 1e-5) / 1e-5), rel=1e-12)
    # The reference's blind spot, kept: a golden sample all at the pooled maximum is left out
    # entirely, so even disjoint samples score 0.
    assert klom(np.zeros((4, 1)), np.ones((4, 1))).per_example[0] == pytest.approx(0.0)


def _reference_klom(u: np.ndarray, g: np.ndarray) -> float:
    """One example's KLOM as the reference code states it: numpy.digitize, scipy entropy."""
    from scipy.stats import entropy

    u, g = np.clip(u, -100, 100), np.clip(g, -100, 100)
    low, high = min(u.min(), g.min()), max(u.max(), g.max())
    high = low + 1 if low >= high else high
    bins = np.linspace(low, high, 21)
    p = np.array([np.sum(np.digitize(u, bins) == i) for i in range(1, 21)], dtype=float)
    q = np.array([np.sum(np.digitize(g, bins) == i) for i in range(1, 21)], dtype=float)
    p = p / p.sum() if p.sum() > 0 else p
    q = q / q.sum() if q.sum() > 0 else q
    return float(entropy(p, np.where(p > 0, np.maximum(q, 1e-5), q)))


@pytest.mark.parametrize("seed", range(3))
def test_klom_equals_the_reference_formula_on_random_margins(seed):
    rng = np.random.default_rng(seed)
    u = rng.normal(rng.uniform(-3, 3), 2.0, size=(16, 40))
    g = rng.normal(0.0, 1.0, size=(16, 40))
    u[:, :5] = 150.0  # clipped
    expected = [_reference_klom(u[:, i], g[:, i]) for i in range(40)]
    result = klom(u, g)
    np.testing.assert_allclose(result.per_example, expected, rtol=1e-12, atol=1e-15)
    assert np.isnan(result.per_example[:5]).all()  # every u at the pooled max: undefined
    assert result.p95 == pytest.approx(np.nanpercentile(expected, 95))


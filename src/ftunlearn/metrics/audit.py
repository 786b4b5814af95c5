"""The per-example audit's statistics: ε per example, the forget score and its permutation null,
U-LiRA and KLOM.

Every function takes per-model, per-example values as numpy arrays shaped ``(models, examples)``
(or one example's samples as 1-D arrays) and is pure numpy/scipy/scikit-learn. Definitions are
those of ``docs/protocol.md`` (section "Per-example audit"): the ε rule and the bucket score
follow the NeurIPS 2023 unlearning challenge's ``metric.py`` (its rules and thresholds), U-LiRA
is the per-example offline Gaussian test of Hayes et al. (2024), KLOM the binned KL of the
reference code of Georgiev et al. (2024).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

from ftunlearn.errors import UnlearnError

DELTA = 1e-5
"""δ of the (ε, δ) estimate."""

EPS_CAP = 50.0
"""ε is clipped to [0, EPS_CAP]; perfect separation and the peaky rule give the cap."""

PEAKY_RATIO = 0.01
"""A sample whose range is below this fraction of the other's range gives ε = EPS_CAP."""

THRESHOLDS_PER_UNIT = 100
"""The challenge's density of decision thresholds per unit of the statistic."""

INTERVAL_SLACK = 2.0
"""How far (in units of the statistic) the interval rules' ends are swept (the challenge's
``buffer``)."""

BUCKET_WIDTH = 0.5

KLOM_CLIP = 100.0
KLOM_BINS = 20
KLOM_FLOOR = 1e-5
"""The reference KLOM's floor on the golden histogram's bin probabilities (where the unlearned
one is non-zero)."""

_TINY = np.finfo(np.float64).tiny
_CHUNK = 500_000
"""Elements per vectorised block of the ε computation (examples × rules × pooled values): its
arrays stay in cache, which is faster than fewer, larger blocks."""


def logit_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """φ = log p_y − log Σ_{k≠y} p_k per row, in float64 (shifted by the row max, floored)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if z.ndim != 2 or z.shape[0] != y.shape[0]:
        raise UnlearnError(f"logits of shape {z.shape} do not match {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise UnlearnError(f"labels must lie in [0, {z.shape[1] - 1}]")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    is_label = np.arange(z.shape[1])[None, :] == y[:, None]
    p_y = np.where(is_label, p, 0.0).sum(axis=1)
    others = np.where(is_label, 0.0, p).sum(axis=1)  # summed apart: no cancellation
    return np.log(np.maximum(p_y, _TINY)) - np.log(np.maximum(others, _TINY))


def rule_epsilons(fpr: np.ndarray, fnr: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """ε of each decision rule: ∞ for FPR = FNR = 0, NaN (discarded) when exactly one is 0."""
    fpr = np.asarray(fpr, dtype=np.float64)
    fnr = np.asarray(fnr, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.log(1 - delta - fpr) - np.log(fnr)
        second = np.log(1 - delta - fnr) - np.log(fpr)
    eps = np.fmax(0.0, np.fmax(first, second))
    eps = np.where((fpr == 0) & (fnr == 0), np.inf, eps)
    return np.where((fpr == 0) ^ (fnr == 0), np.nan, eps)


def _epsilon_table(n_neg: int, n_pos: int) -> np.ndarray:
    """ε for every (false-positive count, false-negative count), discarded rules as 0."""
    fpr = np.arange(n_neg + 1)[:, None] / n_neg
    fnr = np.arange(n_pos + 1)[None, :] / n_pos
    return np.nan_to_num(rule_epsilons(fpr, fnr), nan=0.0, posinf=np.inf)


def threshold_count(span: np.ndarray) -> np.ndarray:
    """How many thresholds the challenge lays over ``span`` units: ceil(span · 100)."""
    return np.ceil(np.asarray(span, dtype=np.float64) * THRESHOLDS_PER_UNIT).astype(np.int64)


def _numpy_grid(start: np.ndarray, step: np.ndarray, stop: np.ndarray, n: int | np.ndarray,
                j: np.ndarray) -> np.ndarray:
    """Point j of ``numpy.linspace(start, stop, n)``, computed as numpy does."""
    point = j * step
    point += start
    np.copyto(point, stop, where=(j >= n - 1) & (n > 1))
    return point


def _count_at_most(x: np.ndarray, start: np.ndarray, stop: np.ndarray, n: int) -> np.ndarray:
    """How many points of ``numpy.linspace(start, stop, n)`` (n >= 2) are <= x, exactly: a
    floor estimate (off by at most one), corrected against the points as numpy computes them."""
    step = (stop - start) / (n - 1)
    j = np.floor((x - start) / step)  # the last point <= x, as a float: j * step is numpy's
    np.clip(j, -1, n - 1, out=j)
    j += _linspace_point(j + 1, start, step, stop, n) <= x
    j -= _linspace_point(j, start, step, stop, n) > x
    j += 1
    return j.astype(np.int64)


def _linspace_point(k: np.ndarray, start: np.ndarray, step: np.ndarray, stop: np.ndarray,
                    n: int) -> np.ndarray:
    """Point k of ``numpy.linspace(start, stop, n)`` as numpy computes it; NaN (never compared
    true) where k is no point."""
    point = _numpy_grid(start, step, stop, n, k)
    point[(k < 0) | (k >= n)] = np.nan
    return point


def _single_thresholds(low: float, high: float) -> np.ndarray:
    """The challenge's single thresholds: ``torch.linspace(min, max, ceil(100 · span))`` with
    tensor ends, which torch computes in its default dtype, float32."""
    n = int(threshold_count(high - low))
    ends = torch.tensor([low, high], dtype=torch.float64)
    return torch.linspace(ends[0], ends[1], n).double().numpy()


def _tie_tolerance(x: np.ndarray, start: np.ndarray, step: np.ndarray, n: int) -> float:
    """How near (in steps) to a grid point a float estimate of a value's place on the grids
    may be wrong: about a thousand times the rounding of the estimate and of numpy's points."""
    scale = max(float(np.abs(x).max()), float(np.abs(start).max())) + n * float(step.max())
    return 1e-9 + 1e-12 * (n + 2 * scale / float(step.min()))


def _grid_counts(x: np.ndarray, start: np.ndarray, stop: np.ndarray, n: int) -> np.ndarray:
    """``_count_at_most`` of every value x (examples, values) on every grid (examples, grids)
    of ``numpy.linspace(start, stop, n)``: (examples, values, grids) as floats, exactly. The
    floor estimate is right wherever x is not within rounding of a point; only those ties go
    through ``_count_at_most`` (the costly exact correction)."""
    step = (stop - start) / (n - 1)
    tol = _tie_tolerance(x, start, step, n)
    # (x − start) / step + 1 + tol: its floor is the count, its fraction below 2 tol a tie
    position = x[:, :, None] - (start - (1 + tol) * step)[:, None, :]
    position *= (1 / step)[:, None, :]
    counts = np.floor(position)
    position -= counts
    ties = np.flatnonzero(position < 2 * tol)  # many: grids are laid from the peaky sample's ends
    np.clip(counts, 0, n, out=counts)
    value, grid = np.divmod(ties, start.shape[1])  # value: (example, value) flat
    grid += value // x.shape[1] * start.shape[1]  # grid: (example, grid) flat
    counts.reshape(-1)[ties] = _count_at_most(x.reshape(-1)[value], start.reshape(-1)[grid],
                                              stop.reshape(-1)[grid], n)
    return counts


def _reachable(at_most: np.ndarray, axis: int = 0) -> np.ndarray:
    """Which c = 0..m a threshold set reaches, from how many of its thresholds are <= each
    sorted pooled value, padded by a value below every threshold and one above (``axis``:
    m + 2): c = how many values lie below the threshold, reached where some threshold t has
    v[c−1] < t <= v[c]."""
    return np.diff(at_most, axis=axis) > 0


def _single_reach(values: np.ndarray, memo: dict) -> np.ndarray:
    """Which counts c of each example's sorted pooled values (rows) the single thresholds
    reach: ``_reachable`` row by row, with each row's own thresholds. A row depends on the
    pooled values alone, which every re-split of a permutation null shares: ``memo`` keeps it."""
    reach = []
    for row in values:
        key = ("single", row.tobytes())
        if key not in memo:
            thresholds = _single_thresholds(row[0], row[-1])
            at_most = np.searchsorted(thresholds, row, side="right")
            memo[key] = _reachable(np.concatenate([[0], at_most, [thresholds.size]]))
        reach.append(memo[key])
    return np.stack(reach)


def _union_by_count(reach: np.ndarray, at_or_below: np.ndarray) -> np.ndarray:
    """(examples, a, c): whether some right r with a = ``at_or_below`` (examples, rights),
    non-decreasing along the rights, reaches c (``reach``: examples, c, rights). Each a's
    rights are one run [first[a], first[a + 1]), read off running sums of ``reach``."""
    examples, width, rights = reach.shape
    totals = np.empty((examples, width, rights + 1), dtype=np.int32)
    totals[:, :, 0] = 0
    np.cumsum(reach, axis=2, out=totals[:, :, 1:])
    first = np.stack([np.searchsorted(row, np.arange(width + 1)) for row in at_or_below])
    rows = np.arange(examples * width).reshape(examples, width, 1) * (rights + 1)
    at = totals.reshape(-1)[rows + first[:, None, :]]  # [e, c, a]: reached before a's run
    return (at[..., 1:] > at[..., :-1]).transpose(0, 2, 1)


def _right_grid(p_min: np.ndarray, p_max: np.ndarray, width: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """The interval rules' right ends per example, numpy.linspace(P.min + w − 2, P.max + 2,
    ceil(100 · span)) padded to the longest (examples, rights), and which are real."""
    r_start = (p_min + width) - INTERVAL_SLACK
    r_stop = p_max + INTERVAL_SLACK
    n_right = threshold_count(r_stop - r_start)
    j = np.arange(int(n_right.max()))
    r_step = (r_stop - r_start) / (n_right - 1)
    rights = _numpy_grid(r_start[:, None], r_step[:, None], r_stop[:, None],
                         n_right[:, None], j[None, :])
    return rights, j[None, :] < n_right[:, None]


def _interval_reach(values: np.ndarray, p_min: np.ndarray, p_max: np.ndarray,
                    width: np.ndarray) -> np.ndarray:
    """Which (a, c) the interval rules reach per example, (examples, m + 1, m + 1): a = pooled
    values <= r, c = pooled values < l, with r on ``_right_grid`` and, for each r, l on
    numpy.linspace(r − w − 2, r − w + 2, 400). A rule's error counts depend on (a, c) alone,
    so the rights are merged by a."""
    rights, real = _right_grid(p_min, p_max, width)
    at_or_below = np.stack([np.searchsorted(v, r, side="right")  # pooled <= r
                            for v, r in zip(values, rights, strict=True)])
    if (at_or_below[:, 1:] < at_or_below[:, :-1]).any():  # rounding at huge φ: rules are a set
        order = np.argsort(at_or_below, axis=1, kind="stable")
        rights, real, at_or_below = (np.take_along_axis(a, order, axis=1)
                                     for a in (rights, real, at_or_below))
    n_left = int(threshold_count(2 * INTERVAL_SLACK))
    l_start = (rights - width[:, None]) - INTERVAL_SLACK
    l_stop = (rights - width[:, None]) + INTERVAL_SLACK
    low = np.minimum(values[:, 0], l_start.min(axis=1)) - 1  # below every left end
    high = np.maximum(values[:, -1], l_stop.max(axis=1)) + 1  # above every one
    padded = np.concatenate([low[:, None], values, high[:, None]], axis=1)
    reach = _reachable(_grid_counts(padded, l_start, l_stop, n_left), axis=1)  # [e, c, r]
    reach &= real[:, None, :]
    return _union_by_count(reach, at_or_below)


def _lookup(tables: dict, k_u: int, k_g: int, fp: np.ndarray, fn: np.ndarray,
            neg_is_u: np.ndarray) -> np.ndarray:
    """ε of rules by (false positives, false negatives); negatives from u where asked."""
    as_u = tables.setdefault((k_u, k_g), _epsilon_table(k_u, k_g))
    if k_u == k_g:  # one table either way round
        return as_u[fp, fn]
    as_g = tables.setdefault((k_g, k_u), _epsilon_table(k_g, k_u))
    fp_u, fn_u = np.minimum(fp, k_u), np.minimum(fn, k_g)
    fp_g, fn_g = np.minimum(fp, k_g), np.minimum(fn, k_u)
    return np.where(neg_is_u, as_u[fp_u, fn_u], as_g[fp_g, fn_g])


def _block_epsilon(u: np.ndarray, g: np.ndarray, tables: dict) -> np.ndarray:
    """ε of every example (column) of one block, the challenge's rules vectorised (``tables``:
    the ε tables and single-threshold rows computed so far, see :func:`epsilon`).

    Rules are counted, not enumerated: a rule's error counts depend only on how many pooled
    values lie below its threshold(s), so each threshold set is reduced to the counts it
    reaches (``_reachable``), with the thresholds placed exactly where the challenge's
    ``numpy``/``torch`` ``linspace`` calls put them (counted from a float estimate, corrected
    exactly at ties: ``_grid_counts``), and the interval rules merged by their error counts.
    """
    k_u, k_g = u.shape[0], g.shape[0]
    pooled = np.concatenate([u, g]).T  # (examples, m)
    order = np.argsort(pooled, axis=1, kind="stable")
    values = np.take_along_axis(pooled, order, axis=1)
    from_u = order < k_u
    zero = np.zeros((values.shape[0], 1), np.int64)
    cum_u = np.concatenate([zero, np.cumsum(from_u, axis=1)], axis=1)  # u among the first c
    cum_g = np.arange(values.shape[1] + 1)[None, :] - cum_u
    pos_is_u = np.median(u, axis=0) >= np.median(g, axis=0)
    range_u, range_g = np.ptp(u, axis=0), np.ptp(g, axis=0)
    range_pos = np.where(pos_is_u, range_u, range_g)
    range_neg = np.where(pos_is_u, range_g, range_u)
    largest, smallest = np.maximum(range_pos, range_neg), np.minimum(range_pos, range_neg)
    with np.errstate(divide="ignore", invalid="ignore"):
        peaky_cap = smallest / largest < PEAKY_RATIO  # 0/0 is NaN: not peaky, as the reference

    def cum(side_is_u: np.ndarray) -> np.ndarray:
        return np.where(side_is_u[:, None], cum_u, cum_g)

    # Single thresholds: "pos" (the larger median) predicted where φ >= t.
    reached = _single_reach(values, tables)  # c = pooled values below t
    pos_cum, neg_cum = cum(pos_is_u), cum(~pos_is_u)
    n_neg = np.where(pos_is_u, k_g, k_u)[:, None]
    fn = pos_cum  # pos below t
    fp = n_neg - neg_cum  # neg at or above t
    eps = _lookup(tables, k_u, k_g, fp, fn, ~pos_is_u[:, None])
    best = np.where(reached, eps, 0.0).max(axis=1)
    # Interval rules: the peakier sample (smaller range; "neg" on a tie) predicted inside
    # [l, r], w = the peakier sample's range; reached by (a, c), see _interval_reach.
    peaky_is_u = np.where(range_pos >= range_neg, ~pos_is_u, pos_is_u)
    p_min = np.where(peaky_is_u, u.min(axis=0), g.min(axis=0))
    p_max = np.where(peaky_is_u, u.max(axis=0), g.max(axis=0))
    reached = _interval_reach(values, p_min, p_max, smallest)
    peaky_cum, other_cum = cum(peaky_is_u), cum(~peaky_is_u)
    peaky_in = np.maximum(peaky_cum[:, :, None] - peaky_cum[:, None, :], 0)  # [e, a, c]
    other_in = np.maximum(other_cum[:, :, None] - other_cum[:, None, :], 0)
    n_peaky = np.where(peaky_is_u, k_u, k_g)[:, None, None]
    eps = _lookup(tables, k_u, k_g, other_in, n_peaky - peaky_in, ~peaky_is_u[:, None, None])
    best = np.maximum(best, np.where(reached, eps, 0.0).max(axis=(1, 2)))
    return np.where(peaky_cap, EPS_CAP, np.minimum(best, EPS_CAP))


def epsilon(unlearned: np.ndarray, golden: np.ndarray, *, memo: dict | None = None
            ) -> np.ndarray | float:
    """ε per example from the statistic under unlearned and golden models.

    1-D inputs are one example's samples (returns a float); 2-D inputs are ``(models,
    examples)`` with the same number of examples (returns one ε per example). The decision
    rules are the NeurIPS 2023 unlearning challenge's (its ``metric.py``), thresholds included.
    ``memo``: a dict the caller keeps across calls on re-splits of one pool (a permutation
    null), so that what depends on the pooled values alone is computed once.
    """
    u = np.asarray(unlearned, dtype=np.float64)
    g = np.asarray(golden, dtype=np.float64)
    single = u.ndim == 1
    if single:
        u, g = u[:, None], g[:, None]
    if u.ndim != 2 or g.ndim != 2 or u.shape[1] != g.shape[1]:
        raise UnlearnError(f"epsilon needs (models, examples) arrays, got {u.shape} and {g.shape}")
    if u.shape[0] < 2 or g.shape[0] < 2:
        raise UnlearnError("epsilon needs at least two models on each side")
    if not (np.isfinite(u).all() and np.isfinite(g).all()):
        raise UnlearnError("epsilon got non-finite statistics")
    tables: dict = {} if memo is None else memo
    m = u.shape[0] + g.shape[0]
    per_block = max(1, _CHUNK // ((threshold_count(2 * INTERVAL_SLACK) + 2) * (m + 1)))
    eps = np.concatenate([
        _block_epsilon(u[:, i:i + per_block], g[:, i:i + per_block], tables)
        for i in range(0, u.shape[1], per_block)
    ]) if u.shape[1] else np.empty(0)
    return float(eps[0]) if single else eps


def eps_resolution(k: int) -> int:
    """The largest ε the forget score can tell apart with K models: ``ceil(ln(K − 1))``."""
    if k < 3:
        raise UnlearnError(f"the audit needs an ensemble of at least 3 models, got K = {k}")
    return math.ceil(math.log(k - 1))


def bucket_edges(k: int) -> np.ndarray:
    """The buckets' end points: 0.5, 1.0, ... up to ``eps_resolution(k)``."""
    count = math.floor(eps_resolution(k) / BUCKET_WIDTH)
    return BUCKET_WIDTH * np.arange(1, count + 1)


def bucket_points(eps: np.ndarray, k: int) -> np.ndarray:
    """Points per example: 2^−i for the first bucket i whose end exceeds ε, 0 beyond the last."""
    eps = np.asarray(eps, dtype=np.float64)
    edges = bucket_edges(k)
    index = np.searchsorted(edges, eps, side="right")
    return np.where(index < edges.size, 2.0 ** -index.astype(np.float64), 0.0)


def forget_score(eps_values: np.ndarray, k: int) -> float:
    """F: the mean bucket points over the audited examples."""
    return float(np.mean(bucket_points(eps_values, k)))


Score = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]
"""A family of audit statistics of (candidate, reference) arrays ``(models, examples)``."""


def permutation_null(pool: np.ndarray, k: int, permutations: int, seed: int, score: Score
                     ) -> dict[str, np.ndarray]:
    """The statistics of a perfect method at this K: ``score`` of a random K of ``pool``
    (the candidate) against the other K (the reference), once per permutation.

    ``pool`` is φ of 2K golden-like models, ``(2K, examples)`` (the goldens and the held-out
    goldens stacked). Under perfect unlearning an unlearned model is one more golden draw, so
    the 2K rows are exchangeable: every split into halves of K is as good as the audit's own,
    and a statistic of the candidate half against the reference half is distributed as that
    statistic of a perfect method, including the variance from which K models were drawn.
    Each permutation draws one split (a numpy Generator seeded by ``seed``: the same seed gives
    the same values); returns each statistic's values in draw order.
    """
    def whole(value: object) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)

    if not whole(k) or k < 3:
        raise UnlearnError(f"permutation_null needs an integer k >= 3, got {k!r}")
    if not whole(permutations) or permutations < 2:
        raise UnlearnError(f"permutation_null needs an integer permutations >= 2 (an sd needs "
                           f"two values), got {permutations!r}")
    phi = np.asarray(pool, dtype=np.float64)
    if phi.ndim != 2 or phi.shape[0] != 2 * k or phi.shape[1] < 1:
        raise UnlearnError(f"permutation_null needs a pool of shape (2k, examples) = "
                           f"({2 * k}, n >= 1), got {phi.shape}")
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(int(permutations)):
        order = rng.permutation(2 * k)
        for name, value in score(phi[order[k:]], phi[order[:k]]).items():
            draws.setdefault(name, []).append(float(value))
    return {name: np.array(values) for name, values in draws.items()}


def permutation_forget_scores(pool: np.ndarray, k: int, permutations: int, seed: int
                              ) -> np.ndarray:
    """F of a perfect method at this K over ``permutations`` re-splits (``permutation_null``)."""
    memo: dict = {}

    def score(candidate: np.ndarray, reference: np.ndarray) -> dict[str, float]:
        return {"F": forget_score(epsilon(candidate, reference, memo=memo), k)}

    return permutation_null(pool, k, permutations, seed, score)["F"]


def _null_draws(null: np.ndarray, worse: str) -> np.ndarray:
    if worse not in ("higher", "lower"):
        raise UnlearnError(f"worse must be 'higher' or 'lower', got {worse!r}")
    draws = np.asarray(null, dtype=np.float64)
    return draws[np.isfinite(draws)]


def rank_p_value(observed: float, null: np.ndarray, worse: str) -> float:
    """The permutation p-value (1 + draws at least as bad) / (1 + draws), one-sided toward
    ``worse`` ("higher" or "lower"); NaN draws are left out, a NaN observation gives NaN."""
    draws = _null_draws(null, worse)
    if not np.isfinite(observed) or draws.size < 1:
        return float("nan")
    bad = (draws >= observed) if worse == "higher" else (draws <= observed)
    return float((1 + int(bad.sum())) / (1 + draws.size))


def normal_p_value(observed: float, null: np.ndarray, worse: str) -> float:
    """The normal tail beyond ``observed`` from the null draws' mean and sd, one-sided toward
    ``worse``: for a statistic that is a mean over many examples (F), whose permutation
    distribution is close to normal, so that a hundred draws reach small p-values. With a
    zero spread it is 1 unless ``observed`` is worse than the draws (then 0)."""
    draws = _null_draws(null, worse)
    if not np.isfinite(observed) or draws.size < 2:
        return float("nan")
    mean, sd = float(draws.mean()), float(draws.std(ddof=1))
    excess = (observed - mean) if worse == "higher" else (mean - observed)
    if sd == 0.0:
        return 0.0 if excess > 0 else 1.0
    return float(NormalDist().cdf(-excess / sd))


def final_score(f: float, ra_u: float, ra_g: float, ta_u: float, ta_g: float) -> float:
    """F × (RA_u / RA_g) × (TA_u / TA_g), with mean accuracies over the ensembles."""
    return float(f * (ra_u / ra_g) * (ta_u / ta_g))


@dataclass(frozen=True)
class UliraResult:
    """U-LiRA over several shadow/target splits: means and spreads (std over splits).

    The per-example test (Hayes et al. 2024) makes one decision per (target model, forget
    example): the example's likelihood ratio under Gaussians fitted, for that example, to the
    shadow unlearned and shadow golden models' φ. ``auc``, ``acc`` and the TPRs are over those
    decisions. ``acc`` is the balanced accuracy at the LLR's natural threshold 0 (no tuning on
    the targets); ``tpr_at_1fpr``/``tpr_at_5fpr`` take the ROC's best TPR at FPR at most 1 % /
    5 %. ``pooled_auc`` is the pooled form, one decision per target model from its mean LLR
    over the examples: far more powerful (it sums evidence over every example), so not the
    statistic the field publishes as U-LiRA. ``llr`` is per example: the mean LLR of the target
    unlearned models minus that of the target golden models (0 when indistinguishable).
    """

    auc: float
    auc_std: float
    acc: float
    acc_std: float
    tpr_at_1fpr: float
    tpr_at_5fpr: float
    pooled_auc: float
    pooled_auc_std: float
    llr: np.ndarray
    splits: int


_SIGMA_FLOOR = 1e-3
"""Per-example Gaussians never get a smaller std (φ is on a log-odds scale)."""


def _gaussian_logpdf(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, limit: float) -> float:
    return float(tpr[fpr <= limit + 1e-12].max())


def rank_auc(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for telling ``is_positive`` apart (ties count a
    half): the Mann-Whitney U over n1·n0, scikit-learn's ``roc_auc_score`` without its
    ROC curve, about ten times faster (the permutation null asks for it thousands of times)."""
    positive = np.asarray(is_positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise UnlearnError("an AUC needs at least one positive and one negative decision")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _ulira_splits(u: np.ndarray, g: np.ndarray, splits: int, seed: int
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per split: the target models' per-example LLRs ``(targets, examples)`` and which
    targets are unlearned ones (first), from Gaussians fitted to the shadow halves."""
    if u.ndim != 2 or g.ndim != 2 or u.shape[1] != g.shape[1]:
        raise UnlearnError(f"ulira needs (models, examples) arrays, got {u.shape} and {g.shape}")
    if min(u.shape[0], g.shape[0]) < 4:
        raise UnlearnError("ulira needs at least 4 models on each side (2 shadows, 2 targets)")
    if splits < 1:
        raise UnlearnError(f"ulira needs at least one split, got {splits}")
    rng = np.random.default_rng(seed)
    for _ in range(splits):
        pu, pg = rng.permutation(u.shape[0]), rng.permutation(g.shape[0])
        shadow_u, target_u = u[pu[: u.shape[0] // 2]], u[pu[u.shape[0] // 2 :]]
        shadow_g, target_g = g[pg[: g.shape[0] // 2]], g[pg[g.shape[0] // 2 :]]
        mu_u, sd_u = shadow_u.mean(0), np.maximum(shadow_u.std(0, ddof=1), _SIGMA_FLOOR)
        mu_g, sd_g = shadow_g.mean(0), np.maximum(shadow_g.std(0, ddof=1), _SIGMA_FLOOR)
        targets = np.concatenate([target_u, target_g])
        per_example = (_gaussian_logpdf(targets, mu_u, sd_u)
                       - _gaussian_logpdf(targets, mu_g, sd_g))
        yield per_example, np.arange(len(targets)) < len(target_u)


def ulira(
    phi_unlearned: np.ndarray, phi_golden: np.ndarray, splits: int = 10, seed: int = 0
) -> UliraResult:
    """Offline Gaussian U-LiRA: tell target unlearned models' φ from target golden ones', per
    example (and pooled, see :class:`UliraResult`)."""
    u = np.asarray(phi_unlearned, dtype=np.float64)
    g = np.asarray(phi_golden, dtype=np.float64)
    found: dict[str, list] = {key: [] for key in ("auc", "acc", "tpr1", "tpr5", "pooled", "llr")}
    for per_example, is_u in _ulira_splits(u, g, splits, seed):
        labels = np.repeat(is_u, per_example.shape[1])  # one decision per (model, example)
        scores = per_example.ravel()
        found["auc"].append(rank_auc(labels, scores))
        said = scores > 0
        found["acc"].append(0.5 * (said[labels].mean() + (~said[~labels]).mean()))
        fpr, tpr, _ = roc_curve(labels, scores)
        found["tpr1"].append(_tpr_at(fpr, tpr, 0.01))
        found["tpr5"].append(_tpr_at(fpr, tpr, 0.05))
        found["pooled"].append(rank_auc(is_u, per_example.mean(1)))
        found["llr"].append(per_example[is_u].mean(0) - per_example[~is_u].mean(0))
    return UliraResult(
        auc=float(np.mean(found["auc"])), auc_std=float(np.std(found["auc"])),
        acc=float(np.mean(found["acc"])), acc_std=float(np.std(found["acc"])),
        tpr_at_1fpr=float(np.mean(found["tpr1"])), tpr_at_5fpr=float(np.mean(found["tpr5"])),
        pooled_auc=float(np.mean(found["pooled"])), pooled_auc_std=float(np.std(found["pooled"])),
        llr=np.mean(found["llr"], axis=0), splits=splits,
    )


def ulira_auc(
    phi_unlearned: np.ndarray, phi_golden: np.ndarray, splits: int = 10, seed: int = 0
) -> float:
    """``ulira(...).auc`` alone, from the same splits (what the permutation null re-computes)."""
    u = np.asarray(phi_unlearned, dtype=np.float64)
    g = np.asarray(phi_golden, dtype=np.float64)
    return float(np.mean([rank_auc(np.repeat(is_u, per_example.shape[1]), per_example.ravel())
                          for per_example, is_u in _ulira_splits(u, g, splits, seed)]))


@dataclass(frozen=True)
class KlomResult:
    """KLOM per example (KL of the unlearned margins' histogram from the golden one) and P95.

    ``per_example`` is NaN where the reference formula is undefined (every unlearned margin at
    the shared maximum, which its binning leaves out); ``p95`` is over the defined values."""

    per_example: np.ndarray
    p95: float


def klom(margins_unlearned: np.ndarray, margins_golden: np.ndarray) -> KlomResult:
    """KL(P_u ‖ P_g) per example, as the reference code of Georgiev et al. (2024) bins it.

    Per example: both samples clipped to ±KLOM_CLIP; KLOM_BINS equal bins from the pooled
    minimum to the pooled maximum (``numpy.digitize`` on their edges, so a value equal to the
    maximum falls past the last bin and is not counted); bin probabilities are counts over the
    counted values; the golden probability is floored at KLOM_FLOOR where the unlearned one is
    non-zero, both are renormalised, and KL = Σ p log(p / q) over the bins where p > 0.
    """
    u = np.clip(np.asarray(margins_unlearned, dtype=np.float64), -KLOM_CLIP, KLOM_CLIP)
    g = np.clip(np.asarray(margins_golden, dtype=np.float64), -KLOM_CLIP, KLOM_CLIP)
    if u.ndim != 2 or g.ndim != 2 or u.shape[1] != g.shape[1]:
        raise UnlearnError(f"klom needs (models, examples) arrays, got {u.shape} and {g.shape}")
    low = np.minimum(u.min(0), g.min(0))
    high = np.maximum(u.max(0), g.max(0))
    high = np.where(low >= high, low + 1.0, high)  # one value only: the reference's unit span
    edges = np.linspace(low, high, KLOM_BINS + 1)  # (bins + 1, examples)

    def probabilities(values: np.ndarray) -> np.ndarray:
        index = (values[:, None, :] >= edges[None, :, :]).sum(1)  # numpy.digitize: 1..bins + 1
        counts = np.stack([(index == b).sum(0) for b in range(1, KLOM_BINS + 1)])
        total = counts.sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, counts / total, 0.0)

    p, q = probabilities(u), probabilities(g)
    q = np.where(p > 0, np.maximum(q, KLOM_FLOOR), q)
    with np.errstate(divide="ignore", invalid="ignore"):
        p, q = p / p.sum(0), q / q.sum(0)  # scipy.stats.entropy normalises both
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    per_example = np.where(np.isfinite(p).all(0), terms.sum(0), np.nan)
    finite = per_example[np.isfinite(per_example)]
    return KlomResult(per_example, float(np.percentile(finite, 95)) if finite.size else np.nan)

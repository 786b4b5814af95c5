"""The per-example audit's statistics: ε per example, the forget score and its permutation null,
U-LiRA and KLOM.

Every function takes per-model, per-example values as numpy arrays shaped ``(models, examples)``
(or one example's samples as 1-D arrays) and is pure numpy/scipy/scikit-learn. Definitions are
those of ``docs/protocol.md`` (section "Per-example audit"): the ε rule and the bucket score
follow the NeurIPS 2023 unlearning challenge, U-LiRA is the offline Gaussian form of Hayes et
al. (2024), KLOM that of Georgiev et al. (2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from ftunlearn.errors import UnlearnError

DELTA = 1e-5
"""δ of the (ε, δ) estimate."""

EPS_CAP = 50.0
"""ε is clipped to [0, EPS_CAP]; perfect separation and the peaky rule give the cap."""

PEAKY_RATIO = 0.01
"""A sample whose range is below this fraction of the other's range gives ε = EPS_CAP."""

GRID_PER_UNIT = 100
"""Decision thresholds (and interval ends) per unit of the statistic."""

INTERVAL_SLACK = 2.0
"""How far (in units of the statistic) the interval's ends are swept beyond the peaky sample."""

BUCKET_WIDTH = 0.5

KLOM_CLIP = 100.0
KLOM_BINS = 20
KLOM_SMOOTHING = 1e-5

_TINY = np.finfo(np.float64).tiny


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


def _grid(low: float, high: float) -> np.ndarray:
    """Points from ``low`` on, 1/GRID_PER_UNIT apart, up to ``high``."""
    count = math.floor(GRID_PER_UNIT * (high - low) + 1e-9) + 1
    return low + np.arange(count) / GRID_PER_UNIT


def _epsilon_table(n_neg: int, n_pos: int) -> np.ndarray:
    """ε for every (false-positive count, false-negative count), discarded rules as 0."""
    fpr = np.arange(n_neg + 1)[:, None] / n_neg
    fnr = np.arange(n_pos + 1)[None, :] / n_pos
    return np.nan_to_num(rule_epsilons(fpr, fnr), nan=0.0, posinf=np.inf)


def _below(sorted_sample: np.ndarray, points: np.ndarray, *, inclusive: bool) -> np.ndarray:
    """How many values are < (or <=) each point."""
    side = "right" if inclusive else "left"
    return np.searchsorted(sorted_sample, points, side=side)


def _runs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, ...]:
    """Runs of equal (first, second) along a line: start, end (inclusive) and the two values."""
    change = np.flatnonzero((np.diff(first) != 0) | (np.diff(second) != 0)) + 1
    starts = np.r_[0, change]
    ends = np.r_[change - 1, first.size - 1]
    return starts, ends, first[starts], second[starts]


def _example_epsilon(unlearned: np.ndarray, golden: np.ndarray, tables: dict) -> float:
    if np.median(unlearned) >= np.median(golden):
        pos, neg = np.sort(unlearned), np.sort(golden)
    else:
        pos, neg = np.sort(golden), np.sort(unlearned)
    range_pos, range_neg = pos[-1] - pos[0], neg[-1] - neg[0]
    if min(range_pos, range_neg) < PEAKY_RATIO * max(range_pos, range_neg):
        return EPS_CAP
    key = (neg.size, pos.size)
    if key not in tables:
        tables[key] = _epsilon_table(*key)
    table = tables[key]
    # threshold rules: "positive" above t
    thresholds = _grid(min(pos[0], neg[0]), max(pos[-1], neg[-1]))
    fn = _below(pos, thresholds, inclusive=True)
    fp = neg.size - _below(neg, thresholds, inclusive=True)
    best = table[fp, fn].max()
    # interval rules: "peaky side" inside [a, b], width the peaky sample's range
    peaky_is_pos = range_pos <= range_neg
    peaky, other = (pos, neg) if peaky_is_pos else (neg, pos)
    width = peaky[-1] - peaky[0]
    rights = _grid(peaky[0] + width - INTERVAL_SLACK, peaky[-1] + INTERVAL_SLACK)
    n_offsets = int(2 * INTERVAL_SLACK * GRID_PER_UNIT) + 1
    # the left end of (right i, offset j) is lefts[i + j]: one shared line of points
    lefts = (rights[0] - width - INTERVAL_SLACK
             + np.arange(rights.size + n_offsets - 1) / GRID_PER_UNIT)
    right_runs = _runs(_below(peaky, rights, inclusive=True), _below(other, rights, inclusive=True))
    left_runs = _runs(_below(peaky, lefts, inclusive=False), _below(other, lefts, inclusive=False))
    # a (right run, left run) pair is a rule when some i, k in them have 0 <= k - i < n_offsets
    (r_lo, r_hi, r_peaky, r_other), (l_lo, l_hi, l_peaky, l_other) = right_runs, left_runs
    usable = ((l_hi[None, :] - r_lo[:, None] >= 0)
              & (l_lo[None, :] - r_hi[:, None] <= n_offsets - 1))
    peaky_in = np.maximum(r_peaky[:, None] - l_peaky[None, :], 0)[usable]
    other_in = np.maximum(r_other[:, None] - l_other[None, :], 0)[usable]
    if peaky_is_pos:
        fn, fp = peaky.size - peaky_in, other_in
    else:
        fn, fp = other_in, peaky.size - peaky_in
    best = max(best, table[fp, fn].max())
    return float(min(best, EPS_CAP))


def epsilon(unlearned: np.ndarray, golden: np.ndarray) -> np.ndarray | float:
    """ε per example from the statistic under unlearned and golden models.

    1-D inputs are one example's samples (returns a float); 2-D inputs are ``(models,
    examples)`` with the same number of examples (returns one ε per example).
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
    tables: dict = {}
    eps = np.array([_example_epsilon(u[:, i], g[:, i], tables) for i in range(u.shape[1])])
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


def permutation_forget_scores(pool: np.ndarray, k: int, permutations: int, seed: int
                              ) -> np.ndarray:
    """F of a perfect method at this K: F of a random K of ``pool`` against the other K.

    ``pool`` is φ of 2K golden-like models, ``(2K, examples)`` (the goldens and the held-out
    goldens stacked). Under perfect unlearning an unlearned model is one more golden draw, so
    the 2K rows are exchangeable: every split into a "reference" half of K and a "candidate"
    half of K is as good as the audit's own, and the F of the candidate half against the
    reference half is distributed as the F of a perfect method. That distribution includes the
    variance from which K models were drawn, which the per-example standard error of F lacks.
    Each permutation draws one split (a numpy Generator seeded by ``seed``, so the same seed
    gives the same values); returns the ``permutations`` F values in draw order.
    """
    def whole(value: object) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)

    if not whole(k) or k < 3:
        raise UnlearnError(f"permutation_forget_scores needs an integer k >= 3, got {k!r}")
    if not whole(permutations) or permutations < 2:
        raise UnlearnError(f"permutation_forget_scores needs an integer permutations >= 2 (an "
                           f"sd needs two values), got {permutations!r}")
    phi = np.asarray(pool, dtype=np.float64)
    if phi.ndim != 2 or phi.shape[0] != 2 * k or phi.shape[1] < 1:
        raise UnlearnError(f"permutation_forget_scores needs a pool of shape (2k, examples) = "
                           f"({2 * k}, n >= 1), got {phi.shape}")
    rng = np.random.default_rng(seed)
    scores = np.empty(int(permutations))
    for i in range(scores.size):
        order = rng.permutation(2 * k)
        reference, candidate = phi[order[:k]], phi[order[k:]]
        scores[i] = forget_score(epsilon(candidate, reference), k)
    return scores


def final_score(f: float, ra_u: float, ra_g: float, ta_u: float, ta_g: float) -> float:
    """F × (RA_u / RA_g) × (TA_u / TA_g), with mean accuracies over the ensembles."""
    return float(f * (ra_u / ra_g) * (ta_u / ta_g))


@dataclass(frozen=True)
class UliraResult:
    """U-LiRA over several shadow/target splits: means and spreads (std over splits).

    ``acc`` is the balanced accuracy at the LLR's natural threshold 0 (no tuning on the targets);
    ``tpr_at_1fpr``/``tpr_at_5fpr`` take the ROC's best TPR at FPR at most 1 % / 5 % (with K/2
    golden targets the FPR moves in steps of 2/K). ``llr`` is per example: the mean LLR of the
    target unlearned models minus that of the target golden models (0 when indistinguishable).
    """

    auc: float
    auc_std: float
    acc: float
    acc_std: float
    tpr_at_1fpr: float
    tpr_at_5fpr: float
    llr: np.ndarray
    splits: int


_SIGMA_FLOOR = 1e-3
"""Per-example Gaussians never get a smaller std (φ is on a log-odds scale)."""


def _gaussian_logpdf(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, limit: float) -> float:
    return float(tpr[fpr <= limit + 1e-12].max())


def ulira(
    phi_unlearned: np.ndarray, phi_golden: np.ndarray, splits: int = 10, seed: int = 0
) -> UliraResult:
    """Offline Gaussian U-LiRA: tell target unlearned models from target golden ones."""
    u = np.asarray(phi_unlearned, dtype=np.float64)
    g = np.asarray(phi_golden, dtype=np.float64)
    if u.ndim != 2 or g.ndim != 2 or u.shape[1] != g.shape[1]:
        raise UnlearnError(f"ulira needs (models, examples) arrays, got {u.shape} and {g.shape}")
    if min(u.shape[0], g.shape[0]) < 4:
        raise UnlearnError("ulira needs at least 4 models on each side (2 shadows, 2 targets)")
    if splits < 1:
        raise UnlearnError(f"ulira needs at least one split, got {splits}")
    rng = np.random.default_rng(seed)
    aucs, accs, tpr1, tpr5, llrs = [], [], [], [], []
    for _ in range(splits):
        pu, pg = rng.permutation(u.shape[0]), rng.permutation(g.shape[0])
        shadow_u, target_u = u[pu[: u.shape[0] // 2]], u[pu[u.shape[0] // 2 :]]
        shadow_g, target_g = g[pg[: g.shape[0] // 2]], g[pg[g.shape[0] // 2 :]]
        mu_u, sd_u = shadow_u.mean(0), np.maximum(shadow_u.std(0, ddof=1), _SIGMA_FLOOR)
        mu_g, sd_g = shadow_g.mean(0), np.maximum(shadow_g.std(0, ddof=1), _SIGMA_FLOOR)
        targets = np.concatenate([target_u, target_g])
        per_example = (_gaussian_logpdf(targets, mu_u, sd_u)
                       - _gaussian_logpdf(targets, mu_g, sd_g))
        scores = per_example.mean(1)
        labels = np.r_[np.ones(len(target_u)), np.zeros(len(target_g))]
        aucs.append(roc_auc_score(labels, scores))
        said = scores > 0
        accs.append(0.5 * (said[labels == 1].mean() + (~said[labels == 0]).mean()))
        fpr, tpr, _ = roc_curve(labels, scores)
        tpr1.append(_tpr_at(fpr, tpr, 0.01))
        tpr5.append(_tpr_at(fpr, tpr, 0.05))
        llrs.append(per_example[: len(target_u)].mean(0) - per_example[len(target_u) :].mean(0))
    return UliraResult(
        auc=float(np.mean(aucs)), auc_std=float(np.std(aucs)), acc=float(np.mean(accs)),
        acc_std=float(np.std(accs)), tpr_at_1fpr=float(np.mean(tpr1)),
        tpr_at_5fpr=float(np.mean(tpr5)), llr=np.mean(llrs, axis=0), splits=splits,
    )


@dataclass(frozen=True)
class KlomResult:
    """KLOM per example (KL of the unlearned margins' histogram from the golden one) and P95."""

    per_example: np.ndarray
    p95: float


def klom(margins_unlearned: np.ndarray, margins_golden: np.ndarray) -> KlomResult:
    """KL(P_u ‖ P_g) per example between histograms on 20 shared bins of margins clipped ±100."""
    u = np.clip(np.asarray(margins_unlearned, dtype=np.float64), -KLOM_CLIP, KLOM_CLIP)
    g = np.clip(np.asarray(margins_golden, dtype=np.float64), -KLOM_CLIP, KLOM_CLIP)
    if u.ndim != 2 or g.ndim != 2 or u.shape[1] != g.shape[1]:
        raise UnlearnError(f"klom needs (models, examples) arrays, got {u.shape} and {g.shape}")
    low = np.minimum(u.min(0), g.min(0))
    high = np.maximum(u.max(0), g.max(0))
    span = np.where(high > low, high - low, 1.0)

    def histogram(values: np.ndarray) -> np.ndarray:
        bins = np.clip(((values - low) / span * KLOM_BINS).astype(np.int64), 0, KLOM_BINS - 1)
        counts = np.zeros((KLOM_BINS, values.shape[1]))
        np.add.at(counts, (bins, np.arange(values.shape[1])[None, :]), 1.0)
        counts += KLOM_SMOOTHING
        return counts / counts.sum(0)

    p, q = histogram(u), histogram(g)
    per_example = (p * (np.log(p) - np.log(q))).sum(0)
    return KlomResult(per_example, float(np.percentile(per_example, 95)))

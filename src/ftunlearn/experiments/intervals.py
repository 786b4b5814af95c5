"""95 % intervals over seeds, the best-mark rule and paired comparisons.

Every interval is Student's t-interval of the mean over seeds: ``mean ± t(0.975, n − 1) · s / √n``
with ``s`` the sample standard deviation (ddof = 1). One seed gives no interval (NaN bounds):
nothing can then be said about its uncertainty, so it never wins a best mark against a rival.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
INTERVAL_METHOD = (
    "95 % Student t-interval of the mean over seeds (mean ± t(0.975, n−1)·s/√n, s the sample "
    "standard deviation); none with one seed"
)


@dataclass(frozen=True)
class Interval:
    """A mean with its t-interval over ``n`` values (bounds NaN when ``n`` < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The t-interval of the mean of ``values`` (NaN bounds for fewer than two values)."""
    array = np.asarray(values, dtype=float)
    mean = float(np.mean(array))
    if array.size < 2:
        return Interval(mean, math.nan, math.nan, int(array.size))
    sem = float(np.std(array, ddof=1)) / math.sqrt(array.size)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=array.size - 1)) * sem
    return Interval(mean, mean - half, mean + half, int(array.size))


def overlaps(a: Interval, b: Interval) -> bool:
    """Whether two intervals share a point; an undefined interval overlaps everything."""
    if any(math.isnan(v) for v in (a.low, a.high, b.low, b.high)):
        return True
    return a.low <= b.high and b.low <= a.high


@dataclass(frozen=True)
class BestVerdict:
    """``best`` names the one clear winner (lowest mean whose interval clears the runner-up's);
    otherwise ``tied`` lists the lowest-mean method and every rival whose interval overlaps it."""

    best: tuple[str, ...]
    tied: tuple[str, ...]


def best_by_lowest_mean(intervals: Mapping[str, Interval]) -> BestVerdict:
    """The best-mark rule over candidates (lower is better), in ``intervals``' order; a lone
    candidate has no rival to beat, so it gets neither a mark nor a tie."""
    if len(intervals) < 2:
        return BestVerdict((), ())
    ranked = sorted(intervals, key=lambda name: intervals[name].mean)  # stable for equal means
    leader = intervals[ranked[0]]
    rivals = [name for name in ranked[1:] if overlaps(leader, intervals[name])]
    if not rivals:
        return BestVerdict((ranked[0],), ())
    return BestVerdict((), (ranked[0], *rivals))


POWER = 0.8
"""The power a tie's "seeds to resolve it" estimate aims at."""
MAX_SEEDS = 1000
"""Beyond this many seeds a tie is reported as out of reach."""


def seeds_to_resolve(effect: float, spread: float, power: float = POWER,
                     confidence: float = CONFIDENCE, limit: int = MAX_SEEDS) -> int | None:
    """The fewest seeds n >= 2 at which a two-sided paired t-test at ``confidence`` detects a
    true mean difference ``effect`` with per-seed spread ``spread`` (sample sd) with probability
    ``power`` (the noncentral t with n − 1 degrees of freedom and noncentrality
    effect·√n / spread); ``None`` when there is no effect to detect or it needs over ``limit``.

    Read with care: the observed effect of a tie is itself uncertain, so this is what the
    observed effect and spread would need, not a promise."""
    if not (math.isfinite(effect) and math.isfinite(spread)) or effect == 0:
        return None
    if spread <= 0:
        return 2  # no spread: two seeds already give a zero-width interval away from 0
    alpha = 1 - confidence

    def achieved(n: int) -> float:
        critical = float(stats.t.ppf(1 - alpha / 2, df=n - 1))
        shift = abs(effect) * math.sqrt(n) / spread
        value = float(stats.nct.sf(critical, n - 1, shift)
                      + stats.nct.cdf(-critical, n - 1, shift))
        if math.isnan(value):  # scipy's nct fails at large shifts, where the normal is exact
            value = float(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))
        return value

    if achieved(limit) < power:
        return None
    # power grows with n: the first n that reaches it (a scan: nct is not smooth enough to
    # bisect reliably)
    return next((n for n in range(2, limit + 1) if achieved(n) >= power), None)


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``method − baseline`` over the seeds both have, with its t-interval and the
    differences' sample sd (NaN for one seed)."""

    method: str
    baseline: str
    seeds: tuple[int, ...]
    difference: Interval
    spread: float = math.nan

    @property
    def seeds_needed(self) -> int | None:
        """For a tie: the seeds that would resolve it at the observed effect and spread
        (:func:`seeds_to_resolve`); ``None`` when it is no tie or cannot be resolved."""
        if self.verdict != "no clear difference" or self.difference.n < 2:
            return None
        return seeds_to_resolve(self.difference.mean, self.spread)

    @property
    def verdict(self) -> str:
        """For a lower-is-better metric: 'lower', 'higher' or 'no clear difference'."""
        d = self.difference
        if math.isnan(d.low) or d.low <= 0 <= d.high:
            return "no clear difference"
        return "lower" if d.high < 0 else "higher"


def paired_difference(
    method: str, values: Mapping[int, float], baseline: str, baseline_values: Mapping[int, float]
) -> PairedDifference | None:
    """The paired difference over shared seeds (``None`` when they share none)."""
    seeds = tuple(s for s in values if s in baseline_values)
    if not seeds:
        return None
    differences = [values[s] - baseline_values[s] for s in seeds]
    spread = float(np.std(differences, ddof=1)) if len(differences) > 1 else math.nan
    return PairedDifference(method, baseline, seeds, t_interval(differences), spread)

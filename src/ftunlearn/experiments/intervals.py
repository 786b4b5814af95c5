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
    """The best-mark rule over candidates (lower is better), in ``intervals``' order."""
    if not intervals:
        return BestVerdict((), ())
    ranked = sorted(intervals, key=lambda name: intervals[name].mean)  # stable for equal means
    leader = intervals[ranked[0]]
    if len(ranked) == 1:
        return BestVerdict((ranked[0],), ())
    rivals = [name for name in ranked[1:] if overlaps(leader, intervals[name])]
    if not rivals:
        return BestVerdict((ranked[0],), ())
    return BestVerdict((), (ranked[0], *rivals))


@dataclass(frozen=True)
class PairedDifference:
    """Mean of ``method − baseline`` over the seeds both have, with its t-interval."""

    method: str
    baseline: str
    seeds: tuple[int, ...]
    difference: Interval

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
    return PairedDifference(method, baseline, seeds, t_interval(differences))

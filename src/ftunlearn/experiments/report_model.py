"""The report's data model: the summary of a run, the formatted content every renderer shows,
and the metric labels and number formats they share.

The renderers (``exports``, ``html``, ``plots``) and ``report`` (which builds these values and
calls the renderers) all import this module; it imports none of them, so imports point one way.
``report`` re-exports every name here, so ``from ftunlearn.experiments.report import RunSummary``
keeps working.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ftunlearn.data import SplitSizes
from ftunlearn.experiments.catalog import metric_info
from ftunlearn.experiments.intervals import Interval, PairedDifference
from ftunlearn.experiments.pseudo import GOLDEN, PSEUDO_METHODS
from ftunlearn.experiments.store import CellResult

PRIMARY_METRICS = ("UA", "RA", "TA", "MIA", "avg_gap", "forget_loss_gap", "rte_seconds")
METRIC_LABELS = {
    "UA": "UA",
    "RA": "RA",
    "TA": "TA",
    "MIA": "MIA",
    "avg_gap": "Avg Gap",
    "forget_loss_gap": "Forget-loss gap",
    "rte_seconds": "RTE (s)",
    "avg_gap_no_mia": "Avg Gap (no MIA)",
}
MISSING = "–"
BEST_MARK = "★"
AVG_GAP = "avg_gap"
MIA = "MIA"
AVG_GAP_WITHOUT_MIA = "avg_gap_no_mia"
CHANCE_ATTACK_ACC = 55.0
"""Percent: an attack below this cross-validated accuracy tells members from non-members at
chance, so its MIA column is noise."""


@dataclass(frozen=True)
class MetricStat:
    """Mean, sample standard deviation and 95 % t-interval of one metric over ``n`` seeds."""

    mean: float
    std: float
    n: int
    ci_low: float = math.nan
    ci_high: float = math.nan

    @property
    def interval(self) -> Interval:
        return Interval(self.mean, self.ci_low, self.ci_high, self.n)


@dataclass(frozen=True)
class MethodSummary:
    """One method's finished cells, aggregated over seeds."""

    method: str
    seeds: tuple[int, ...]
    stats: Mapping[str, MetricStat]
    hyperparameters: Mapping[str, Any]
    varying_hyperparameters: tuple[str, ...] = ()
    per_seed: Mapping[str, Mapping[int, float]] = dataclasses.field(default_factory=dict)
    """metric -> seed -> value, for paired comparisons."""

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def is_golden(self) -> bool:
        return self.method == GOLDEN

    @property
    def is_pseudo(self) -> bool:
        """A model of the run (golden, original), not an unlearning method."""
        return self.method in PSEUDO_METHODS


@dataclass(frozen=True)
class RunSummary:
    """Everything a report shows: per-method statistics, the best method, config and failures.

    ``methods`` has the golden and original rows first and the others in first-seen order;
    ``best`` names the method with the lowest mean Avg Gap when its interval clears the
    runner-up's, else ``tied`` lists the methods it cannot be told from (pseudo rows and
    reference methods such as ``retrain`` are never candidates). ``chance_attack`` lists the
    rows whose MIA attack tells members from non-members at chance (``MIA_attack_acc`` below
    ``CHANCE_ATTACK_ACC``); ``paired`` compares each method's Avg Gap with each paired
    baseline's (``report.PAIRED_BASELINE`` unless asked otherwise).
    """

    methods: tuple[MethodSummary, ...]
    metric_names: tuple[str, ...]
    best: tuple[str, ...]
    configuration: Mapping[str, Any]
    varying_config_keys: tuple[str, ...]
    versions: Mapping[str, str]
    git_commits: tuple[str, ...]
    started_at: str
    finished_at: str
    failed: tuple[CellResult, ...]
    tied: tuple[str, ...] = ()
    chance_attack: tuple[str, ...] = ()
    paired: tuple[PairedDifference, ...] = ()
    did_nothing: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    """Methods whose output was bit-identical to the original (``weights_changed`` 0), with
    the seeds where it was."""
    diverged: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    """Methods whose output diverged (see ``report._diverged``), with the seeds where it did."""
    split_sizes: Mapping[int, SplitSizes] = dataclasses.field(default_factory=dict)
    """Each seed's forget, retain and test sizes as the bench recorded them; empty when the
    cells came without them (the report then computes them from the data, if it can)."""

    def method(self, name: str) -> MethodSummary | None:
        return next((m for m in self.methods if m.method == name), None)


@dataclass(frozen=True)
class Table:
    """A formatted table; ``marked`` holds the (row, column) cells flagged as best."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    marked: frozenset[tuple[int, int]] = frozenset()


@dataclass(frozen=True)
class AuditSection:
    """The per-example audit of the run's folder, as the audit wrote it (audit_section.json)."""

    intro: str
    verdict: str
    ranking: str
    table: Table
    figure: str | None
    """The ε figure's file name in the run folder, when it is there."""


@dataclass(frozen=True)
class ReportContent:
    """The formatted pieces shared by the Markdown and HTML renderings."""

    title: str
    overview: str
    results: Table
    other_metrics: Table | None
    hyperparameters: Table
    configuration: tuple[tuple[str, str], ...]
    failed: tuple[tuple[str, str], ...]
    plots: tuple[tuple[str, str], ...]
    identity: tuple[tuple[str, str], ...] = ()
    """Which run this is: dataset, model, forget spec, recipe, seeds, methods, date, version."""
    definitions: tuple[tuple[str, str], ...] = ()
    """(metric label, definition with unit and direction) for each metric shown."""
    protocol: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    """Verdict lines: the best mark or the tie, attacks at chance."""
    paired: Table | None = None
    paired_heading: str = "Paired comparison"
    """Names the paired comparisons' baseline, or lists them when there are several."""
    downloads: tuple[str, ...] = ()
    """Files next to the report (exports and the figures' SVG/PDF)."""
    audit: AuditSection | None = None


def format_number(value: float) -> str:
    """Two decimals, or two significant digits for small magnitudes."""
    if value == 0 or not math.isfinite(value) or abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.2g}"


def format_stat(stat: MetricStat | None, n_seeds: int) -> str:
    """``mean ± h`` with ``h`` the 95 % interval's half-width (just the mean with one seed)."""
    if stat is None:
        return MISSING
    text = format_number(stat.mean)
    if not math.isnan(stat.ci_low):
        text += f" ± {format_number((stat.ci_high - stat.ci_low) / 2)}"
    return text if stat.n == n_seeds else f"{text} (n={stat.n})"


def metric_label(name: str) -> str:
    info = metric_info(name)
    return info.label if info.registered else METRIC_LABELS.get(name, name)


def main_metrics(summary: RunSummary) -> tuple[str, ...]:
    """The main table's metrics: the primary ones, and Avg Gap without MIA after Avg Gap when an
    attack is at chance."""
    if not summary.chance_attack:
        return PRIMARY_METRICS
    at = PRIMARY_METRICS.index(AVG_GAP) + 1
    return (*PRIMARY_METRICS[:at], AVG_GAP_WITHOUT_MIA, *PRIMARY_METRICS[at:])

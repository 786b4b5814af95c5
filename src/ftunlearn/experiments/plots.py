"""The report's PNG plots, drawn with matplotlib's Agg canvas (no pyplot, no global state).

A plot leaves out the methods that lack its metrics and is not drawn when none has them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

if TYPE_CHECKING:
    from ftunlearn.experiments.report import MethodSummary, MetricStat, RunSummary

PLOT_FILES = {
    "ua_vs_ta": "ua_vs_ta.png",
    "avg_gap": "avg_gap.png",
    "avg_gap_vs_rte": "avg_gap_vs_rte.png",
    "forget_loss_gap": "forget_loss_gap.png",
}
PLOT_TITLES = {
    "ua_vs_ta": "UA against TA",
    "avg_gap": "Avg Gap per method",
    "avg_gap_vs_rte": "Avg Gap against RTE",
    "forget_loss_gap": "Forget-loss gap per method",
}
_GOLDEN_STYLE = {"marker": "*", "markersize": 16, "color": "crimson", "zorder": 3}
_METHOD_STYLE = {"marker": "o", "markersize": 7, "color": "tab:blue", "zorder": 2}
_BAR_COLOR = "tab:blue"
_BEST_COLOR = "tab:green"


def render_plots(summary: RunSummary) -> dict[str, bytes]:
    """PNG bytes per plot name (keys of ``PLOT_FILES``) for the plots that have data."""
    drawers: dict[str, Callable[[Axes, RunSummary], bool]] = {
        "ua_vs_ta": _draw_ua_vs_ta,
        "avg_gap": _draw_avg_gap,
        "avg_gap_vs_rte": _draw_avg_gap_vs_rte,
        "forget_loss_gap": _draw_forget_loss_gap,
    }
    images = {}
    for name, draw in drawers.items():
        figure = Figure(figsize=(7.0, 4.8), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        if draw(figure.add_subplot(), summary):
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", metadata={"Software": None})
            images[name] = buffer.getvalue()
    return images


def _pairs(
    summary: RunSummary, x: str, y: str
) -> list[tuple[MethodSummary, MetricStat, MetricStat]]:
    return [(m, m.stats[x], m.stats[y]) for m in summary.methods if x in m.stats and y in m.stats]


def _scatter(axes: Axes, points: list[tuple[MethodSummary, MetricStat, MetricStat]]) -> None:
    for method, x, y in points:
        style = _GOLDEN_STYLE if method.is_golden else _METHOD_STYLE
        axes.errorbar(
            x.mean,
            y.mean,
            xerr=x.std,
            yerr=y.std,
            linestyle="none",
            capsize=3,
            label="golden (retrained)" if method.is_golden else None,
            **style,
        )
        axes.annotate(
            method.method, (x.mean, y.mean), textcoords="offset points", xytext=(6, 6), fontsize=9
        )
    if any(method.is_golden for method, _, _ in points):
        axes.legend(loc="best")
    axes.margins(0.12)
    axes.grid(True, alpha=0.3)


def _draw_ua_vs_ta(axes: Axes, summary: RunSummary) -> bool:
    points = _pairs(summary, "UA", "TA")
    if not points:
        return False
    _scatter(axes, points)
    axes.set_xlabel("UA (%)")
    axes.set_ylabel("TA (%)")
    axes.set_title("UA against TA (mean ± std over seeds)")
    return True


def _draw_avg_gap_vs_rte(axes: Axes, summary: RunSummary) -> bool:
    points = [p for p in _pairs(summary, "rte_seconds", "avg_gap") if p[1].mean > 0]
    if not points:
        return False
    _scatter(axes, points)
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(LogFormatter())
    axes.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    axes.margins(x=0.15, y=0.1)
    axes.set_xlabel("RTE (seconds, log scale)")
    axes.set_ylabel("Avg Gap")
    axes.set_title("Avg Gap against run-time (lower left is better)")
    return True


def _draw_bars(axes: Axes, summary: RunSummary, metric: str) -> bool:
    methods = [m for m in summary.methods if not m.is_golden and metric in m.stats]
    if not methods:
        return False
    positions = range(len(methods))
    axes.bar(
        positions,
        [m.stats[metric].mean for m in methods],
        yerr=[m.stats[metric].std for m in methods],
        capsize=4,
        color=[
            _BEST_COLOR if metric == "avg_gap" and m.method in summary.best else _BAR_COLOR
            for m in methods
        ],
    )
    axes.set_xticks(list(positions), [m.method for m in methods], rotation=45, ha="right")
    axes.grid(True, axis="y", alpha=0.3)
    return True


def _draw_avg_gap(axes: Axes, summary: RunSummary) -> bool:
    if not _draw_bars(axes, summary, "avg_gap"):
        return False
    axes.set_ylabel("Avg Gap (golden = 0)")
    axes.set_title("Avg Gap per method (mean ± std; best in green)")
    return True


def _draw_forget_loss_gap(axes: Axes, summary: RunSummary) -> bool:
    if not _draw_bars(axes, summary, "forget_loss_gap"):
        return False
    axes.set_ylabel("|CE(θu; Df) − CE(θg; Df)|")
    axes.set_title("Forget-loss gap per method (mean ± std)")
    return True

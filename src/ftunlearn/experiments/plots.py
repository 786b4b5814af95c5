"""The report's figures, drawn with matplotlib's Agg canvas (no pyplot, no global state).

Style rules: each method keeps one colour and marker in every figure of every run (its
position in the method registry picks them; the golden and original models have their own);
points carry their method's name, placed by adjustText so labels do not collide, and a legend;
error bars are 95 % t-intervals over seeds; reference methods (the golden model, registry
``reference=True`` methods such as ``retrain``, and the original model) are drawn as reference
lines, never as bars; axes stay inside the metric's range; titles name the run. Each figure is
saved as a 200-dpi PNG, an SVG and a PDF in the house style (``figure_style``: TrueType fonts in
the PDF). Tick labels never overprint (a label that would touch its neighbour is hidden), and
markers on a range's bound (UA = 100) are drawn whole. A plot leaves out the methods that lack
its metrics and is not drawn when none has them.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib
from adjustText import adjust_text
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ftunlearn import figure_style
from ftunlearn.experiments.catalog import (
    is_reference,
    method_order,
    metric_info,
)
from ftunlearn.experiments.pseudo import pseudo_method
from ftunlearn.experiments.report_model import MethodSummary, MetricStat, RunSummary
from ftunlearn.registry import Registry


@dataclass(frozen=True)
class PlotSpec:
    """A report figure: its name (also its file stem), title and drawing function, which
    returns False when the run has none of the data it needs."""

    name: str
    title: str
    draw: Callable[[Axes, RunSummary], bool]


PLOTS: Registry[PlotSpec] = Registry("plot")
"""The report's figures, in the order the report shows them (registered at the end)."""

FORMATS = ("png", "svg", "pdf")
PNG_DPI = 200
FIGURE_SIZE = (7.2, 4.4)
METHOD_LABEL = "method-label"
"""The ``gid`` of a scatter point's method name, which ``finish_figure`` moves off the points."""

_MARKERS = ("o", "s", "^", "D", "v", "P", "<", ">", "h", "p", "d", "8")


def method_style(method: str) -> dict[str, object]:
    """The colour and marker of ``method``, the same in every figure and run."""
    pseudo = pseudo_method(method)
    if pseudo is not None:
        return dict(pseudo.style)
    order = method_order()
    # unregistered (plug-in) methods get a slot from a stable hash of their name
    index = order.index(method) if method in order else len(order) + zlib.crc32(method.encode())
    palette = matplotlib.colormaps["tab20"].colors
    # dark shades first (even indices), then the light ones
    colours = palette[0::2] + palette[1::2]
    return {"color": colours[index % len(colours)], "marker": _MARKERS[index % len(_MARKERS)],
            "markersize": 7}


def _label(method: str) -> str:
    pseudo = pseudo_method(method)
    return method if pseudo is None else pseudo.label


def run_title(summary: RunSummary) -> str:
    """``dataset · model · forget SPEC · N seeds`` for figure titles."""
    config = summary.configuration
    seeds = max((m.n_seeds for m in summary.methods), default=0)
    parts = [str(config[k]) for k in ("dataset", "model") if k in config]
    if "forget" in config:
        parts.append(f"forget {config['forget']}")
    parts.append(f"{seeds} seed{'s' if seeds != 1 else ''}")
    return " · ".join(parts)


def render_plots(
    summary: RunSummary, formats: Sequence[str] = FORMATS
) -> dict[str, dict[str, bytes]]:
    """Per plot name (keys of ``PLOT_FILES``) with data: its bytes per format (of ``FORMATS``;
    PNG always)."""
    images = {}
    for plot in PLOTS:
        figure = plot_figure(plot.name, summary)
        if figure is not None:
            images[plot.name] = save_figure(figure, formats)
    return images


def plot_figure(name: str, summary: RunSummary) -> Figure | None:
    """The laid-out figure of plot ``name`` (of :data:`PLOTS`), or ``None`` without its data."""
    figure = _figure()
    axes = figure.add_subplot()
    if not PLOTS.get(name).draw(axes, summary):
        return None
    figure.suptitle(run_title(summary), fontsize=10, color="0.3")
    _legend(figure, axes)
    finish_figure(figure)
    return figure


def render_comparison(summaries: Sequence[RunSummary], labels: Sequence[str]) -> dict[str, bytes]:
    """Avg Gap against RTE for several runs: one panel per run, shared axes and styles."""
    figure = _figure(size=(3.6 * len(summaries) + 2.0, 4.4))
    panels = figure.subplots(1, len(summaries), sharex=True, sharey=True, squeeze=False)[0]
    drawn = False
    for axes, summary, label in zip(panels, summaries, labels, strict=True):
        drawn |= _draw_avg_gap_vs_rte(axes, summary)
        axes.set_title(f"{label}\n{run_title(summary)}", fontsize=9)
    if not drawn:
        return {}
    for axes in panels[1:]:
        axes.set_ylabel("")
    figure.suptitle("Avg Gap against RTE (lower left is better; bars: 95 % t-interval)",
                    fontsize=10)
    _legend(figure, *panels)
    finish_figure(figure)
    return save_figure(figure)


def _figure(size: tuple[float, float] = FIGURE_SIZE) -> Figure:
    return figure_style.new_figure(size)


def save_figure(figure: Figure, formats: Sequence[str] = FORMATS) -> dict[str, bytes]:
    """The figure as 200-dpi PNG, SVG and PDF bytes in the house style, without dates (same
    input, same bytes)."""
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
    figure_style.fix_layout(figure, PNG_DPI)
    out = {}
    for fmt in dict.fromkeys(("png", *formats)):
        buffer = io.BytesIO()
        figure_style.save(figure, buffer, fmt=fmt, dpi=PNG_DPI, metadata=metadata[fmt])
        out[fmt] = buffer.getvalue()
    return out


def finish_figure(figure: Figure) -> None:
    """Lay ``figure`` out once, as saved, then place the method labels and hide overlapping
    tick labels on that layout (each of which draws the figure: laid out, a draw is cheap)."""
    figure_style.fix_layout(figure, PNG_DPI)
    screen_dpi = figure.dpi
    figure.set_dpi(PNG_DPI)  # measured as saved, from the text extents the layout found
    try:
        for axes in figure.axes:
            texts = [text for text in axes.texts if text.get_gid() == METHOD_LABEL]
            if texts:
                adjust_text(texts, ax=axes, expand=(1.4, 1.6), force_text=(0.4, 0.6),
                            arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})
        hide_overlapping_tick_labels(figure)
    finally:
        figure.set_dpi(screen_dpi)


def hide_overlapping_tick_labels(figure: Figure) -> None:
    """Hide every tick label that would overlap one already kept on its axis (major labels
    first, then minor ones in order), measured on the laid-out figure."""
    figure.draw_without_rendering()  # places the ticks and their labels (and lays out, if on)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            kept = []
            labels = [t.label1 for t in axis.get_major_ticks()] + \
                [t.label1 for t in axis.get_minor_ticks()]
            for label in labels:
                if not label.get_visible() or not label.get_text():
                    continue
                box = label.get_window_extent(renderer).expanded(1.1, 1.0)
                if any(box.overlaps(other) for other in kept):
                    label.set_visible(False)
                else:
                    kept.append(box)


def _legend(figure: Figure, *panels: Axes) -> None:
    handles: dict[str, object] = {}
    for axes in panels:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        figure.legend(list(handles.values()), list(handles), loc="outside right center",
                      fontsize=8, frameon=False)


def _metric_limits(name: str) -> tuple[float, float | None]:
    """The metric's possible range: percentages in [0, 100], every other metric >= 0."""
    return (0.0, 100.0) if metric_info(name).unit == "%" else (0.0, None)


BOUND_PAD = 0.03
"""Share of the view a bounded axis may extend past its metric's range, so that a marker
on the bound (UA = 100, a gap of 0) is drawn whole."""


def _clip(axes: Axes, axis: str, name: str) -> None:
    """Keep the view inside the metric's range, but for a pad (matplotlib's margins may
    overshoot it further)."""
    low, high = _metric_limits(name)
    get, set_ = (axes.get_xlim, axes.set_xlim) if axis == "x" else (axes.get_ylim, axes.set_ylim)
    current_low, current_high = get()
    pad = BOUND_PAD * (current_high - current_low)
    log = (axes.get_xscale() if axis == "x" else axes.get_yscale()) == "log"
    new_low = current_low if log else max(low - pad, current_low)
    new_high = current_high if high is None else min(high + pad, current_high)
    set_(new_low, new_high)


def _half_width(stat: MetricStat) -> float:
    return 0.0 if math.isnan(stat.ci_low) else (stat.ci_high - stat.ci_low) / 2


def _pairs(
    summary: RunSummary, x: str, y: str
) -> list[tuple[MethodSummary, MetricStat, MetricStat]]:
    return [(m, m.stats[x], m.stats[y]) for m in summary.methods if x in m.stats and y in m.stats]


def _scatter(axes: Axes, points: list[tuple[MethodSummary, MetricStat, MetricStat]],
             log_x: bool = False) -> None:
    for method, x, y in points:
        style = method_style(method.method)
        half = _half_width(x)
        # on a log axis an interval reaching below zero is drawn down to a tenth of the mean
        xerr = [[min(half, 0.9 * x.mean)], [half]] if log_x else half
        axes.errorbar(
            x.mean, y.mean, xerr=xerr, yerr=_half_width(y), linestyle="none",
            capsize=2, elinewidth=0.8, label=_label(method.method),
            zorder=3 if method.is_pseudo else 2, clip_on=False, **style,
        )
        axes.text(x.mean, y.mean, method.method, fontsize=7, color=style["color"],
                  gid=METHOD_LABEL)
    axes.margins(0.1)
    axes.grid(True, alpha=0.3)


def _draw_ua_vs_ta(axes: Axes, summary: RunSummary) -> bool:
    points = _pairs(summary, "UA", "TA")
    if not points:
        return False
    _scatter(axes, points)
    _clip(axes, "x", "UA")
    _clip(axes, "y", "TA")
    axes.set_xlabel("UA (%)")
    axes.set_ylabel("TA (%)")
    axes.set_title("UA against TA (closer to golden is better)", fontsize=10)
    return True


def _draw_avg_gap_vs_rte(axes: Axes, summary: RunSummary) -> bool:
    points = [p for p in _pairs(summary, "rte_seconds", "avg_gap") if p[1].mean > 0]
    if not points:
        return False
    _scatter(axes, points, log_x=True)
    # a model with no unlearning time (the original) is a reference line, not a point
    for method in summary.methods:
        stat = method.stats.get("avg_gap")
        rte = method.stats.get("rte_seconds")
        if method.is_pseudo and stat is not None and (rte is None or rte.mean <= 0):
            axes.axhline(stat.mean, linestyle=":", linewidth=1.2, label=_label(method.method),
                         color=method_style(method.method)["color"])
    axes.set_xscale("log")
    # plain decimals (0.01, 0.1, 1) and, within a short range, the 2s and 5s between them;
    # any label that would still touch a neighbour is hidden when the figure is laid out
    axes.xaxis.set_major_formatter(FuncFormatter(_seconds_label))
    decades = math.log10(axes.get_xlim()[1] / axes.get_xlim()[0])
    axes.xaxis.set_minor_formatter(FuncFormatter(
        lambda value, _: _seconds_label(value) if decades < 2 and _mantissa(value) in (2, 5)
        else ""))
    _clip(axes, "y", "avg_gap")
    axes.set_xlabel("RTE (seconds, log scale)")
    axes.set_ylabel("Avg Gap")
    axes.set_title("Avg Gap against run-time (lower left is better)", fontsize=10)
    return True


def _mantissa(value: float) -> int:
    return round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0


def _seconds_label(value: float, _position: object = None) -> str:
    return f"{value:.10g}" if value > 0 else ""


def _draw_bars(axes: Axes, summary: RunSummary, metric: str) -> bool:
    """Unlearning methods as bars with 95 % intervals; reference rows as horizontal lines."""
    bars = [m for m in summary.methods
            if metric in m.stats and not m.is_pseudo and not is_reference(m.method)]
    lines = [m for m in summary.methods
             if metric in m.stats and (m.is_pseudo or is_reference(m.method))]
    if not bars and not lines:
        return False
    positions = range(len(bars))
    axes.bar(
        positions, [m.stats[metric].mean for m in bars],
        yerr=[_half_width(m.stats[metric]) for m in bars], capsize=3,
        color=[method_style(m.method)["color"] for m in bars],
        edgecolor=["black" if m.method in summary.best else "none" for m in bars],
        linewidth=1.5,
    )
    for i, method in enumerate(bars):
        if method.method in summary.best:
            stat = method.stats[metric]
            axes.annotate("★ best", (i, stat.mean + _half_width(stat)), ha="center",
                          va="bottom", xytext=(0, 2), textcoords="offset points", fontsize=8)
    dashes = ("--", "-.", ":", (0, (5, 1)))
    for k, method in enumerate(lines):
        axes.axhline(method.stats[metric].mean, linestyle=dashes[k % len(dashes)],
                     linewidth=1.2, color=method_style(method.method)["color"],
                     label=f"{_label(method.method)}: {method.stats[metric].mean:.3g}")
    axes.set_xticks(list(positions), [m.method for m in bars], rotation=45, ha="right")
    axes.grid(True, axis="y", alpha=0.3)
    axes.set_ylim(bottom=0)
    _clip(axes, "y", metric)
    return True


def _draw_avg_gap(axes: Axes, summary: RunSummary) -> bool:
    if not _draw_bars(axes, summary, "avg_gap"):
        return False
    axes.set_ylabel("Avg Gap (golden = 0)")
    axes.set_title("Avg Gap per method (mean, 95 % t-interval; lower is better)", fontsize=10)
    return True


def _draw_forget_loss_gap(axes: Axes, summary: RunSummary) -> bool:
    if not _draw_bars(axes, summary, "forget_loss_gap"):
        return False
    axes.set_ylabel("|CE(θu; Df) − CE(θg; Df)| (nats)")
    axes.set_title("Forget-loss gap per method (mean, 95 % t-interval)", fontsize=10)
    return True


PLOTS.add(PlotSpec("ua_vs_ta", "UA against TA", _draw_ua_vs_ta))
PLOTS.add(PlotSpec("avg_gap", "Avg Gap per method", _draw_avg_gap))
PLOTS.add(PlotSpec("avg_gap_vs_rte", "Avg Gap against RTE", _draw_avg_gap_vs_rte))
PLOTS.add(PlotSpec("forget_loss_gap", "Forget-loss gap per method", _draw_forget_loss_gap))
PLOT_FILES = {plot.name: f"{plot.name}.png" for plot in PLOTS}
PLOT_TITLES = {plot.name: plot.title for plot in PLOTS}
"""File names and titles by plot name, derived from :data:`PLOTS`."""

"""Figures of the lab (matplotlib's Agg canvas; no pyplot state; the house style of
``figure_style``): mean ± std over trials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ftunlearn import figure_style
from ftunlearn.linear.experiments import is_number, swept_value
from ftunlearn.linear.models import MODEL_NAMES

PANELS: tuple[tuple[str, str], ...] = (
    ("UL", "UL = L(w; D_f)"),
    ("RL", "RL = L(w; D_r)"),
    ("dist_golden", "‖w − w_g‖"),
)
STYLES: Mapping[str, Mapping[str, object]] = {
    "pretrained": {"color": "tab:gray", "marker": "s", "linestyle": "-"},
    "ft": {"color": "tab:blue", "marker": "o", "linestyle": ":"},
    "golden": {"color": "black", "marker": "", "linestyle": "--"},
    "mask_a": {"color": "tab:orange", "marker": "^", "linestyle": "-"},
    "mask_b": {"color": "tab:green", "marker": "v", "linestyle": "-"},
    "mask_data": {"color": "tab:olive", "marker": "x", "linestyle": ":"},
    "dr": {"color": "tab:red", "marker": "D", "linestyle": "-"},
}
X_AXES: Mapping[str, tuple[str, str]] = {
    "d_lap": ("overlap", "overlap fraction |O| / |F ∪ O|"),
    "steps": ("steps", "fine-tuning steps k"),
    "alpha": ("alpha", "α (weight of the forgetting term)"),
}
LOG_KEYS = frozenset({"alpha"})
ROUNDING_FLOOR = 1e-12
"""Means and stds below this are drawn as 0: they are rounding (e.g. ``RL`` of an interpolator)."""
SYMLOG_KEYS = frozenset({"steps", "pretrain_steps", "ridge"})


def _x_axis(sweep: str) -> tuple[str, str]:
    return X_AXES.get(sweep, (sweep, sweep))


def _mean_std(
    rows: Sequence[Mapping[str, object]], x_key: str, model: str, metric: str
) -> tuple[list[object], np.ndarray, np.ndarray]:
    groups: dict[object, list[float]] = {}
    for row in rows:
        if row["model"] == model:
            groups.setdefault(row[x_key], []).append(float(row[metric]))  # type: ignore[arg-type]
    xs = list(groups)
    values = [np.array(groups[x]) for x in xs]
    mean = np.array([v.mean() for v in values])
    std = np.array([v.std() for v in values])
    mean[np.abs(mean) < ROUNDING_FLOOR] = 0.0
    std[std < ROUNDING_FLOOR] = 0.0
    return xs, mean, std


def plot_sweep(rows: Sequence[Mapping[str, object]], path: Path, title: str) -> None:
    """UL, RL and distance to golden of every model against the swept parameter."""
    sweep = str(rows[0]["sweep"])
    x_key, x_label = _x_axis(sweep)
    numeric = all(is_number(row[x_key]) for row in rows)
    categories = list(dict.fromkeys(swept_value(row) for row in rows))
    figure = figure_style.new_figure((16, 4.5))
    axes = figure.subplots(1, len(PANELS))
    for ax, (metric, label) in zip(axes, PANELS, strict=True):
        for model in MODEL_NAMES:
            xs, mean, std = _mean_std(rows, x_key, model, metric)
            positions = (
                np.array(xs, dtype=np.float64)
                if numeric
                else np.array([categories.index(x) for x in xs], dtype=np.float64)
            )
            style = STYLES[model]
            ax.plot(positions, mean, label=model, markersize=4, linewidth=1.4, **style)
            ax.fill_between(positions, mean - std, mean + std, color=style["color"], alpha=0.12)
        if not numeric:
            ax.set_xticks(range(len(categories)), [str(c) for c in categories])
        elif sweep in LOG_KEYS:
            ax.set_xscale("log")
        elif sweep in SYMLOG_KEYS:
            ax.set_xscale("symlog", linthresh=1.0 if sweep != "ridge" else 1e-3)
        ax.set_xlabel(x_label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right center", fontsize=9)
    figure.suptitle(title)
    figure_style.save(figure, path, dpi=110)


def plot_models(rows: Sequence[Mapping[str, object]], path: Path, title: str) -> None:
    """Bars of UL, RL and distance to golden per model (an experiment without a sweep)."""
    figure = figure_style.new_figure((15, 4.5))
    axes = figure.subplots(1, len(PANELS))
    positions = np.arange(len(MODEL_NAMES))
    for ax, (metric, label) in zip(axes, PANELS, strict=True):
        stats = [_mean_std(rows, "model", model, metric) for model in MODEL_NAMES]
        means = [float(s[1][0]) for s in stats]
        stds = [float(s[2][0]) for s in stats]
        colors = [STYLES[model]["color"] for model in MODEL_NAMES]
        ax.bar(positions, means, yerr=stds, color=colors, capsize=3)
        ax.set_xticks(positions, MODEL_NAMES, rotation=30)
        ax.set_title(label)
        ax.grid(alpha=0.3, axis="y")
    figure.suptitle(title)
    figure_style.save(figure, path, dpi=110)


def plot_experiment(rows: Sequence[Mapping[str, object]], out_dir: Path, title: str) -> Path:
    """The figure of one experiment's rows, written to ``out_dir/<experiment>.png``."""
    path = out_dir / f"{rows[0]['experiment']}.png"
    if rows[0]["sweep"]:
        plot_sweep(rows, path, title)
    else:
        plot_models(rows, path, title)
    return path

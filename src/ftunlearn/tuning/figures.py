"""The tuning report's figures: each method's optimisation history and parameter importances.

They follow the report's style (``experiments.plots``): the method's own colour and marker,
Matplotlib's Agg canvas without pyplot, saved as a 200-dpi PNG, an SVG and a PDF.
"""

from __future__ import annotations

import math
import warnings

import optuna
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from optuna.trial import TrialState

from ftunlearn import figure_style
from ftunlearn.experiments.plots import FIGURE_SIZE, method_style, save_figure
from ftunlearn.tuning.outcome import MethodStudy

IMPORTANCE_MIN_TRIALS = 10
"""Fewer complete trials than this make fANOVA's importances a rough guide: the figure and the
report say so."""


def _figure() -> Figure:
    return figure_style.new_figure(FIGURE_SIZE)


def objective_label(objective: str) -> str:
    return {"avg-gap": "mean Avg Gap (lower is better)",
            "audit": "audit final score (higher is better)"}.get(objective, objective)


def history_figure(study: MethodStudy, objective: str, title: str) -> dict[str, bytes] | None:
    """Every complete trial's value, pruned trials hollow at their first seed's value, and the
    best so far as a step line; ``None`` when no trial has a value."""
    style = method_style(study.method)
    points = [(t.number, float(t.value)) for t in study.trials
              if t.state == TrialState.COMPLETE and t.value is not None]
    pruned = [(t.number, float(next(iter(t.intermediate_values.values()))))
              for t in study.trials if t.state == TrialState.PRUNED and t.intermediate_values]
    if not points and not pruned:
        return None
    figure = _figure()
    axes = figure.add_subplot()
    if points:
        axes.plot([n for n, _ in points], [v for _, v in points], linestyle="none",
                  marker=style["marker"], color=style["color"], label=f"{study.method} trial")
        better = min if study.direction == "minimize" else max
        best, steps = math.nan, []
        for number, value in points:
            best = value if math.isnan(best) else better(best, value)
            steps.append((number, best))
        axes.step([n for n, _ in steps], [v for _, v in steps], where="post",
                  color=style["color"], alpha=0.6, label="best so far")
    if pruned:
        axes.plot([n for n, _ in pruned], [v for _, v in pruned], linestyle="none",
                  marker=style["marker"], markerfacecolor="none", color=style["color"],
                  label="pruned (first seed)")
    axes.set_xlabel("trial")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers are whole
    axes.set_ylabel(objective_label(objective))
    axes.set_title(f"{study.method}: optimisation history", fontsize=11)
    axes.legend(fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=10, color="0.3")
    return save_figure(figure)


def complete_trials(study: MethodStudy) -> int:
    """How many complete trials the importances are estimated from."""
    return sum(1 for t in study.trials if t.state == TrialState.COMPLETE)


def importance_caveat(study: MethodStudy) -> str | None:
    """The caveat of an importance estimate from fewer than :data:`IMPORTANCE_MIN_TRIALS`
    complete trials, or ``None``."""
    count = complete_trials(study)
    if count >= IMPORTANCE_MIN_TRIALS:
        return None
    return (f"from {count} complete trial{'s' if count != 1 else ''} only (fewer than "
            f"{IMPORTANCE_MIN_TRIALS}): a rough guide, not a ranking")


def importances(study: MethodStudy) -> dict[str, float] | None:
    """Optuna's fANOVA parameter importances over the complete trials (seeded), or ``None``
    when there are too few complete trials to tell."""
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if len(complete) < 2:
        return None
    scratch = optuna.create_study(direction=study.direction)
    scratch.add_trials(complete)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(scratch, evaluator=evaluator)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return None
    values = {name: float(v) for name, v in found.items()}
    return values if values and all(math.isfinite(v) for v in values.values()) else None


def importance_figure(study: MethodStudy, found: dict[str, float], title: str
                      ) -> dict[str, bytes]:
    """Horizontal bars of the importances, most important on top; with fewer than
    :data:`IMPORTANCE_MIN_TRIALS` complete trials the caveat is written across the plot."""
    style = method_style(study.method)
    names = list(found)[::-1]
    figure = _figure()
    axes = figure.add_subplot()
    axes.barh(names, [found[n] for n in names], color=style["color"])
    axes.set_xlim(0, 1)
    axes.set_xlabel("importance (fANOVA, share of the objective's variance)")
    axes.set_title(f"{study.method}: parameter importances", fontsize=11)
    caveat = importance_caveat(study)
    if caveat is not None:
        axes.text(0.98, 0.04, caveat, transform=axes.transAxes, ha="right", va="bottom",
                  fontsize=9, color="tab:red", wrap=True,
                  bbox={"facecolor": "white", "edgecolor": "tab:red", "alpha": 0.9})
    figure.suptitle(title, fontsize=10, color="0.3")
    return save_figure(figure)

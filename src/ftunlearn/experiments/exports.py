"""Exports of a run for papers and other tools: results_long.csv, table.tex and summary.json.

- ``results_long.csv``: one row per finished cell and metric (``method, seed, cell_key, metric,
  value``); :func:`read_results_long` reads it back into cells that summarise to the same
  ``summary.csv``.
- ``table.tex``: the main table as a booktabs ``tabular`` (mean ± 95 % interval half-width, the
  best mark in bold), written by pandas' ``Styler.to_latex``.
- ``summary.json``: the summary with every statistic, the verdicts and the interval method.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftunlearn.atomic import write_atomic
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.intervals import INTERVAL_METHOD
from ftunlearn.experiments.store import CellResult

if TYPE_CHECKING:
    from ftunlearn.experiments.report import RunSummary

RESULTS_LONG_CSV = "results_long.csv"
TABLE_TEX = "table.tex"
SUMMARY_JSON = "summary.json"
LONG_COLUMNS = ("method", "seed", "cell_key", "metric", "value")


def results_long_text(results: Sequence[CellResult]) -> str:
    """One row per finished cell and metric, in cell then metric order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LONG_COLUMNS)
    for cell in results:
        if cell.status != "ok":
            continue
        for name, value in cell.metrics.items():
            writer.writerow([cell.method, cell.seed, cell.cell_key, name,
                             "" if math.isnan(value) else repr(float(value))])
    return buffer.getvalue()


def read_results_long(path: str | Path) -> list[CellResult]:
    """Cells (metrics only; no configuration) from a ``results_long.csv``."""
    path = Path(path)
    try:
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise UnlearnError(f"cannot read {path}: {error}") from error
    if rows and set(LONG_COLUMNS) - set(rows[0]):
        raise UnlearnError(f"{path} is not a results_long.csv (columns {list(LONG_COLUMNS)})")
    cells: dict[str, dict[str, Any]] = {}
    for row in rows:
        cell = cells.setdefault(row["cell_key"], {"method": row["method"],
                                                  "seed": int(row["seed"]), "metrics": {}})
        cell["metrics"][row["metric"]] = float(row["value"]) if row["value"] else math.nan
    return [
        CellResult(cell_key=key, method=c["method"], seed=c["seed"], status="ok", error=None,
                   config={}, hyperparameters={}, metrics=c["metrics"], unlearn_seconds=None,
                   eval_seconds=None, started_at="", finished_at="", versions={},
                   git_commit=None)
        for key, c in cells.items()
    ]


def _latex_escape(text: str) -> str:
    specials = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}
    return "".join(specials.get(char, char) for char in text)


def _latex_number(value: float) -> str:
    from ftunlearn.experiments.report import format_number

    return format_number(value)


def table_tex_text(summary: RunSummary) -> str:
    """The main table as a LaTeX ``tabular`` fragment (needs ``\\usepackage{booktabs}``)."""
    import pandas as pd

    from ftunlearn.experiments.report import AVG_GAP, main_metrics, metric_label

    names = main_metrics(summary)
    data = []
    for method in summary.methods:
        row = []
        for name in names:
            stat = method.stats.get(name)
            if stat is None:
                row.append("--")
                continue
            text = _latex_number(stat.mean)
            if not math.isnan(stat.ci_low):
                text += rf" $\pm$ {_latex_number((stat.ci_high - stat.ci_low) / 2)}"
            if name == AVG_GAP and method.method in summary.best:
                text = rf"\textbf{{{text}}}"
            row.append(text)
        data.append(row)
    frame = pd.DataFrame(
        [[_latex_escape(m.method), *row] for m, row in zip(summary.methods, data, strict=True)],
        columns=["Method", *(_latex_escape(metric_label(n)) for n in names)],
    )
    styler = frame.style.hide(axis="index")
    return styler.to_latex(column_format="l" + "r" * len(names), hrules=True)


def summary_json_text(summary: RunSummary) -> str:
    """The summary as JSON (NaN written as null)."""

    def number(value: float) -> float | None:
        return None if math.isnan(value) else value

    methods = {}
    for method in summary.methods:
        methods[method.method] = {
            "seeds": list(method.seeds),
            "hyperparameters": dict(method.hyperparameters),
            "metrics": {
                name: {"mean": stat.mean, "std": stat.std, "n": stat.n,
                       "ci_low": number(stat.ci_low), "ci_high": number(stat.ci_high)}
                for name, stat in method.stats.items()
            },
        }
    data = {
        "configuration": dict(summary.configuration),
        "interval": INTERVAL_METHOD,
        "methods": methods,
        "best_avg_gap": list(summary.best),
        "tied_avg_gap": list(summary.tied),
        "attack_at_chance": list(summary.chance_attack),
        "did_nothing": {m: list(seeds) for m, seeds in summary.did_nothing.items()},
        "diverged": {m: list(seeds) for m, seeds in summary.diverged.items()},
        "paired": [
            {"method": p.method, "baseline": p.baseline, "seeds": list(p.seeds),
             "mean_difference": p.difference.mean, "ci_low": number(p.difference.low),
             "ci_high": number(p.difference.high), "verdict": p.verdict,
             "seeds_to_resolve": p.seeds_needed}
            for p in summary.paired
        ],
        "versions": dict(summary.versions),
        "git_commits": list(summary.git_commits),
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
        "failed_cells": [{"method": c.method, "seed": c.seed, "cell_key": c.cell_key}
                         for c in summary.failed],
    }
    return json.dumps(data, indent=2, default=str, allow_nan=False) + "\n"


def write_exports(
    run_dir: Path, summary: RunSummary, results: Sequence[CellResult]
) -> Mapping[str, Path]:
    """Write the three exports into ``run_dir``; returns their paths by file name."""
    texts = {
        RESULTS_LONG_CSV: results_long_text(results),
        TABLE_TEX: table_tex_text(summary),
        SUMMARY_JSON: summary_json_text(summary),
    }
    paths = {}
    for name, text in texts.items():
        path = run_dir / name
        write_atomic(path, text.encode())
        paths[name] = path
    return paths

r"""Exports of a run for papers and other tools: results_long.csv, table.tex and summary.json.

- ``results_long.csv``: one row per finished cell and metric (``method, seed, cell_key, metric,
  value``); :func:`read_results_long` reads it back into cells that summarise to the same
  ``summary.csv``.
- ``table.tex``: the main table as a ``table`` float for a paper (booktabs ``tabular`` written
  by pandas' ``Styler.to_latex``): mean ± 95 % interval half-width, a caption and a label, the
  best mean of each column in bold (by the metric registry's direction), "attack at chance" as
  one footnote mark and note, shrunk to ``\textwidth`` when wider (``\usepackage{booktabs,
  graphicx}``). ``columns`` (``report --tex-columns``) picks and orders the metric columns.
- ``summary.json``: the summary with every statistic, the verdicts and the interval method.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ftunlearn.atomic import write_atomic
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.catalog import is_reference, metric_info
from ftunlearn.experiments.intervals import INTERVAL_METHOD
from ftunlearn.experiments.report_model import (
    AVG_GAP,
    AVG_GAP_WITHOUT_MIA,
    CHANCE_ATTACK_ACC,
    METRIC_LABELS,
    MIA,
    PRIMARY_METRICS,
    RunSummary,
    format_number,
    main_metrics,
    metric_label,
)
from ftunlearn.experiments.store import CellResult

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
    return format_number(value)


TEX_LABEL = "tab:ftunlearn-results"
CHANCE_MARK = r"$^{\dagger}$"


def _column_key(text: str) -> str:
    return "".join(char for char in text.lower() if char.isalnum())


def _known_columns() -> dict[str, str]:
    """Every metric a table may show, by its normalised name and label."""
    import ftunlearn.metrics.definitions  # noqa: F401  (registers the protocol's metrics)
    from ftunlearn.metrics.registry import METRICS

    names = dict.fromkeys([*PRIMARY_METRICS, *METRIC_LABELS, *METRICS.names()])
    known = {}
    for name in names:
        label = METRIC_LABELS.get(name) or (METRICS.get(name).label if name in METRICS else name)
        known.setdefault(_column_key(name), name)
        known.setdefault(_column_key(label), name)
    return known


def parse_tex_columns(text: str) -> tuple[str, ...]:
    """``"UA,TA,MIA,AvgGap"`` as metric names; names and labels match without case, spaces or
    underscores (``AvgGap``, ``avg_gap`` and ``Avg Gap`` are one column)."""
    known = _known_columns()
    columns = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name = known.get(_column_key(part))
        if name is None:
            choices = ", ".join(dict.fromkeys(known.values()))
            raise UnlearnError(f"--tex-columns: unknown column {part!r}; choose from {choices}")
        columns.append(name)
    if not columns:
        raise UnlearnError("--tex-columns needs at least one column, e.g. UA,TA,MIA,AvgGap")
    return tuple(dict.fromkeys(columns))


def _direction(name: str) -> str:
    return "lower" if name == AVG_GAP_WITHOUT_MIA else metric_info(name).direction


def best_rows(summary: RunSummary, name: str) -> frozenset[str]:
    """The unlearning methods with the best mean of ``name`` (reference and pseudo rows never
    count): closest to the golden model's mean, lowest or highest by the metric's direction;
    equals at the printed precision share the mark; none for a metric without a direction."""
    direction = _direction(name)
    golden = next((m.stats.get(name) for m in summary.methods if m.is_golden), None)
    if direction == "none" or (direction == "golden" and golden is None):
        return frozenset()
    scores = {}
    for method in summary.methods:
        stat = method.stats.get(name)
        if stat is None or method.is_pseudo or is_reference(method.method) \
                or math.isnan(stat.mean):
            continue
        scores[method.method] = {"golden": lambda v: abs(v - golden.mean),  # type: ignore
                                 "lower": lambda v: v, "higher": lambda v: -v}[direction](
            stat.mean)
    if not scores:
        return frozenset()
    best = _latex_number(min(scores.values()))
    return frozenset(m for m, score in scores.items() if _latex_number(score) == best)


def _caption(summary: RunSummary, names: Sequence[str]) -> str:
    config = summary.configuration
    run = ", ".join(str(config[k]) for k in ("dataset", "model") if k in config)
    if "forget" in config:
        run += f", forget {config['forget']}"
    seeds = max((m.n_seeds for m in summary.methods), default=0)
    rules = {"golden": "closest to the golden model", "lower": "lowest", "higher": "highest"}
    by_rule: dict[str, list[str]] = {}
    for name in names:
        rule = rules.get(_direction(name))
        if rule is not None:
            by_rule.setdefault(rule, []).append(_latex_escape(metric_label(name)))
    bold = "; ".join(f"{rule} for {', '.join(labels)}" for rule, labels in by_rule.items())
    text = (f"Unlearning results ({_latex_escape(run)}): mean $\\pm$ half-width of the "
            f"95\\,\\% t-interval over {seeds} seed{'s' if seeds != 1 else ''}.")
    if bold:
        text += (f" Bold: the best mean among the unlearning methods ({bold}); a best mean is "
                 "not by itself a significant difference.")
    if AVG_GAP in names and summary.best:
        text += r" $^{\star}$: the only Avg Gap whose interval is clear of the runner-up's."
    return text


def table_tex_text(summary: RunSummary, columns: Sequence[str] | None = None) -> str:
    """The main table as a LaTeX ``table`` float: caption and label, the best mean of each
    column in bold, a footnote for attacks at chance, at most ``\\textwidth`` wide (needs
    ``\\usepackage{booktabs,graphicx}``). ``columns``: metric names (default: the main
    table's, :func:`~ftunlearn.experiments.report_model.main_metrics`)."""
    import pandas as pd

    names = tuple(columns) if columns else main_metrics(summary)
    best = {name: best_rows(summary, name) for name in names}
    marked_chance = False
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
            if method.method in best[name]:
                text = rf"\textbf{{{text}}}"
            if name == AVG_GAP and method.method in summary.best:
                text += r"$^{\star}$"
            if name == MIA and method.method in summary.chance_attack:
                text += CHANCE_MARK
                marked_chance = True
            row.append(text)
        data.append(row)
    frame = pd.DataFrame(
        [[_latex_escape(m.method), *row] for m, row in zip(summary.methods, data, strict=True)],
        columns=["Method", *(_latex_escape(metric_label(n)) for n in names)],
    )
    tabular = frame.style.hide(axis="index").to_latex(
        column_format="l" + "r" * len(names), hrules=True)
    lines = [
        r"\begin{table}[tbp]",
        r"\centering",
        rf"\caption{{{_caption(summary, names)}}}",
        rf"\label{{{TEX_LABEL}}}",
        r"\small",
        r"\setlength{\tabcolsep}{4pt}",
        # shrunk to the text width only when wider; a narrow table keeps its font size
        r"\resizebox{\ifdim\width>\textwidth\textwidth\else\width\fi}{!}{%",
        tabular.rstrip("\n"),
        "}",
    ]
    if marked_chance:
        lines += [r"\par\smallskip",
                  rf"{{\footnotesize {CHANCE_MARK}\,MIA attack at chance (its cross-validated "
                  rf"accuracy is below {CHANCE_ATTACK_ACC:g}\,\%): that MIA value is noise.\par}}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def summary_json_text(summary: RunSummary) -> str:
    """The summary as JSON (NaN and infinities written as null: JSON has neither)."""

    def number(value: float) -> float | None:
        return value if math.isfinite(value) else None

    methods = {}
    for method in summary.methods:
        methods[method.method] = {
            "seeds": list(method.seeds),
            "hyperparameters": dict(method.hyperparameters),
            "metrics": {
                name: {"mean": number(stat.mean), "std": number(stat.std), "n": stat.n,
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
    run_dir: Path, summary: RunSummary, results: Sequence[CellResult], *,
    tex_columns: Sequence[str] | None = None,
) -> Mapping[str, Path]:
    """Write the three exports into ``run_dir``; returns their paths by file name.
    ``tex_columns``: the metric columns of ``table.tex`` (default: the main table's)."""
    texts = {
        RESULTS_LONG_CSV: results_long_text(results),
        TABLE_TEX: table_tex_text(summary, tex_columns),
        SUMMARY_JSON: summary_json_text(summary),
    }
    paths = {}
    for name, text in texts.items():
        path = run_dir / name
        write_atomic(path, text.encode())
        paths[name] = path
    return paths

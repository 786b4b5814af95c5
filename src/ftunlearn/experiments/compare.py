"""Several runs side by side: `ftunlearn report RUN_A RUN_B ... --out DIR [--labels a,b]`.

Writes ``comparison.md`` (one table per metric: a row per method, a column per run, mean ± 95 %
interval half-width), ``comparison.csv`` (long: run, method, metric, mean, ci_low, ci_high,
n) and the Avg Gap against RTE figure with every run (PNG, SVG, PDF). Runs whose golden
models differ (another dataset, model, forget spec or recipe) are refused unless
``allow_different_golden``: their Avg Gaps are distances to different references.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.plots import render_comparison
from ftunlearn.experiments.report import (
    MISSING,
    PRIMARY_METRICS,
    RunSummary,
    format_stat,
    metric_label,
    summarize,
)

COMPARISON_MD = "comparison.md"
COMPARISON_CSV = "comparison.csv"
COMPARISON_FIGURE = "avg_gap_vs_rte"
GOLDEN_KEYS = ("dataset", "data_dir", "model", "forget", "recipe")
"""What the golden model of a run is trained from."""


@dataclass(frozen=True)
class ComparisonPaths:
    markdown: Path
    csv: Path
    figures: tuple[Path, ...]


def golden_identity(summary: RunSummary) -> str:
    return json.dumps({k: summary.configuration.get(k) for k in GOLDEN_KEYS}, sort_keys=True,
                      default=str)


def load_summaries(run_dirs: Sequence[Path]) -> list[RunSummary]:
    from ftunlearn.experiments.runner import run_results

    return [summarize(run_results(d), source=str(d)) for d in run_dirs]


def check_goldens(summaries: Sequence[RunSummary], labels: Sequence[str]) -> None:
    """Refuse runs whose golden models differ (an UnlearnError naming the differing run)."""
    first = golden_identity(summaries[0])
    for label, summary in zip(labels[1:], summaries[1:], strict=True):
        if golden_identity(summary) != first:
            differing = [k for k in GOLDEN_KEYS
                         if summary.configuration.get(k) != summaries[0].configuration.get(k)]
            raise UnlearnError(
                f"run {label!r} has another golden model than {labels[0]!r} (its "
                f"{', '.join(differing)} differ), so their Avg Gaps measure distances to "
                "different references; pass --allow-different-golden to compare them anyway"
            )


def comparison_markdown(summaries: Sequence[RunSummary], labels: Sequence[str]) -> str:
    lines = ["# ftunlearn run comparison", ""]
    for label, summary in zip(labels, summaries, strict=True):
        config = summary.configuration
        what = " / ".join(str(config.get(k, MISSING)) for k in ("dataset", "model", "forget"))
        lines.append(f"- **{label}**: {what}")
    lines += ["", "Entries: mean ± half-width of the 95 % t-interval over seeds.", ""]
    methods = list(dict.fromkeys(m.method for s in summaries for m in s.methods))
    for name in PRIMARY_METRICS:
        lines += [f"## {metric_label(name)}", "",
                  "| Method | " + " | ".join(labels) + " |",
                  "| --- | " + " | ".join("---" for _ in labels) + " |"]
        for method in methods:
            cells = []
            for summary in summaries:
                row = summary.method(method)
                cells.append(MISSING if row is None else format_stat(row.stats.get(name),
                                                                     row.n_seeds))
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"![Avg Gap against RTE]({COMPARISON_FIGURE}.png)", ""]
    return "\n".join(lines)


def comparison_csv(summaries: Sequence[RunSummary], labels: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run", "method", "metric", "mean", "ci_low", "ci_high", "n"])
    for label, summary in zip(labels, summaries, strict=True):
        for method in summary.methods:
            for name, stat in method.stats.items():
                writer.writerow([label, method.method, name, repr(stat.mean),
                                 repr(stat.ci_low), repr(stat.ci_high), stat.n])
    return buffer.getvalue()


def compare_runs(
    run_dirs: Sequence[Path], out: Path, *, labels: Sequence[str] | None = None,
    allow_different_golden: bool = False,
) -> ComparisonPaths:
    """Write the comparison of ``run_dirs`` into ``out``."""
    labels = list(labels) if labels else [Path(d).name or str(d) for d in run_dirs]
    if len(labels) != len(run_dirs):
        raise UnlearnError(f"--labels has {len(labels)} names for {len(run_dirs)} runs")
    if len(set(labels)) != len(labels):
        raise UnlearnError(f"run labels must differ, got {labels}; pass --labels")
    summaries = load_summaries(run_dirs)
    if not allow_different_golden:
        check_goldens(summaries, labels)
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / COMPARISON_MD
    markdown.write_text(comparison_markdown(summaries, labels))
    table = out / COMPARISON_CSV
    table.write_text(comparison_csv(summaries, labels))
    figures = []
    for fmt, data in render_comparison(summaries, labels).items():
        path = out / f"{COMPARISON_FIGURE}.{fmt}"
        path.write_bytes(data)
        figures.append(path)
    return ComparisonPaths(markdown, table, tuple(figures))

"""Several runs side by side: `ftunlearn report RUN_A RUN_B ... --out DIR [--labels a,b]`.

Writes ``comparison.md`` and ``comparison.html`` (one table per metric: a row per method, a
column per run, mean ± 95 % interval half-width; the HTML page is self-contained, like
report.html, with the figure inline), ``comparison.csv`` (long: run, method, metric, mean,
ci_low, ci_high, n) and the Avg Gap against RTE figure with every run (PNG, SVG, PDF). Labels,
method names and run descriptions are escaped in both pages, so user text never becomes live
HTML. Runs whose golden models differ (another dataset, model, forget spec or recipe) are
refused unless ``allow_different_golden``: their Avg Gaps are distances to different
references.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.html import render_page, table_view
from ftunlearn.experiments.plots import render_comparison
from ftunlearn.experiments.report import (
    MISSING,
    PRIMARY_METRICS,
    RunSummary,
    Table,
    escape_html,
    format_stat,
    markdown_table,
    metric_label,
    summarize,
)

COMPARISON_MD = "comparison.md"
COMPARISON_HTML = "comparison.html"
COMPARISON_CSV = "comparison.csv"
COMPARISON_FIGURE = "avg_gap_vs_rte"
COMPARISON_TITLE = "ftunlearn run comparison"
FIGURE_TITLE = "Avg Gap against RTE"
ENTRIES_NOTE = "Entries: mean ± half-width of the 95 % t-interval over seeds."
GOLDEN_KEYS = ("dataset", "data_dir", "model", "forget", "recipe")
"""What the golden model of a run is trained from."""


@dataclass(frozen=True)
class ComparisonPaths:
    markdown: Path
    csv: Path
    figures: tuple[Path, ...]
    html: Path


@dataclass(frozen=True)
class ComparisonContent:
    """The formatted comparison both pages show: each run's label and what it ran, then one
    table per primary metric (a row per method, a column per run)."""

    runs: tuple[tuple[str, str], ...]
    """(label, ``dataset / model / forget``) per run."""
    tables: tuple[tuple[str, Table], ...]
    """(metric label, its table) per metric of ``PRIMARY_METRICS``."""


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


def comparison_content(summaries: Sequence[RunSummary], labels: Sequence[str]
                       ) -> ComparisonContent:
    """Format the runs for rendering (``labels`` name them, in order)."""
    runs = []
    for label, summary in zip(labels, summaries, strict=True):
        config = summary.configuration
        what = " / ".join(str(config.get(k, MISSING)) for k in ("dataset", "model", "forget"))
        runs.append((label, what))
    methods = list(dict.fromkeys(m.method for s in summaries for m in s.methods))
    tables = []
    for name in PRIMARY_METRICS:
        rows = []
        for method in methods:
            cells = []
            for summary in summaries:
                row = summary.method(method)
                cells.append(MISSING if row is None else format_stat(row.stats.get(name),
                                                                     row.n_seeds))
            rows.append((method, *cells))
        tables.append((metric_label(name), Table(("Method", *labels), tuple(rows))))
    return ComparisonContent(tuple(runs), tuple(tables))


def comparison_markdown(summaries: Sequence[RunSummary], labels: Sequence[str], *,
                        figure: bool = True) -> str:
    """comparison.md; ``figure``: link the Avg Gap against RTE figure (when it was drawn)."""
    content = comparison_content(summaries, labels)
    lines = [f"# {COMPARISON_TITLE}", ""]
    lines += [f"- **{label}**: {what}" for label, what in content.runs]
    lines += ["", ENTRIES_NOTE, ""]
    for heading, table in content.tables:
        lines += [f"## {heading}", "", *markdown_table(table), ""]
    if figure:
        lines += [f"![{FIGURE_TITLE}]({COMPARISON_FIGURE}.png)", ""]
    # labels, method names and configurations are user text: never live HTML in a viewer
    return "\n".join(escape_html(line) for line in lines)


def comparison_html(summaries: Sequence[RunSummary], labels: Sequence[str],
                    png: bytes | None = None) -> str:
    """comparison.html, self-contained (autoescaped template); ``png``: the figure's bytes."""
    content = comparison_content(summaries, labels)
    return render_page(
        "comparison.html.j2", title=COMPARISON_TITLE, runs=content.runs, note=ENTRIES_NOTE,
        tables=[(heading, table_view(table)) for heading, table in content.tables],
        figure_title=FIGURE_TITLE, png=png,
    )


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
    """Write the comparison of ``run_dirs`` into ``out``: comparison.md, comparison.html,
    comparison.csv and the figure."""
    labels = list(labels) if labels else [Path(d).name or str(d) for d in run_dirs]
    if len(labels) != len(run_dirs):
        raise UnlearnError(f"--labels has {len(labels)} names for {len(run_dirs)} runs")
    if len(set(labels)) != len(labels):
        raise UnlearnError(f"run labels must differ, got {labels}; pass --labels")
    summaries = load_summaries(run_dirs)
    if not allow_different_golden:
        check_goldens(summaries, labels)
    out.mkdir(parents=True, exist_ok=True)
    images = render_comparison(summaries, labels)
    markdown = out / COMPARISON_MD
    markdown.write_text(comparison_markdown(summaries, labels, figure="png" in images),
                        encoding="utf-8")
    page = out / COMPARISON_HTML
    page.write_text(comparison_html(summaries, labels, images.get("png")), encoding="utf-8")
    table = out / COMPARISON_CSV
    table.write_text(comparison_csv(summaries, labels))
    figures = []
    for fmt, data in images.items():
        path = out / f"{COMPARISON_FIGURE}.{fmt}"
        path.write_bytes(data)
        figures.append(path)
    return ComparisonPaths(markdown, table, tuple(figures), page)

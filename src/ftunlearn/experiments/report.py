"""The report of a benchmark run: summary.csv, report.md, PNG plots and a self-contained HTML page.

Every number is a mean ± sample standard deviation (ddof = 1) over the seeds a method finished;
with one seed the deviation is 0 and the seed count says so. NaN metrics count as missing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.html import render_html
from ftunlearn.experiments.plots import PLOT_FILES, PLOT_TITLES, render_plots
from ftunlearn.experiments.store import GOLDEN_METHOD, RESULTS_FILENAME, CellResult, ResultStore

PRIMARY_METRICS = ("UA", "RA", "TA", "MIA", "avg_gap", "forget_loss_gap", "rte_seconds")
METRIC_LABELS = {
    "UA": "UA",
    "RA": "RA",
    "TA": "TA",
    "MIA": "MIA",
    "avg_gap": "Avg Gap",
    "forget_loss_gap": "Forget-loss gap",
    "rte_seconds": "RTE (s)",
}
MISSING = "–"
BEST_MARK = "★"
SUMMARY_CSV = "summary.csv"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"


@dataclass(frozen=True)
class MetricStat:
    """Mean and sample standard deviation of one metric over the ``n`` seeds that have it."""

    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class MethodSummary:
    """One method's finished cells, aggregated over seeds."""

    method: str
    seeds: tuple[int, ...]
    stats: Mapping[str, MetricStat]
    hyperparameters: Mapping[str, Any]
    varying_hyperparameters: tuple[str, ...] = ()

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def is_golden(self) -> bool:
        return self.method == GOLDEN_METHOD


@dataclass(frozen=True)
class RunSummary:
    """Everything a report shows: per-method statistics, the best method, config and failures.

    ``methods`` has the golden row first and the others in first-seen order; ``best`` names the
    method(s) with the lowest mean Avg Gap, leaving out the golden row and ``retrain``.
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


@dataclass(frozen=True)
class ReportPaths:
    """The files a report wrote; a plot is ``None`` when no method had the metrics it needs."""

    summary_csv: Path
    report_md: Path
    report_html: Path
    ua_vs_ta: Path | None
    avg_gap: Path | None
    avg_gap_vs_rte: Path | None
    forget_loss_gap: Path | None

    @property
    def plots(self) -> tuple[Path, ...]:
        return tuple(
            p
            for p in (self.ua_vs_ta, self.avg_gap, self.avg_gap_vs_rte, self.forget_loss_gap)
            if p is not None
        )


@dataclass(frozen=True)
class Table:
    """A formatted table; ``marked`` holds the (row, column) cells flagged as best."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    marked: frozenset[tuple[int, int]] = frozenset()


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


def summarize(results: Iterable[CellResult], *, source: str = "the given results") -> RunSummary:
    """Aggregate cells per method; ``source`` names where they came from in error messages."""
    results = list(results)
    finished = [r for r in results if r.status == "ok"]
    failed = tuple(r for r in results if r.status == "failed")
    if not finished:
        detail = ""
        if failed:
            detail = f" ({len(failed)} failed cells; first error: {failed[0].error})"
        raise UnlearnError(f"no finished cells in {source}{detail}; run `ftunlearn bench` first")
    by_method: dict[str, list[CellResult]] = {}
    for cell in finished:
        by_method.setdefault(cell.method, []).append(cell)
    order = sorted(by_method, key=lambda m: m != GOLDEN_METHOD)  # stable: golden, then first-seen
    methods = tuple(_summarize_method(m, by_method[m], source) for m in order)
    configuration, varying = _common_items(c.config for c in finished)
    versions, _ = _common_items(c.versions for c in finished)
    return RunSummary(
        methods=methods,
        metric_names=_metric_names(finished),
        best=_best_methods(methods),
        configuration=configuration,
        varying_config_keys=varying,
        versions=versions,
        git_commits=tuple(dict.fromkeys(c.git_commit for c in results if c.git_commit)),
        started_at=min(c.started_at for c in results),
        finished_at=max(c.finished_at for c in results),
        failed=failed,
    )


def _summarize_method(method: str, cells: list[CellResult], source: str) -> MethodSummary:
    seeds = [c.seed for c in cells]
    duplicated = sorted({s for s in seeds if seeds.count(s) > 1})
    if duplicated:
        keys = [c.cell_key for c in cells if c.seed == duplicated[0]]
        raise UnlearnError(
            f"{source} holds several finished cells for method {method!r} and seed "
            f"{duplicated[0]} (cell keys {keys}): they come from different configurations; "
            "write each configuration to its own --out folder"
        )
    names = dict.fromkeys(name for c in cells for name in c.metrics)
    stats = {}
    for name in names:
        values = [c.metrics[name] for c in cells if not math.isnan(c.metrics.get(name, math.nan))]
        if values:
            stats[name] = _stat(values)
    hyperparameters, varying = _common_items(c.hyperparameters for c in cells)
    return MethodSummary(method, tuple(seeds), stats, hyperparameters, varying)


def _stat(values: Sequence[float]) -> MetricStat:
    array = np.asarray(values, dtype=float)
    std = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
    return MetricStat(mean=float(np.mean(array)), std=std, n=int(array.size))


def _metric_names(cells: Sequence[CellResult]) -> tuple[str, ...]:
    others = dict.fromkeys(n for c in cells for n in c.metrics if n not in PRIMARY_METRICS)
    return PRIMARY_METRICS + tuple(others)


RETRAINING_METHODS = frozenset({"retrain"})
"""Methods that retrain from scratch: the reference, not candidates for the best mark."""


def _best_methods(methods: Sequence[MethodSummary]) -> tuple[str, ...]:
    gaps = {
        m.method: m.stats["avg_gap"].mean
        for m in methods
        if not m.is_golden and m.method not in RETRAINING_METHODS and "avg_gap" in m.stats
    }
    if not gaps:
        return ()
    lowest = min(gaps.values())
    return tuple(m for m, gap in gaps.items() if gap == lowest)


_ABSENT = object()


def _common_items(dicts: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The items every mapping shares with equal values, and the keys that differ."""
    dicts = list(dicts)
    keys = dict.fromkeys(k for d in dicts for k in d)
    common: dict[str, Any] = {}
    varying = []
    for key in keys:
        values = [d.get(key, _ABSENT) for d in dicts]
        if all(v == values[0] for v in values) and values[0] is not _ABSENT:
            common[key] = values[0]
        else:
            varying.append(key)
    return common, tuple(varying)


def write_report(run_dir: str | Path, results: Sequence[CellResult] | None = None) -> ReportPaths:
    """Write summary.csv, report.md, the PNG plots and report.html into ``run_dir``.

    Without ``results``, the cells are read from ``run_dir/results.sqlite``.
    """
    run_dir = Path(run_dir)
    if results is None:
        database = run_dir / RESULTS_FILENAME
        with ResultStore(database, create=False) as store:
            results = store.results(status=None)
        summary = summarize(results, source=str(database))
    else:
        summary = summarize(results)
    run_dir.mkdir(parents=True, exist_ok=True)
    images = render_plots(summary)
    plot_paths: dict[str, Path | None] = {}
    for name, filename in PLOT_FILES.items():
        path = run_dir / filename
        if name in images:
            _write_atomic(path, images[name])
            plot_paths[name] = path
        else:
            path.unlink(missing_ok=True)  # a stale plot from an earlier report would mislead
            plot_paths[name] = None
    content = report_content(summary, tuple(n for n in PLOT_FILES if n in images))
    paths = ReportPaths(
        summary_csv=run_dir / SUMMARY_CSV,
        report_md=run_dir / REPORT_MD,
        report_html=run_dir / REPORT_HTML,
        **plot_paths,
    )
    _write_atomic(paths.summary_csv, summary_csv_text(summary).encode())
    _write_atomic(paths.report_md, render_markdown(content).encode())
    html_text = render_html(content, {PLOT_FILES[n]: data for n, data in images.items()})
    _write_atomic(paths.report_html, html_text.encode())
    return paths


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary sibling and a rename, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def summary_csv_text(summary: RunSummary) -> str:
    """The CSV: method, n_seeds, <metric>_mean, <metric>_std..., best_avg_gap (1 or 0)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["method", "n_seeds"]
    for name in summary.metric_names:
        header += [f"{name}_mean", f"{name}_std"]
    writer.writerow([*header, "best_avg_gap"])
    for method in summary.methods:
        row: list[str | int] = [method.method, method.n_seeds]
        for name in summary.metric_names:
            stat = method.stats.get(name)
            row += [repr(stat.mean), repr(stat.std)] if stat else ["", ""]
        writer.writerow([*row, int(method.method in summary.best)])
    return buffer.getvalue()


def format_number(value: float) -> str:
    """Two decimals, or two significant digits for small magnitudes."""
    if value == 0 or not math.isfinite(value) or abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.2g}"


def _format_stat(stat: MetricStat | None, n_seeds: int) -> str:
    if stat is None:
        return MISSING
    text = f"{format_number(stat.mean)} ± {format_number(stat.std)}"
    return text if stat.n == n_seeds else f"{text} (n={stat.n})"


def _metric_table(summary: RunSummary, names: Sequence[str]) -> Table:
    rows = []
    marked = set()
    for i, method in enumerate(summary.methods):
        rows.append(
            (
                method.method,
                str(method.n_seeds),
                *(_format_stat(method.stats.get(n), method.n_seeds) for n in names),
            )
        )
        if method.method in summary.best and "avg_gap" in names:
            marked.add((i, 2 + list(names).index("avg_gap")))
    header = ("Method", "Seeds", *(METRIC_LABELS.get(n, n) for n in names))
    return Table(header, tuple(rows), frozenset(marked))


def _format_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _format_mapping(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_format_value(v)}" for k, v in mapping.items()) or MISSING


def _varies(keys: Sequence[str]) -> dict[str, str]:
    return dict.fromkeys(keys, "(varies by seed)")


def report_content(summary: RunSummary, plot_names: Sequence[str]) -> ReportContent:
    """Format a summary for rendering; ``plot_names`` are the plots that were drawn."""
    others = summary.metric_names[len(PRIMARY_METRICS) :]
    n_cells = sum(m.n_seeds for m in summary.methods)
    overview = (
        f"{n_cells} finished cells over {len(summary.methods)} methods"
        f" ({', '.join(m.method for m in summary.methods)}), {len(summary.failed)} failed."
        " Each entry is mean ± sample std over seeds (std is 0 for a single seed);"
        " (n=k) marks a metric that only k seeds have."
    )
    if summary.best:
        overview += (f" {BEST_MARK} marks the lowest mean Avg Gap among the unlearning methods"
                     " (retraining from scratch left out).")
    configuration = [(k, _format_value(v)) for k, v in summary.configuration.items()]
    if summary.varying_config_keys:
        configuration.append(("varies across cells", ", ".join(summary.varying_config_keys)))
    configuration.append(("versions", _format_mapping(summary.versions)))
    configuration.append(("git commit", ", ".join(summary.git_commits) or MISSING))
    configuration.append(("started / finished", f"{summary.started_at} / {summary.finished_at}"))
    hyperparameters = Table(
        ("Method", "Hyperparameters"),
        tuple(
            (m.method, _format_mapping({**m.hyperparameters, **_varies(m.varying_hyperparameters)}))
            for m in summary.methods
        ),
    )
    return ReportContent(
        title="ftunlearn benchmark report",
        overview=overview,
        results=_metric_table(summary, PRIMARY_METRICS),
        other_metrics=_metric_table(summary, others) if others else None,
        hyperparameters=hyperparameters,
        configuration=tuple(configuration),
        failed=tuple(
            (f"{c.method}, seed {c.seed} (cell {c.cell_key})", c.error or "")
            for c in summary.failed
        ),
        plots=tuple((PLOT_TITLES[n], PLOT_FILES[n]) for n in plot_names),
    )


def _markdown_table(table: Table) -> list[str]:
    def cell(text: str, marked: bool) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}** {BEST_MARK}" if marked else text

    lines = [
        "| " + " | ".join(table.header) + " |",
        "| " + " | ".join("---" for _ in table.header) + " |",
    ]
    for i, row in enumerate(table.rows):
        cells = (cell(text, (i, j) in table.marked) for j, text in enumerate(row))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(content: ReportContent) -> str:
    """The report as Markdown, with the plots linked by relative path."""
    lines = [f"# {content.title}", "", content.overview, "", "## Results", ""]
    lines += _markdown_table(content.results)
    if content.other_metrics is not None:
        lines += ["", "## Other metrics", "", *_markdown_table(content.other_metrics)]
    if content.plots:
        lines += ["", "## Plots", ""]
        for title, filename in content.plots:
            lines += [f"![{title}]({filename})", ""]
        lines.pop()
    lines += ["", "## Hyperparameters", "", *_markdown_table(content.hyperparameters)]
    lines += ["", "## Configuration", ""]
    lines += [f"- **{key}**: {value}" for key, value in content.configuration]
    lines += ["", "## Failed cells", ""]
    if not content.failed:
        lines.append("None.")
    for label, error in content.failed:
        fence = "`" * max(3, _longest_backtick_run(error) + 1)
        lines += [f"- {label}:", "", f"  {fence}"]
        lines += [f"  {line}" for line in error.splitlines()]
        lines += [f"  {fence}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest

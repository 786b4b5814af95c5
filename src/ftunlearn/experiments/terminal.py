"""The main results table in a terminal (rich), printed when `bench` finishes, and the audit's
table, printed when `audit` (or `bench --audit`) finishes."""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from ftunlearn.experiments.audit import AuditOutcome
    from ftunlearn.experiments.report import RunSummary

TERMINAL_METRICS = ("UA", "RA", "TA", "MIA", "avg_gap", "rte_seconds")
PIPE_WIDTH = 120
AUDIT_PIPE_WIDTH = 150  # the audit's columns with their ± spreads need more than 120
AUDIT_TERMINAL_DROPS = ("final", "U-LiRA acc", "TPR@1%FPR", "TPR@5%FPR", "KLOM P95 retain",
                        "KLOM P95 test")
"""audit.md columns left out of the terminal's table, so the verdict columns fit."""


def main_table(summary: RunSummary) -> Table:
    """Methods × UA, RA, TA, MIA, Avg Gap, RTE: mean ± 95 % interval half-width."""
    from ftunlearn.experiments.report import BEST_MARK, format_stat, metric_label, verdict_notes

    table = Table(title="ftunlearn: " + " / ".join(
        str(summary.configuration[k]) for k in ("dataset", "model", "forget")
        if k in summary.configuration), caption=" ".join(verdict_notes(summary)) or None)
    table.add_column("Method", style="bold", no_wrap=True)
    table.add_column("Seeds", justify="right", no_wrap=True)
    for name in TERMINAL_METRICS:
        table.add_column(metric_label(name), justify="right", no_wrap=True)
    for method in summary.methods:
        cells = []
        for name in TERMINAL_METRICS:
            text = format_stat(method.stats.get(name), method.n_seeds)
            if name == "avg_gap" and method.method in summary.best:
                text = f"[bold green]{text} {BEST_MARK}[/]"
            cells.append(text)
        table.add_row(method.method, str(method.n_seeds), *cells,
                      style="dim" if method.is_pseudo else None)
    return table


def audit_table(outcome: AuditOutcome) -> Table:
    """The audit's table (audit.md's columns), the null row dimmed, its verdict as caption."""
    from ftunlearn.experiments.audit import NULL_ROW, audit_title, table_cells

    header, body = table_cells(outcome)
    kept = [i for i, name in enumerate(header) if name not in AUDIT_TERMINAL_DROPS]
    table = Table(title=audit_title(outcome), caption=outcome.verdict)
    table.add_column(header[0], style="bold", no_wrap=True)
    for i in kept[1:]:
        table.add_column(header[i], justify="right", no_wrap=True)
    for row in body:
        table.add_row(*(row[i] for i in kept), style="dim" if row[0] == NULL_ROW else None)
    return table


def _console(file: IO[str] | None, width: int | None, pipe_width: int = PIPE_WIDTH) -> Console:
    """Colours only on a terminal, and a wide enough page for every column when the output is a
    file or pipe."""
    stream = file if file is not None else sys.stdout
    if width is None and not stream.isatty():
        width = pipe_width
    return Console(file=stream, width=width, highlight=False)


def print_main_table(summary: RunSummary, file: IO[str] | None = None,
                     width: int | None = None) -> None:
    """Print the table to ``file`` (stdout by default)."""
    _console(file, width).print(main_table(summary))


def print_audit_table(outcome: AuditOutcome, file: IO[str] | None = None,
                      width: int | None = None) -> None:
    """Print the audit's table to ``file`` (stdout by default)."""
    _console(file, width, AUDIT_PIPE_WIDTH).print(audit_table(outcome))

"""``report.md`` and ``report.html`` of an ``ftunlearn unlearn`` folder, from its manifest.

The page is the bench report's: the same layout, style, metric names and definitions (from the
metric registry), and the same "attack at chance" rule (``report.CHANCE_ATTACK_ACC``): a
model's MIA column is flagged when its attack's own accuracy is below it, and Avg Gap is then
also shown without MIA. Columns: the original, the unlearned model and, with ``--golden``, the
golden model; a table of files names every input's and the output's sha256.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftunlearn.atomic import write_atomic
from ftunlearn.experiments.html import render_page, table_view
from ftunlearn.experiments.report import (
    AVG_GAP,
    AVG_GAP_WITHOUT_MIA,
    CHANCE_ATTACK_ACC,
    CHANCE_FLAG,
    MIA,
    MIA_ATTACK_ACC,
    MISSING,
    PRIMARY_METRICS,
    REPORT_HTML,
    REPORT_MD,
    Table,
    definition_items,
    format_number,
    markdown_table,
    metric_label,
)
from ftunlearn.unlearn_outputs import INPUT_FILES, MODEL_FILENAME

COLUMNS = (("original_metrics", "Original"), ("metrics", "Unlearned"),
           ("golden_metrics", "Golden"))
"""The manifest's metric mappings, in column order, with their headers."""


@dataclass(frozen=True)
class UnlearnReport:
    """The formatted pieces shared by the Markdown and HTML renderings."""

    title: str
    identity: tuple[tuple[str, str], ...]
    results: Table
    notes: tuple[str, ...]
    files: Table
    definitions: tuple[tuple[str, str], ...]


def write_unlearn_reports(out: Path, manifest: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; returns their paths."""
    report = unlearn_report(manifest)
    markdown, page = out / REPORT_MD, out / REPORT_HTML
    write_atomic(markdown, render_markdown(report).encode())
    write_atomic(page, render_page("unlearn_report.html.j2", title=report.title, report=report,
                                   results=table_view(report.results),
                                   files=table_view(report.files)).encode())
    return markdown, page


def unlearn_report(manifest: Mapping[str, Any]) -> UnlearnReport:
    columns = [(header, _with_gap_without_mia(manifest, key)) for key, header in COLUMNS
               if manifest.get(key)]
    chance = [header for header, metrics in columns if _at_chance(metrics)]
    names = _metric_names([metrics for _, metrics in columns], bool(chance))
    rows = []
    for name in names:
        cells = []
        for header, metrics in columns:
            value = metrics.get(name)
            text = MISSING if value is None or _is_nan(value) else format_number(float(value))
            if name == MIA and header in chance and text != MISSING:
                text += f" ({CHANCE_FLAG})"
            cells.append(text)
        rows.append((metric_label(name), *cells))
    results = Table(("Metric", *(header for header, _ in columns)), tuple(rows))
    title = (f"Unlearning {manifest['forget']} from {manifest['model']} on "
             f"{manifest['dataset']} with {manifest['method']}")
    return UnlearnReport(title=title, identity=tuple(_identity(manifest)), results=results,
                         notes=tuple(_notes(columns, chance)), files=_files(manifest),
                         definitions=tuple(definition_items(names)))


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _at_chance(metrics: Mapping[str, Any]) -> bool:
    """The bench report's rule: the attack's own accuracy below ``CHANCE_ATTACK_ACC``."""
    value = metrics.get(MIA_ATTACK_ACC)
    return value is not None and not _is_nan(value) and float(value) < CHANCE_ATTACK_ACC


def _with_gap_without_mia(manifest: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The column's metrics, plus Avg Gap without MIA against the golden model (where one was
    given and an attack is at chance: the bench report shows it then too)."""
    from ftunlearn.metrics.gaps import avg_gap
    from ftunlearn.metrics.registry import avg_gap_keys

    metrics = dict(manifest.get(key) or {})
    golden = manifest.get("golden_metrics") or {}
    if key == "golden_metrics" or not golden:
        return metrics
    if not any(_at_chance(manifest.get(k) or {}) for k, _ in COLUMNS):
        return metrics
    keys = tuple(k for k in avg_gap_keys() if k != MIA)
    if all(k in metrics and k in golden for k in keys):
        metrics[AVG_GAP_WITHOUT_MIA] = avg_gap(metrics, golden, keys)
    return metrics


def _metric_names(columns: Sequence[Mapping[str, Any]], chance: bool) -> list[str]:
    """The bench report's main metrics first (Avg Gap without MIA after Avg Gap when an attack
    is at chance), then the others in metric-registry order, then any unregistered by name."""
    from ftunlearn.metrics.registry import METRICS

    primary = list(PRIMARY_METRICS)
    if chance:
        primary.insert(primary.index(AVG_GAP) + 1, AVG_GAP_WITHOUT_MIA)
    present = {name for metrics in columns for name in metrics}
    registered = [n for n in METRICS.names() if n in present and n not in primary]
    unknown = sorted(present - set(primary) - set(registered))
    return [n for n in primary if n in present] + registered + unknown


def _notes(columns: Sequence[tuple[str, Mapping[str, Any]]], chance: Sequence[str]) -> list[str]:
    if not chance:
        return []
    accuracies = ", ".join(f"{header.lower()} {float(metrics[MIA_ATTACK_ACC]):.1f} %"
                           for header, metrics in columns if header in chance)
    also = (" Avg Gap is also shown without MIA." if any(
        AVG_GAP_WITHOUT_MIA in metrics for _, metrics in columns) else "")
    return [f"MIA {CHANCE_FLAG} for {', '.join(h.lower() for h in chance)} ({MIA_ATTACK_ACC} "
            f"{accuracies}, below {CHANCE_ATTACK_ACC:g} %): the attack cannot tell members from "
            f"non-members, so that MIA number is noise.{also}"]


def _identity(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    forget = manifest["forget"]
    count = (manifest.get("forget_indices") or {}).get("count")
    items = [(f"{MODEL_FILENAME} sha256", str(manifest.get("output_sha256") or MISSING)),
             ("dataset", str(manifest["dataset"]))]
    if manifest.get("data_file"):
        items.append(("data", str(manifest["data_file"]["path"])))
    architecture = manifest.get("architecture") or {}
    shape = architecture.get("input_shape")
    items += [
        ("model", str(manifest["model"]) + (
            f" (input {tuple(shape)}, {architecture['num_classes']} classes)" if shape else "")),
        ("forget", f"{forget} ({count} samples)" if count is not None else str(forget)),
        ("method", str(manifest["method"])),
        ("hyperparameters", _mapping(manifest.get("hyperparameters") or {})),
    ]
    if manifest.get("recipe"):
        items.append(("recipe", _mapping(manifest["recipe"])))
    items += [("golden", str(manifest.get("golden") or "none")),
              ("seed", str(manifest["seed"])),
              ("seconds", f"{manifest['unlearn_seconds']:.2f} unlearning, "
                          f"{manifest['total_seconds']:.2f} in all")]
    versions = manifest.get("versions") or {}
    if versions:
        items.append(("versions", _mapping(versions)))
    if manifest.get("command"):
        items.append(("command", " ".join(manifest["command"])))
    return items


def _mapping(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or MISSING


def _files(manifest: Mapping[str, Any]) -> Table:
    """Each file of the run with its role and sha256 (docs/protocol.md, "What the hashes
    cover")."""
    rows = [(MODEL_FILENAME, "output: the unlearned model", manifest.get("output_sha256")
             or MISSING)]
    for key, option in INPUT_FILES.items():
        record = manifest.get(key)
        if record:
            rows.append((str(record["path"]), f"input: {option}",
                         record["sha256"] or "a folder: not hashed"))
    indices = manifest.get("forget_indices")
    if indices:
        rows.append((f"{indices['count']} forget indices", "the forget set (sorted indices as "
                     "comma-joined decimal text)", indices["sha256"]))
    return Table(("File", "Role", "sha256"), tuple(rows))


def render_markdown(report: UnlearnReport) -> str:
    lines = [f"# {report.title}", "", *(f"- **{k}**: {v}" for k, v in report.identity), "",
             "## Results", "", *markdown_table(report.results)]
    if report.notes:
        lines += ["", *(f"- {note}" for note in report.notes)]
    lines += ["", "## Files", "", *markdown_table(report.files)]
    lines += ["", "## Definitions", "", *(f"- **{k}**: {v}" for k, v in report.definitions)]
    return "\n".join(lines) + "\n"

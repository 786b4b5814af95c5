"""Writing the lab's rows (JSON, CSV) and printing them as mean ± std tables."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from ftunlearn.errors import UnlearnError
from ftunlearn.linear.models import MODEL_NAMES

TABLE_METRICS: tuple[str, ...] = ("UL", "RL")


def _write_atomically(path: Path, write: Callable[[TextIO], object]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        write(handle)
    os.replace(temporary, path)


def _columns(rows: Iterable[Mapping[str, object]]) -> list[str]:
    """The union of the rows' keys, in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row))


def write_json(rows: Sequence[Mapping[str, object]], path: Path) -> None:
    """``rows`` as one JSON list of flat objects."""
    _write_atomically(path, lambda handle: json.dump(list(rows), handle, indent=1))


def write_csv(rows: Sequence[Mapping[str, object]], path: Path) -> None:
    """``rows`` as CSV; a key a row lacks (other scenario kind) and ``None`` are empty cells."""

    def write(handle: TextIO) -> None:
        writer = csv.DictWriter(handle, fieldnames=_columns(rows), restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})

    _write_atomically(path, write)


def prepare_output(out_dir: Path) -> Path:
    """Create ``out_dir`` (and parents); a clear error if that is impossible."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UnlearnError(f"cannot create the output folder {out_dir}: {error}") from error
    if not os.access(out_dir, os.W_OK):
        raise UnlearnError(f"the output folder {out_dir} is not writable; choose another --out")
    return out_dir


def _cell(entry: Mapping[str, object] | None, metric: str) -> str:
    if entry is None:
        return "-"
    return f"{entry[f'{metric}_mean']:.3f}±{entry[f'{metric}_std']:.3f}"


def format_tables(summary: Sequence[Mapping[str, object]]) -> str:
    """Per experiment and metric of ``TABLE_METRICS``: swept values x models, mean ± std."""
    lines: list[str] = []
    experiments = list(dict.fromkeys(entry["experiment"] for entry in summary))
    for experiment in experiments:
        entries = [e for e in summary if e["experiment"] == experiment]
        sweep = str(entries[0]["sweep"]) or "-"
        trials = entries[0]["trials"]
        values = list(dict.fromkeys(e["value"] for e in entries))
        by_key = {(e["value"], e["model"]): e for e in entries}
        for metric in TABLE_METRICS:
            lines.append(f"{experiment}: {metric}, mean ± std over {trials} trial(s)")
            header = f"{sweep:>10} " + " ".join(f"{m:>13}" for m in MODEL_NAMES)
            lines.append(header)
            for value in values:
                label = "limit" if value is None and sweep == "steps" else str(value)
                cells = " ".join(
                    f"{_cell(by_key.get((value, m)), metric):>13}" for m in MODEL_NAMES
                )
                lines.append(f"{label if sweep != '-' else '':>10} {cells}")
            lines.append("")
    return "\n".join(lines)

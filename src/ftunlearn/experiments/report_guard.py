"""Keeps a good report from being replaced by a worse one.

Next to the report files, ``report.json`` records what the report was made of: the digest of the
run's plan (its content-addressed cell keys) and how many cells it counted. A new report of the
same plan with fewer finished cells means rows were lost (a damaged or replaced store); it is
refused unless forced. A report of another plan (new inputs or configuration) is a new question
and may have fewer cells.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.store import CellResult

REPORT_JSON = "report.json"
IGNORED_LABEL = "stored rows left out"

log = logging.getLogger(__name__)


def report_record(results: Sequence[CellResult]) -> dict[str, Any]:
    """What a report of ``results`` is made of (``plan`` and ``ignored`` when they come from
    ``runner.run_results``)."""
    return {
        "plan": getattr(results, "plan", None),
        "finished": sum(r.status == "ok" for r in results),
        "rows": len(results),
        "ignored": getattr(results, "ignored", 0),
        "identities": sorted({str(r.config.get("identity", "")) for r in results}),
    }


def ignored_note(results: Sequence[CellResult]) -> dict[str, str]:
    """The configuration line that says how many stored rows the report left out."""
    ignored = getattr(results, "ignored", None)
    if ignored is None:
        return {}
    note = f"{ignored} (rows of earlier inputs or configurations of this folder, kept in " \
           "results.sqlite)"
    damaged = getattr(results, "damaged", 0)
    if damaged:
        note += f"; {damaged} damaged row(s) skipped, each named in a warning"
    return {IGNORED_LABEL: note}


def check_not_worse(run_dir: Path, record: dict[str, Any], *, force: bool) -> None:
    """Refuse to replace a report of the same plan that counted more finished cells."""
    path = run_dir / REPORT_JSON
    if force or record["plan"] is None or not path.exists():
        return
    try:
        previous = json.loads(path.read_text())
        kept = int(previous["finished"]) if previous.get("plan") == record["plan"] else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("%s is unreadable (%s); writing the report anyway", path, error)
        return
    if kept is not None and record["finished"] < kept:
        raise UnlearnError(
            f"the existing report in {run_dir} counts {kept} finished cells of this run, but "
            f"the store now holds {record['finished']}: rows were lost, so the report was "
            "kept. Restore results.sqlite, or pass --force to write the smaller report"
        )


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    from ftunlearn.experiments.runner import write_json_atomic

    write_json_atomic(run_dir / REPORT_JSON, record)

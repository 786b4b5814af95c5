"""The results store: one SQLite database per benchmark run, one row per (method, seed) cell.

The driver of a run is the only writer. Every write is one transaction in WAL mode, so a process
killed at any moment leaves each cell either fully written or absent. A row damaged afterwards
(by hand or by another program) is skipped on every read with a warning naming its cell and the
defect; it never reaches a report. The schema is documented in ``docs/results-store.md``.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from types import TracebackType
from typing import Any

from ftunlearn.disk import OutOfSpace, writing
from ftunlearn.errors import UnlearnError

log = logging.getLogger(__name__)

RESULTS_FILENAME = "results.sqlite"
SCHEMA_VERSION = 1
CELL_STATUSES = ("ok", "failed")
REQUIRED_TABLES = ("meta", "cells", "metric", "cell_metric")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    cell_key        TEXT PRIMARY KEY,
    method          TEXT NOT NULL,
    seed            INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error           TEXT,
    config          TEXT NOT NULL,
    hyperparameters TEXT NOT NULL,
    unlearn_seconds REAL,
    eval_seconds    REAL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    versions        TEXT NOT NULL,
    git_commit      TEXT
);
CREATE TABLE IF NOT EXISTS metric (
    cell_key TEXT NOT NULL REFERENCES cells (cell_key) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name     TEXT NOT NULL,
    value    REAL,
    PRIMARY KEY (cell_key, name)
);
CREATE INDEX IF NOT EXISTS metric_by_name ON metric (name);
CREATE VIEW IF NOT EXISTS cell_metric AS
    SELECT c.cell_key, c.method, c.seed, c.status, m.name, m.value
    FROM cells AS c JOIN metric AS m USING (cell_key);
"""

_CELL_COLUMNS = (
    "cell_key",
    "method",
    "seed",
    "status",
    "error",
    "config",
    "hyperparameters",
    "unlearn_seconds",
    "eval_seconds",
    "started_at",
    "finished_at",
    "versions",
    "git_commit",
)


@dataclass(frozen=True)
class CellResult:
    """The outcome of one (method, seed) cell of a benchmark run.

    ``metrics`` maps metric names (UA, RA, TA, MIA, avg_gap, ...) to floats; any subset may be
    present and NaN means "computed but undefined". A failed cell carries its error message and
    usually no metrics. The pseudo-method ``golden`` holds the retrained model's own metrics.
    ``config``, ``hyperparameters`` and ``versions`` must be JSON-compatible (tuples come back
    from the store as lists).
    """

    cell_key: str
    method: str
    seed: int
    status: str
    error: str | None
    config: dict[str, Any]
    hyperparameters: dict[str, Any]
    metrics: dict[str, float]
    unlearn_seconds: float | None
    eval_seconds: float | None
    started_at: str
    finished_at: str
    versions: dict[str, str]
    git_commit: str | None

    def __post_init__(self) -> None:
        for name in ("cell_key", "method"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise UnlearnError(f"CellResult.{name} must be a non-empty string, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UnlearnError(f"CellResult.seed must be an int, got {self.seed!r}")
        if self.status not in CELL_STATUSES:
            raise UnlearnError(
                f"CellResult.status must be one of {CELL_STATUSES}, got {self.status!r}"
            )
        if self.status == "failed" and not (isinstance(self.error, str) and self.error):
            raise UnlearnError(
                f"cell {self.cell_key!r} has status 'failed' but no error message; "
                "record the exception text in CellResult.error"
            )
        if self.status == "ok" and self.error is not None:
            raise UnlearnError(
                f"cell {self.cell_key!r} has status 'ok' but an error ({self.error!r}); "
                "use status 'failed' or error=None"
            )
        object.__setattr__(self, "metrics", _as_metric_dict(self.cell_key, self.metrics))
        for name in ("unlearn_seconds", "eval_seconds"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_float(f"CellResult.{name}", value))


def _as_float(what: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise UnlearnError(f"{what} must be a real number, got {value!r}")
    return float(value)


def _as_metric_dict(cell_key: str, metrics: Mapping[str, object]) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        raise UnlearnError(f"cell {cell_key!r}: metrics must be a mapping, got {metrics!r}")
    checked: dict[str, float] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise UnlearnError(f"cell {cell_key!r}: metric names must be strings, got {name!r}")
        checked[name] = _as_float(f"cell {cell_key!r}: metric {name!r}", value)
    return checked


def _to_json(cell_key: str, field: str, value: object) -> str:
    if not isinstance(value, Mapping):
        raise UnlearnError(f"cell {cell_key!r}: {field} must be a dict, got {type(value).__name__}")
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UnlearnError(
            f"cell {cell_key!r}: {field} cannot be stored as JSON ({exc}); "
            "use only str, int, finite float, bool, None, lists and dicts"
        ) from exc


def _resolve_path(path: str | Path) -> Path:
    path = Path(path)
    return path / RESULTS_FILENAME if path.is_dir() else path


class ResultStore:
    """The SQLite results database of one run folder.

    ``path`` is the database file, or a folder that holds (or will hold) ``results.sqlite``.
    With ``create=False`` a missing database is an error instead of a new, empty one. With
    ``read_only=True`` (implies ``create=False``) the file is opened with SQLite's
    ``mode=ro`` and nothing is ever written, so a run on read-only media can be reported.
    A store with a missing table or a corrupt page raises :class:`UnlearnError`. A damaged row
    (see :func:`row_defects`) is skipped by every read with a warning; ``damaged`` lists the rows
    the latest read skipped, one line each.
    """

    def __init__(self, path: str | Path, *, create: bool = True, read_only: bool = False) -> None:
        self.path = _resolve_path(path)
        self.read_only = read_only
        self.damaged: tuple[str, ...] = ()
        if not self.path.exists():
            if not create or read_only:
                raise UnlearnError(
                    f"no results database at {self.path}; run `ftunlearn bench` first"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._connect()
        except sqlite3.Error as exc:
            raise UnlearnError(f"cannot open the results database {self.path}: {exc}") from exc
        try:
            if read_only:
                self._check_schema()
            else:
                with writing(self.path):
                    self._prepare()
        except OutOfSpace:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise UnlearnError(
                f"{self.path} is not a readable SQLite database ({exc}); "
                "point to a run folder written by `ftunlearn bench` or remove the file"
            ) from exc
        except UnlearnError:
            self._conn.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(self.path, isolation_level=None)
        # no -wal file means no writer holds uncommitted-to-file pages: read the file as it is
        # (immutable), creating no -wal/-shm beside it, which read-only media could not hold
        wal = self.path.with_name(self.path.name + "-wal")
        uri = self.read_only_uri(self.path, immutable=not wal.exists())
        return sqlite3.connect(uri, uri=True, isolation_level=None)

    @staticmethod
    def read_only_uri(path: Path, *, immutable: bool) -> str:
        """The SQLite URI that opens ``path`` read-only."""
        uri = f"{path.resolve().as_uri()}?mode=ro"
        return uri + "&immutable=1" if immutable else uri

    def _prepare(self) -> None:
        self._check_schema()  # before any write, so a foreign file is left untouched
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except BaseException:
            self._rollback()
            raise
        self._conn.execute("COMMIT")

    def _check_schema(self) -> None:
        """Refuse a database that is not an ftunlearn results store of this schema version."""
        tables = {
            row[0]
            for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            )
        }
        if tables and "meta" not in tables:
            raise UnlearnError(
                f"{self.path} is an SQLite database but not an ftunlearn results store "
                f"(it has tables {sorted(tables)} and no 'meta' table); "
                "choose another --out folder"
            )
        if "meta" in tables:
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            found = row[0] if row else None
            if found != str(SCHEMA_VERSION):
                raise UnlearnError(
                    f"{self.path} has results-store schema version {found!r}, but this ftunlearn "
                    f"reads version {SCHEMA_VERSION}; use the ftunlearn version that wrote it, "
                    "or start a new run in another --out folder"
                )
            missing = sorted(set(REQUIRED_TABLES) - tables)
            if missing:
                raise UnlearnError(
                    f"{self.path} is a damaged results store: table(s) {missing} are missing; "
                    "nothing was written. Restore it from a copy, or start a new run in "
                    "another --out folder"
                )
        elif self.read_only:
            raise UnlearnError(f"{self.path} is an empty SQLite file, not a results store")

    def write(self, result: CellResult) -> None:
        """Store one cell, replacing any earlier row with the same ``cell_key`` atomically."""
        key = result.cell_key
        row = (
            key,
            result.method,
            result.seed,
            result.status,
            result.error,
            _to_json(key, "config", result.config),
            _to_json(key, "hyperparameters", result.hyperparameters),
            result.unlearn_seconds,
            result.eval_seconds,
            result.started_at,
            result.finished_at,
            _to_json(key, "versions", result.versions),
            result.git_commit,
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in _CELL_COLUMNS[1:])
        upsert = (
            f"INSERT INTO cells ({', '.join(_CELL_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_CELL_COLUMNS))}) "
            f"ON CONFLICT (cell_key) DO UPDATE SET {updates}"
        )
        metric_rows = [
            (key, position, name, value)
            for position, (name, value) in enumerate(result.metrics.items())
        ]
        with writing(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(upsert, row)
                self._conn.execute("DELETE FROM metric WHERE cell_key = ?", (key,))
                self._conn.executemany(
                    "INSERT INTO metric (cell_key, position, name, value) VALUES (?, ?, ?, ?)",
                    metric_rows,
                )
            except BaseException:
                self._rollback()
                raise
            self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        """Undo the open transaction; SQLite may already have done so after a failed write."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def finished_keys(self) -> set[str]:
        """The keys of the cells that finished successfully (status ``ok``). A damaged row is not
        finished, so a resumed bench runs its cell again and the new row replaces it."""
        return {cell.cell_key for cell in self._read() if cell.status == "ok"}

    def results(self, status: str | None = "ok") -> list[CellResult]:
        """The stored cells with this status (``None``: all), in first-written order.

        Damaged rows are left out, each with a warning; when rows are stored and every one of
        them is damaged, the store is refused with one :class:`UnlearnError`."""
        if status is not None and status not in CELL_STATUSES:
            raise UnlearnError(f"status must be one of {CELL_STATUSES} or None, got {status!r}")
        cells = self._read()
        if self.damaged and not cells:
            raise UnlearnError(
                f"{self.path}: every stored row is damaged ({len(self.damaged)} row(s); the "
                f"first, {self.damaged[0]}); restore it from a copy, or start a new run in "
                "another --out folder"
            )
        return [cell for cell in cells if status is None or cell.status == status]

    def _read(self) -> list[CellResult]:
        """Every sound row as a cell, in first-written order; the others are logged and listed
        in ``damaged``."""
        try:
            rows = self._conn.execute(
                f"SELECT rowid, {', '.join(_CELL_COLUMNS)} FROM cells ORDER BY rowid"
            ).fetchall()
            metrics: dict[object, dict[object, object]] = {}
            for key, name, value in self._conn.execute(
                "SELECT cell_key, name, value FROM metric ORDER BY cell_key, position"
            ):
                metrics.setdefault(key, {})[name] = value
        except sqlite3.DatabaseError as exc:
            raise UnlearnError(
                f"{self.path} is a damaged results store ({type(exc).__name__}: {exc}); "
                "restore it from a copy, or start a new run in another --out folder"
            ) from exc
        cells: list[CellResult] = []
        damaged: list[str] = []
        for rowid, *row in rows:
            values = dict(zip(_CELL_COLUMNS, row, strict=True))
            cell_metrics = metrics.get(values["cell_key"], {})
            defects = row_defects(values, cell_metrics)
            if not defects:
                try:
                    cells.append(_cell_from_row(values, cell_metrics))
                    continue
                except UnlearnError as exc:  # a check CellResult makes that row_defects lacks
                    defects = [str(exc)]
            damaged.append(f"{_row_name(rowid, values)}: {'; '.join(defects)}")
            log.warning("%s: skipped the damaged row of %s", self.path, damaged[-1])
        self.damaged = tuple(damaged)
        return cells

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters: a warning stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row_name(rowid: int, values: Mapping[str, object]) -> str:
    """``cell 'KEY'``, or the rowid with its method and seed when the key is unusable."""
    key = values["cell_key"]
    if isinstance(key, str) and key:
        return f"cell {key!r}"
    return (f"the cell with no key at rowid {rowid} (method {_shown(values['method'])}, "
            f"seed {_shown(values['seed'])})")


def _text_defect(name: str, value: object, *, nullable: bool) -> str | None:
    if value is None:
        return None if nullable else f"its {name} is NULL"
    if not isinstance(value, str) or not value:
        return f"its {name} is {_shown(value)}, not a non-empty text"
    return None


def _json_defect(name: str, value: object) -> str | None:
    """Why a JSON column is not the JSON object the writer stores, or ``None``."""
    if not isinstance(value, str):
        return f"its {name} column is {_shown(value)}, not JSON text"

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not strict JSON")  # the writer never stores NaN

    try:
        parsed = json.loads(value, parse_constant=refuse)
    except ValueError as exc:
        return f"its {name} column is not valid JSON ({exc})"
    if not isinstance(parsed, dict):
        kind = {list: "array", str: "string", type(None): "null", bool: "boolean"}.get(
            type(parsed), "number")
        return f"its {name} column is a JSON {kind}, not an object"
    return None


def _number_defect(what: str, value: object) -> str | None:
    """Why a metric value SQLite returned is not a number (NULL is NaN), or ``None``."""
    if value is None or isinstance(value, int | float):
        return None
    if isinstance(value, str):
        return f"{what} is the text {_shown(value)}, not a number"
    return f"{what} is the blob {_shown(value)}, not a number"  # SQLite returns nothing else


def row_defects(values: Mapping[str, object], metrics: Mapping[object, object]) -> list[str]:
    """What makes a stored row unusable, one phrase per defect; empty for a sound row.

    ``values`` maps the ``cells`` columns to what SQLite returned, ``metrics`` the row's metric
    names to their values. The writer never stores any of these, so each means the file was
    changed afterwards: a key, method or timestamp that is not text, a seed that is not an
    integer, a status outside ``CELL_STATUSES``, an error that does not match the status, a JSON
    column that is not a JSON object, seconds that are not a finite number >= 0 and metric
    values that are not numbers.
    """
    defects = [d for d in (
        _text_defect("cell_key", values["cell_key"], nullable=False),
        _text_defect("method", values["method"], nullable=False),
        _text_defect("started_at", values["started_at"], nullable=False),
        _text_defect("finished_at", values["finished_at"], nullable=False),
        _text_defect("error", values["error"], nullable=True),
        _text_defect("git_commit", values["git_commit"], nullable=True),
        *(_json_defect(name, values[name]) for name in ("config", "hyperparameters", "versions")),
    ) if d is not None]
    seed = values["seed"]
    if not isinstance(seed, int):
        defects.append(f"its seed is {_shown(seed)}, not an integer")
    status = values["status"]
    if status not in CELL_STATUSES:
        known = ", ".join(repr(s) for s in CELL_STATUSES)
        defects.append(f"its status is {_shown(status)}, not one of {known}")
    elif status == "failed" and not values["error"]:
        defects.append("its status is 'failed' but it has no error message")
    elif status == "ok" and values["error"] is not None:
        defects.append("its status is 'ok' but it has an error message")
    for name in ("unlearn_seconds", "eval_seconds"):
        seconds = values[name]
        if seconds is None:
            continue
        if not isinstance(seconds, int | float) or not (math.isfinite(seconds) and seconds >= 0):
            defects.append(f"its {name} is {_shown(seconds)}, not a finite number >= 0")
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            defects.append(f"it has a metric named {_shown(name)}")
            continue
        defect = _number_defect(f"its metric {name!r}", value)
        if defect is not None:
            defects.append(defect)
    return defects


def _cell_from_row(values: Mapping[str, Any], metrics: Mapping[str, Any]) -> CellResult:
    """A sound row (``row_defects`` found nothing) as a cell; NULL metric values are NaN."""
    fields = dict(values)
    for field in ("config", "hyperparameters", "versions"):
        fields[field] = json.loads(fields[field])
    numbers = {name: math.nan if value is None else value for name, value in metrics.items()}
    return CellResult(metrics=numbers, **fields)

"""Opening ``tune``'s Optuna storage, checked first so that a wrong one is one clean line.

Optuna's ``RDBStorage`` creates its tables in whatever database it is handed (a foreign SQLite
file included) and fails with SQLAlchemy tracebacks on a bad URL, a missing driver or a file
that is no database. :func:`check_storage` parses the URL, loads its dialect and driver and, for
an SQLite file that exists, reads its table names read-only (so a foreign file is left exactly
as it was) before Optuna sees any of it; :func:`open_storage` then opens it and turns what
Optuna still refuses (an unreachable server, an old schema) into an :class:`UnlearnError`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import optuna
import sqlalchemy.exc
from sqlalchemy.engine import URL, make_url

from ftunlearn.errors import UnlearnError

SQLITE_HEADER = b"SQLite format 3\x00"
OPTUNA_TABLES = ("studies", "version_info")
"""Tables every Optuna RDB storage has; an SQLite file with tables but not these is foreign."""
_DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary",
                    "MySQLdb": "mysqlclient", "pymysql": "PyMySQL"}
_SHOWN_TABLES = 5


def check_storage(url: str, flag: str) -> None:
    """Refuse, without writing anything, a storage URL Optuna could not use or should not: not
    a URL, an unknown database kind, a driver that is not installed, an SQLite path in a missing
    folder, or an existing SQLite path that is not an Optuna storage. ``flag`` is the option
    that chose the storage (``--storage``, or ``--out`` for the default file in it)."""
    parsed = _parse(url)
    _check_driver(parsed, flag)
    path = _sqlite_path(parsed)
    if path is not None:
        _check_sqlite_file(path, flag)


def open_storage(url: str, flag: str) -> optuna.storages.RDBStorage:
    """Optuna's storage at ``url`` once :func:`check_storage` has passed it."""
    check_storage(url, flag)
    shown = _shown(make_url(url))
    try:
        return optuna.storages.RDBStorage(url)
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise UnlearnError(
            f"cannot open the Optuna storage {shown}: {reason}; check that the database "
            f"exists and is reachable and writable, or give another {flag}") from error
    except RuntimeError as error:  # Optuna's check of the schema version it finds
        raise UnlearnError(f"the Optuna storage {shown} cannot be used as it is: {error}"
                           ) from error


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise UnlearnError(
            f"--storage {url!r} is not a database URL; give one such as "
            "sqlite:///PATH/optuna.db or postgresql://USER@HOST/DB") from None


def _shown(parsed: URL) -> str:
    """The URL as the messages name it: never with its password."""
    return parsed.render_as_string(hide_password=True)


def _check_driver(parsed: URL, flag: str) -> None:
    shown = _shown(parsed)
    try:
        dialect = parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise UnlearnError(
            f"the Optuna storage {shown}: {parsed.drivername!r} is no database kind SQLAlchemy "
            f"knows; give {flag} a URL such as sqlite:///PATH/optuna.db, "
            "postgresql://USER@HOST/DB or mysql://USER@HOST/DB") from None
    try:
        dialect.import_dbapi()
    except ImportError as error:
        module = getattr(error, "name", None)
        if not module:
            raise UnlearnError(f"the Optuna storage {shown}: its database driver cannot be "
                               f"imported ({error}); reinstall it, or give another {flag}"
                               ) from error
        package = _DRIVER_PACKAGES.get(module, module)
        raise UnlearnError(
            f"the Optuna storage {shown} needs the Python module {module}, which is not "
            f"installed; install it (pip install {package}), or give another {flag}"
        ) from None


def _sqlite_path(parsed: URL) -> Path | None:
    """The file of an SQLite URL, or ``None`` for another database or an in-memory one (or
    an SQLite ``file:`` URI, which SQLite itself interprets)."""
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri"):
        return None
    if parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _check_sqlite_file(path: Path, flag: str) -> None:
    other = f"give another {flag}" if flag == "--storage" else \
        f"move the file away, or give another {flag}"
    if path.is_dir():
        raise UnlearnError(f"the Optuna storage {path} is a folder, not a file; {other}")
    folder = path.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UnlearnError(f"the folder {folder} of the Optuna storage {path} {what}; create "
                           f"the folder, or give another {flag}")
    # SQLite writes its journal beside the file, so even an existing storage needs the folder
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UnlearnError(f"the folder {folder} of the Optuna storage {path} is not writable; "
                           f"give another {flag}")
    if not path.is_file() or path.stat().st_size == 0:
        return  # Optuna creates its tables in a new or empty file
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise UnlearnError(f"cannot read the Optuna storage {path}: {error.strerror}; {other}"
                           ) from error
    if header != SQLITE_HEADER:
        raise UnlearnError(f"{path} is not an SQLite database, so not an Optuna storage; "
                           f"{other}")
    tables = _table_names(path, other)
    if tables and not set(OPTUNA_TABLES) <= tables:
        listed = sorted(tables)
        shown = ", ".join(listed[:_SHOWN_TABLES]) + (", ..." if len(listed) > _SHOWN_TABLES
                                                     else "")
        raise UnlearnError(
            f"{path} is an SQLite database but not an Optuna storage (it has tables {shown} "
            f"and not Optuna's {' and '.join(OPTUNA_TABLES)}); it was left untouched; {other}")
    if not os.access(path, os.W_OK):
        raise UnlearnError(f"the Optuna storage {path} is not writable; {other}")


def _table_names(path: Path, other: str) -> set[str]:
    """The tables of the SQLite file ``path``, read with SQLite's read-only mode."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise UnlearnError(f"cannot open the Optuna storage {path}: {error}; {other}"
                           ) from error
    try:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')").fetchall()
    except sqlite3.DatabaseError as error:
        raise UnlearnError(f"{path} is a damaged SQLite database ({error}), not a usable "
                           f"Optuna storage; {other}") from error
    finally:
        connection.close()
    return {str(name) for (name,) in rows}

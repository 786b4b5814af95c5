"""``tune``'s Optuna storage and its out folder: a storage Optuna cannot use, or should not (a
foreign SQLite file), is one clean line before any training and is left untouched; a second
``tune`` on one ``--out`` is refused by the writer lock ``bench`` takes."""

from __future__ import annotations

import importlib.util
import os
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from ftunlearn.cli import main
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.lock import OutDirLock
from ftunlearn.tuning import storage as storage_module
from ftunlearn.tuning.storage import check_storage, open_storage

pytestmark = pytest.mark.usefixtures("no_figures")


def _random_bytes(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 16)


def _text(path: Path) -> None:
    path.write_text("not a database\n")


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x)")
        connection.execute("INSERT INTO t VALUES (1)")
    connection.close()


def _damaged(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)


def _missing(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(importlib.util.find_spec(module) is not None,
                              reason=f"{module} is installed here")


# id: (--storage, with {tmp} for the test's folder, or None for OUT/optuna.db; what to put at
# that file first, or None; the fragment of the one line)
BAD_STORAGE = {
    "not a URL": ("not a url", None, "--storage 'not a url' is not a database URL; give one "
                  "such as sqlite:///PATH/optuna.db"),
    "unknown database kind": ("bogus://x", None, "the Optuna storage bogus://x: 'bogus' is no "
                              "database kind SQLAlchemy knows; give --storage a URL such as"),
    "missing PostgreSQL driver": pytest.param(
        "postgresql://u@localhost/db", None, "the Optuna storage postgresql://u@localhost/db "
        "needs the Python module psycopg, which is not installed; install it (pip install "
        "psycopg[binary]), or give another --storage", marks=_missing("psycopg")),
    "missing psycopg2, password hidden": pytest.param(
        "postgresql+psycopg2://u:secret@localhost/db", None, "the Optuna storage "
        "postgresql+psycopg2://u:***@localhost/db needs the Python module psycopg2, which is "
        "not installed; install it (pip install psycopg2-binary)", marks=_missing("psycopg2")),
    "SQLite file in a missing folder": (
        "sqlite:///{tmp}/missing/dir/x.db", None, "the folder {tmp}/missing/dir of the Optuna "
        "storage {tmp}/missing/dir/x.db does not exist; create the folder, or give another "
        "--storage"),
    "SQLite path that is a folder": (
        "sqlite:///{tmp}", None, "the Optuna storage {tmp} is a folder, not a file; give "
        "another --storage"),
    "foreign SQLite file as --storage": (
        "sqlite:///{tmp}/other.db", _foreign, "{tmp}/other.db is an SQLite database but not an "
        "Optuna storage (it has tables t and not Optuna's studies and version_info); it was "
        "left untouched; give another --storage"),
    "random bytes as optuna.db": (
        None, _random_bytes, "{tmp}/out/optuna.db is not an SQLite database, so not an Optuna "
        "storage; move the file away, or give another --out"),
    "text file as optuna.db": (
        None, _text, "{tmp}/out/optuna.db is not an SQLite database, so not an Optuna storage"),
    "foreign SQLite file as optuna.db": (
        None, _foreign, "{tmp}/out/optuna.db is an SQLite database but not an Optuna storage "
        "(it has tables t and not Optuna's studies and version_info); it was left untouched; "
        "move the file away, or give another --out"),
    "damaged SQLite file as optuna.db": (
        None, _damaged, "{tmp}/out/optuna.db is a damaged SQLite database (file is not a "
        "database), not a usable Optuna storage"),
}


def _tune(tmp_path: Path, *extra: str) -> list[str]:
    return ["tune", "--dataset", "digits", "--model", "mlp:hidden=16,depth=1", "--methods",
            "ft", "--trials", "1", "--out", str(tmp_path / "out"), "--no-progress",
            "--threads", "1", *extra]


@pytest.mark.parametrize("storage,prepare,expected", BAD_STORAGE.values(),
                         ids=BAD_STORAGE.keys())
def test_a_bad_storage_is_one_clean_line_before_anything_runs(
        storage: str | None, prepare: Callable[[Path], None] | None, expected: str,
        tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FTUNLEARN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    if storage is None:
        out.mkdir()
        target = out / "optuna.db"
        extra: list[str] = []
    else:
        storage = storage.format(tmp=tmp_path)
        target = Path(storage.removeprefix("sqlite:///"))
        extra = ["--storage", storage]
    if prepare is not None:
        prepare(target)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    written = target.read_bytes() if prepare is not None else None
    code = main(_tune(tmp_path, *extra))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err and "secret" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("ftunlearn tune: error: "), err
    assert expected.format(tmp=tmp_path) in lines[0], err
    # refused before the data loads: no cache, no out folder made, no lock, nothing changed
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    if written is not None:
        assert target.read_bytes() == written


def test_a_foreign_sqlite_file_is_left_untouched(tmp_path: Path, capsys) -> None:
    path = tmp_path / "out" / "optuna.db"
    path.parent.mkdir()
    _foreign(path)
    written = path.read_bytes()
    with pytest.raises(UnlearnError, match="not an Optuna storage"):
        open_storage(f"sqlite:///{path}", "--out")
    assert main(_tune(tmp_path)) == 2
    assert "not an Optuna storage" in capsys.readouterr().err
    assert path.read_bytes() == written  # no Optuna tables added, not even a journal
    assert sorted(os.listdir(path.parent)) == ["optuna.db"]
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    connection.close()


def test_an_optuna_storage_an_empty_file_and_a_new_file_are_accepted(tmp_path: Path) -> None:
    existing = tmp_path / "existing.db"
    optuna.storages.RDBStorage(f"sqlite:///{existing}").engine.dispose()
    (tmp_path / "empty.db").touch()
    for name in ("existing.db", "empty.db", "new.db"):
        storage = open_storage(f"sqlite:///{tmp_path / name}", "--storage")
        assert storage.get_all_studies() == []
        storage.engine.dispose()
    check_storage("sqlite://", "--storage")  # in memory: no file to check


@pytest.mark.parametrize("error,expected", [
    (sqlalchemy.exc.OperationalError("connect", {}, Exception("connection refused\nis it up?")),
     "cannot open the Optuna storage sqlite:///{tmp}/x.db: connection refused; check that "
     "the database exists and is reachable and writable, or give another --storage"),
    (RuntimeError("The runtime optuna version 9 is no longer compatible with the table schema"),
     "the Optuna storage sqlite:///{tmp}/x.db cannot be used as it is: The runtime optuna "
     "version 9 is no longer compatible"),
], ids=["unreachable", "old schema"])
def test_what_optuna_still_refuses_is_an_unlearn_error(error, expected, tmp_path,
                                                       monkeypatch) -> None:
    def refuse(url: str) -> None:
        raise error

    monkeypatch.setattr(storage_module.optuna.storages, "RDBStorage", refuse)
    with pytest.raises(UnlearnError) as raised:
        open_storage(f"sqlite:///{tmp_path}/x.db", "--storage")
    assert expected.format(tmp=tmp_path) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_second_tune_on_one_out_folder_is_refused_by_the_lock(tmp_path: Path, capsys,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("FTUNLEARN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    out.mkdir()
    with OutDirLock(out):  # what a running tune (or bench) holds
        code = main(_tune(tmp_path))
    err = capsys.readouterr().err
    assert code == 2, err
    [line] = err.splitlines()
    assert line.startswith(f"ftunlearn tune: error: {out} is being written by another ftunlearn "
                           f"process (pid {os.getpid()} on {socket.gethostname()} since "), line
    assert line.endswith("); wait for it to finish, or use another --out"), line
    assert sorted(os.listdir(out)) == [".lock"]  # no storage opened, nothing trained
    assert not (tmp_path / "cache").exists()
    with OutDirLock(out):  # released with the refused run: the folder is free again
        pass

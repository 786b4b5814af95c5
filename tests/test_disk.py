"""A full disk is one line naming the file, whatever layer reports it, and a run stops at the
first one instead of failing every later cell."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ftunlearn.cli import main
from ftunlearn.disk import OutOfSpace, out_of_space, writing
from ftunlearn.errors import UnlearnError


def _wrapped(inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as error:
            raise UnlearnError("writing the cache failed") from error
    except UnlearnError as outer:
        return outer


SPACE = {
    "ENOSPC": (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
    "EFBIG": (OSError(errno.EFBIG, "File too large"), errno.EFBIG),
    "sqlite full": (sqlite3.OperationalError("database or disk is full"), errno.ENOSPC),
    "safetensors text": (RuntimeError("Error while serializing: IoError(Os { code: 28, "
                                      "kind: StorageFull }) os error 28"), errno.ENOSPC),
    "python text": (ValueError("[Errno 28] No space left on device"), errno.ENOSPC),
    "wrapped": (_wrapped(OSError(errno.ENOSPC, "No space left")), errno.ENOSPC),
}
NOT_SPACE = {
    "permission": OSError(errno.EACCES, "Permission denied"),
    "other sqlite": sqlite3.OperationalError("no such table: cell"),
    "other text": RuntimeError("os error 2"),
    "plain": ValueError("bad value"),
}


@pytest.mark.parametrize(("error", "number"), SPACE.values(), ids=SPACE.keys())
def test_out_of_space_is_recognised_in_every_disguise(error, number):
    assert out_of_space(error) == number


@pytest.mark.parametrize("error", NOT_SPACE.values(), ids=NOT_SPACE.keys())
def test_other_errors_are_not_out_of_space(error):
    assert out_of_space(error) is None


def test_writing_names_the_file_and_keeps_the_cause(tmp_path):
    target = tmp_path / "model.safetensors"
    with pytest.raises(OutOfSpace) as caught, writing(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(caught.value).startswith(f"no space left on the device writing {target}")
    assert "MB free" in str(caught.value)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    with pytest.raises(ValueError, match="unrelated"), writing(target):
        raise ValueError("unrelated")


def test_a_full_cache_disk_stops_the_bench_at_the_first_write(tmp_path, capsys, monkeypatch):
    from ftunlearn.experiments import cache

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x_train=rng.normal(size=(40, 6)).astype(np.float32),
             y_train=np.arange(40) % 2, x_test=rng.normal(size=(10, 6)).astype(np.float32),
             y_test=np.arange(10) % 2)
    writes = []

    def full(*args, **kwargs):
        writes.append(args)
        raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: "
                           "StorageFull, message: \"No space left on device\" })")

    monkeypatch.setattr(cache, "save_file", full)
    out = tmp_path / "out"
    code = main(["bench", "--dataset", "npz", "--data-dir", str(tmp_path / "data.npz"),
                 "--model", "mlp:hidden=4", "--methods", "ft,rl", "--seeds", "1,2",
                 "--recipe", "epochs=1", "--no-progress", "--no-report", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("ftunlearn bench: error: no space left on the device writing "
                               f"{Path(tmp_path / 'cache')}"), err
    assert "--cache-dir" in lines[0] and "to resume" in lines[0]
    assert len(writes) == 1  # the first failed write ended the run

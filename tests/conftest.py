"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tiny_bench_argv(tmp_path: Path):
    """``ftunlearn bench`` argv of a one-seed, one-method digits run into ``tmp_path/run``
    (the cache beside it), plus the caller's extra flags."""

    def argv(*extra: str) -> list[str]:
        return ["bench", "--dataset", "digits", "--model", "mlp:hidden=16,depth=1", "--methods",
                "ft", "--seeds", "1", "--recipe", "epochs=2", "--hp", "ft.epochs=1", "--out",
                str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
                "--device", "cpu", *extra]

    return argv

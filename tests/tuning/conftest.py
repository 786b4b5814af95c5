"""A tiny tuning setup shared by the tuning tests: digits, a one-layer mlp of width 16, a
two-epoch recipe, ft and dr-ft held at one epoch, no extra MIA features."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftunlearn.experiments.config import config_from_mapping

TINY = {
    "dataset": "digits", "model": "mlp:hidden=16,depth=1", "forget": "random:0.1",
    "methods": ["ft", "dr-ft"], "mia_extras": False, "recipe": {"epochs": 2},
    "hyperparameters": {"ft": {"epochs": 1}, "dr-ft": {"epochs": 1}},
}
TINY_TOML = """dataset = "digits"
model = "mlp:hidden=16,depth=1"
forget = "random:0.1"
methods = ["ft", "dr-ft"]
mia_extras = false
[recipe]
epochs = 2
[hyperparameters.ft]
epochs = 1
[hyperparameters.dr-ft]
epochs = 1
"""


@pytest.fixture(scope="session")
def tiny_config():
    return config_from_mapping(TINY)


@pytest.fixture(scope="session")
def tune_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One checkpoint cache for every tuning test (the originals and goldens train once)."""
    return tmp_path_factory.mktemp("tune-cache")


@pytest.fixture(scope="session")
def tiny_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tune-config") / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip drawing the figures (a second each) where a test does not look at them."""
    from ftunlearn.tuning import outputs

    monkeypatch.setattr(outputs, "_write_figures", lambda outcome: {})

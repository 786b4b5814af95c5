"""The configuration of a benchmark run: from CLI flags, a TOML file, or a named preset."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftunlearn.errors import UnlearnError
from ftunlearn.training import Recipe

ALL_METHODS: tuple[str, ...] = (
    "retrain", "ft", "dr-ft", "rbm", "salun", "ga", "neggrad+", "rl", "l1-sparse", "scrub", "iu",
    "ssd",
)
"""Every method, in the order reports list them."""

GOLDEN = "golden"
"""The pseudo-method whose rows hold the golden model's own metrics."""


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark: a dataset, a model, one forget spec, methods and seeds."""

    dataset: str = "digits"
    model: str = "mlp"
    forget: str = "random:0.1"
    methods: tuple[str, ...] = ALL_METHODS
    seeds: tuple[int, ...] = (0, 1, 2)
    recipe: Recipe = field(default_factory=Recipe)
    hyperparameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    data_dir: str | None = None
    device: str = "auto"
    mia_extras: bool = True
    """Also report MIA with the entropy, modified-entropy and loss features (each costs one more
    SVC fit: seconds per cell at Fashion-MNIST size)."""

    def __post_init__(self) -> None:
        if not self.methods:
            raise UnlearnError("no methods to run: give --methods a comma-separated list")
        if len(set(self.methods)) != len(self.methods):
            raise UnlearnError(f"a method is listed twice in {list(self.methods)}")
        if GOLDEN in self.methods:
            raise UnlearnError(f"{GOLDEN!r} is always evaluated; do not list it as a method")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UnlearnError(f"seeds must be distinct and at least one, got {list(self.seeds)}")
        stray = sorted(set(self.hyperparameters) - set(self.methods))
        if stray:
            raise UnlearnError(f"hyperparameters given for methods not run: {stray}")

    def base(self) -> dict[str, Any]:
        """What every cell of the run shares: changing it makes a different run."""
        return {
            "dataset": self.dataset, "model": self.model, "forget": self.forget,
            "recipe": self.recipe.to_dict(), "mia_extras": self.mia_extras,
        }

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["methods"] = list(self.methods)
        data["seeds"] = list(self.seeds)
        data["hyperparameters"] = {k: dict(v) for k, v in self.hyperparameters.items()}
        return data


def digest(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_seeds(value: str | int | list[int]) -> tuple[int, ...]:
    """``3`` means seeds 0, 1, 2; ``"0,5,9"`` or a list means exactly those."""
    if isinstance(value, list):
        return tuple(int(v) for v in value)
    text = str(value).strip()
    try:
        if "," in text:
            return tuple(int(part) for part in text.split(",") if part.strip())
        count = int(text)
    except ValueError:
        raise UnlearnError(f"bad seeds {value!r}: give a count (3) or a list (0,1,2)") from None
    if count < 1:
        raise UnlearnError(f"the number of seeds must be >= 1, got {count}")
    return tuple(range(count))


def parse_methods(value: str | list[str]) -> tuple[str, ...]:
    """A comma-separated list of method names, or ``all``."""
    names = value if isinstance(value, list) else [v.strip() for v in value.split(",")]
    names = [name for name in names if name]
    if names == ["all"]:
        return ALL_METHODS
    return tuple(names)


def parse_overrides(items: list[str]) -> dict[str, dict[str, str]]:
    """``METHOD.KEY=VALUE`` items into ``{method: {key: value}}`` (values coerced later)."""
    result: dict[str, dict[str, str]] = {}
    for item in items:
        target, eq, value = item.partition("=")
        method, dot, key = target.rpartition(".")
        if not eq or not dot or not method or not key:
            raise UnlearnError(
                f"bad override {item!r}: write METHOD.KEY=VALUE, e.g. dr-ft.alpha=0.5"
            )
        result.setdefault(method, {})[key] = value
    return result


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file: top-level keys as the CLI flags, tables ``[recipe]`` and
    ``[hyperparameters.METHOD]``."""
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UnlearnError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise UnlearnError(f"config file {path} is not valid TOML: {error}") from error


CONFIG_KEYS = {
    "dataset", "model", "forget", "methods", "seeds", "recipe", "hyperparameters", "data_dir",
    "device", "mia_extras",
}


def config_from_mapping(values: Mapping[str, Any]) -> BenchConfig:
    """Build a :class:`BenchConfig` from TOML-like values (unknown keys are an error)."""
    unknown = sorted(set(values) - CONFIG_KEYS)
    if unknown:
        raise UnlearnError(f"unknown config key(s) {unknown}; known: {sorted(CONFIG_KEYS)}")
    kwargs: dict[str, Any] = {k: v for k, v in values.items() if k in CONFIG_KEYS}
    if "methods" in kwargs:
        kwargs["methods"] = parse_methods(kwargs["methods"])
    if "seeds" in kwargs:
        kwargs["seeds"] = parse_seeds(kwargs["seeds"])
    if "recipe" in kwargs and not isinstance(kwargs["recipe"], Recipe):
        kwargs["recipe"] = Recipe().replace(**dict(kwargs["recipe"]))
    if "hyperparameters" in kwargs:
        kwargs["hyperparameters"] = {m: dict(h) for m, h in kwargs["hyperparameters"].items()}
    return BenchConfig(**kwargs)

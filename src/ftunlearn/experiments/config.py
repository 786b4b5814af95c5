"""The configuration of a benchmark run: from CLI flags, a TOML file, or a named preset."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.pseudo import PSEUDO_METHODS
from ftunlearn.methods.base import METHODS
from ftunlearn.metrics.registry import MetricSelection, NonMembers
from ftunlearn.params import Params, Range, Seed
from ftunlearn.training import Recipe

MAX_SEED_COUNT = 10_000
"""The most seeds a count may ask for (``--seeds N``): beyond it a typo, not a benchmark."""


def all_methods() -> tuple[str, ...]:
    """Every registered method, in registry order (what ``--methods all`` means)."""
    return METHODS.names()


@dataclass(frozen=True)
class BenchConfig(Params):
    """One benchmark: a dataset, a model, one forget spec, methods and seeds."""

    owner: ClassVar[str] = "bench config"
    key_word: ClassVar[str] = "config key"

    dataset: str = "digits"
    model: str = "mlp"
    forget: str = "random:0.1"
    methods: tuple[str, ...] = field(default_factory=all_methods)
    seeds: tuple[Seed, ...] = (0, 1, 2)
    recipe: Recipe = field(default_factory=Recipe)
    hyperparameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    data_dir: str | None = None
    device: str = "auto"
    mia_extras: bool = True
    """Also report MIA with the entropy, modified-entropy and loss features (each costs one more
    SVC fit: seconds per cell at Fashion-MNIST size)."""
    mia_non_members: NonMembers = "test"
    """Class-wise splits: the MIA attacks' non-members, the whole test set (default: the
    forget set's true non-members are unseen samples of every class) or only the kept classes'
    test samples (the reference code's choice)."""
    eval_retain_samples: Annotated[int, Range(ge=1)] | Literal["all"] = "all"
    """RA and the MIA members on all of D_r, or on at most this many retain samples (a seeded,
    label-stratified subsample, the same for every model of a seed): cheaper, with RA's
    sampling error (docs/performance.md, "Evaluation cost")."""
    attack_samples: Annotated[int, Range(ge=2)] | Literal["all", "auto"] = "auto"
    """Members and non-members each MIA attack is fitted on: at most this many a side, all, or
    ``"auto"`` (all where the SVC is solved exactly, else ``mia.ATTACK_SAMPLES``)."""
    metrics: MetricSelection = "all"
    """Every metric (default), or only the main table's (``primary``: UA, RA, TA, MIA, Avg Gap,
    forget-loss gap, RTE), for quick sweeps: the attack-quality check (MIA_attack_acc), loss-MIA
    and the other diagnostics are then not computed."""
    original_weights: str | None = None
    """The user's trained weights (``.safetensors`` or a ``.pt`` state dict) used as the original
    of every seed instead of training one; the golden models are still trained with the recipe."""
    tuning: Mapping[str, Any] = field(default_factory=dict)
    """The ``[tuning]`` table of a config written by ``ftunlearn tune`` (its ``seeds`` were
    tuned on, so a report on them is refused unless ``allow_tuning_seeds``)."""
    allow_tuning_seeds: bool = False
    """Debugging only: run on tuning seeds anyway (the report marks itself)."""

    def check(self) -> None:
        if not self.methods:
            self.fail("no methods to run: give --methods a comma-separated list")
        if len(set(self.methods)) != len(self.methods):
            self.fail(f"a method is listed twice in {list(self.methods)}")
        listed = [m for m in self.methods if m in PSEUDO_METHODS]
        if listed:
            self.fail(f"{listed} are always evaluated; do not list them as methods")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            self.fail(f"seeds must be distinct and at least one, got {list(self.seeds)}")
        stray = sorted(set(self.hyperparameters) - set(self.methods))
        if stray:
            self.fail(f"hyperparameters given for methods not run: {stray}")
        reused = sorted(set(self.seeds) & set(tuning_seeds(self.tuning)))
        if reused and not self.allow_tuning_seeds:
            self.fail(f"seeds {reused} were used to tune these hyperparameters (the [tuning] "
                      f"table: {list(tuning_seeds(self.tuning))}); report on other seeds, e.g. "
                      "--seeds 0,1,2 or a seeds list without them (--allow-tuning-seeds runs "
                      "anyway, for debugging only)")

    @property
    def evaluation_sizes(self) -> dict[str, int | str | None]:
        """``retain_samples`` and ``attack_samples`` as ``evaluate`` takes them."""
        return {"retain_samples": _evaluate_size(self.eval_retain_samples),
                "attack_samples": _evaluate_size(self.attack_samples)}

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`Params.to_dict`, without the tuning keys when unset and ``metrics`` when
        ``"all"`` (so such runs store the configuration they always did); ``allow_tuning_seeds``
        is kept only when it let tuning seeds run, which the report then says."""
        values = super().to_dict()
        if not self.tuning:
            values.pop("tuning")
        if self.metrics == "all":
            values.pop("metrics")
        if not (self.allow_tuning_seeds and set(self.seeds) & set(tuning_seeds(self.tuning))):
            values.pop("allow_tuning_seeds")
        return values

    def base(self) -> dict[str, Any]:
        """What every cell of the run shares: changing it makes a different run."""
        return {
            "dataset": self.dataset, "model": self.model, "forget": self.forget,
            "recipe": self.recipe.to_dict(), "mia_extras": self.mia_extras,
        }


def _evaluate_size(value: int | str) -> int | str | None:
    """A config's sample size as ``evaluate`` takes it: ``"all"`` is ``None``."""
    return None if value == "all" else value


def tuning_seeds(tuning: Mapping[str, Any]) -> tuple[int, ...]:
    """The seeds a ``[tuning]`` table says were tuned on (none when absent)."""
    seeds = tuning.get("seeds", ()) if isinstance(tuning, Mapping) else ()
    return tuple(s for s in seeds if isinstance(s, int)) if isinstance(seeds, list | tuple) else ()


def digest(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_seeds(value: Any) -> Any:
    """A count (``3`` or ``"3"``) as the seeds ``(0, 1, 2)``; a list (``"0,5,9"``, ``[0, 5]``)
    is left to :meth:`BenchConfig.from_values`, which reads it by the field's hint."""
    count = value.strip() if isinstance(value, str) and "," not in value else value
    if isinstance(count, str) and count.lstrip("+-").isdigit():
        # a count's digits are bounded before int() reads them (it refuses 4300+ digits)
        digits = count.lstrip("+-")
        count = int(count) if len(digits) <= len(str(MAX_SEED_COUNT)) else MAX_SEED_COUNT + 1
        if count > MAX_SEED_COUNT:
            raise UnlearnError(f"the number of seeds must be 1..{MAX_SEED_COUNT}, got {value} "
                               "(a count N means seeds 0..N-1; one seed S is the list S,)")
    if isinstance(count, int) and not isinstance(count, bool):
        if not 1 <= count <= MAX_SEED_COUNT:
            raise UnlearnError(f"the number of seeds must be 1..{MAX_SEED_COUNT}, got {count}")
        return tuple(range(count))
    return value


def parse_methods(value: str | list[str]) -> tuple[str, ...]:
    """A comma-separated list of method names, or ``all``."""
    if not isinstance(value, str | list | tuple):
        raise UnlearnError(f"methods must be a comma-separated text or a list of names, got "
                           f"{value!r}")
    names = list(value) if not isinstance(value, str) else [v.strip() for v in value.split(",")]
    names = [name for name in names if name]
    if names == ["all"]:
        return all_methods()
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
            values = tomllib.load(handle)
    except FileNotFoundError:
        raise UnlearnError(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise UnlearnError(f"config file {path} is a folder; give a .toml file") from None
    except tomllib.TOMLDecodeError as error:
        raise UnlearnError(f"config file {path} is not valid TOML: {error}") from error
    except UnicodeDecodeError as error:  # tomllib decodes the bytes itself, outside its errors
        raise UnlearnError(f"config file {path} is not UTF-8 text (byte "
                           f"0x{error.object[error.start]:02x} at offset {error.start}); save "
                           "it as UTF-8") from None
    _check_tables(values, path)
    return values


def _check_tables(values: Mapping[str, Any], path: str | Path) -> None:
    """Refuse ``recipe``, ``tuning`` or ``hyperparameters`` (and each method's entry) that are
    not tables, naming the file and the key; their contents are checked by the field hints."""
    for key in ("recipe", "tuning", "hyperparameters"):
        if key in values and not isinstance(values[key], Mapping):
            raise UnlearnError(f"config file {path}: {key} must be a table ([{key}] with "
                               f"KEY = VALUE lines), got {values[key]!r}")
    for method, table in values.get("hyperparameters", {}).items():
        if not isinstance(table, Mapping):
            raise UnlearnError(f"config file {path}: hyperparameters.{method} must be a table "
                               f"([hyperparameters.{method}] with KEY = VALUE lines), got "
                               f"{table!r}")


def config_from_mapping(values: Mapping[str, Any]) -> BenchConfig:
    """Build a :class:`BenchConfig` from TOML-like values or CLI text (unknown keys are an
    error); ``methods = "all"`` and a seed count are read here, the rest by the field hints."""
    kwargs = dict(values)
    if isinstance(kwargs.get("methods"), str | list):
        kwargs["methods"] = parse_methods(kwargs["methods"])
    if "seeds" in kwargs:
        kwargs["seeds"] = parse_seeds(kwargs["seeds"])
    return BenchConfig.from_values(kwargs)

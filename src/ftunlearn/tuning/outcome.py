"""The plain data of a tuning run: how it searches (:class:`TuneSettings`) and what it found
(:class:`MethodStudy`, :class:`TuneOutcome`).

The driver (``study``) builds these and the outputs (``outputs``, ``figures``) read them; this
module imports neither, so imports among the three point one way: study -> outputs -> outcome.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.tuning.objective import OBJECTIVES, PRUNE_RA_DROP
from ftunlearn.tuning.space import SearchSpace

STORAGE_FILENAME = "optuna.db"
STARTUP_TRIALS = 5
"""TPE draws each method's first trials at random (its start-up), then models the rest."""
DEFAULT_TUNE_SEEDS = (100, 101)


@dataclass(frozen=True)
class TuneSettings:
    """How ``ftunlearn tune`` searches (the run's dataset, model and methods are its
    :class:`BenchConfig`)."""

    trials: int = 20
    seeds: tuple[int, ...] = DEFAULT_TUNE_SEEDS
    objective: str = "avg-gap"
    timeout: float | None = None
    """Seconds per method after which no new trial starts (the method then has fewer trials)."""
    executor: str = "local"
    sampler_seed: int = 0
    storage: str | None = None
    audit_ensemble: int = 8
    prune_ra_drop: float | None = PRUNE_RA_DROP
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "ftunlearn")
    threads: int | None = None
    progress: bool = True
    ray_address: str | None = None
    cpus_per_trial: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise UnlearnError(f"--trials must be a whole number >= 1, got {self.trials!r}")
        if self.objective not in OBJECTIVES:
            raise UnlearnError(f"unknown objective {self.objective!r}; use one of "
                               f"{', '.join(OBJECTIVES)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UnlearnError(f"--tune-seeds must be distinct and at least one, got "
                               f"{list(self.seeds)}")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise UnlearnError(f"--tune-seeds must be whole numbers >= 0, got "
                               f"{list(self.seeds)}")
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise UnlearnError(f"--timeout must be a number of seconds > 0, got {self.timeout}")
        if self.executor not in ("local", "ray"):
            raise UnlearnError(f"unknown executor {self.executor!r}; use local or ray")
        if self.objective == "audit" and self.audit_ensemble < 4:
            raise UnlearnError(f"--audit-ensemble must be >= 4 (U-LiRA), got "
                               f"{self.audit_ensemble}")

    def storage_url(self, out_dir: Path) -> str:
        """``--storage``, else an SQLite file in the output folder."""
        return self.storage or f"sqlite:///{(out_dir / STORAGE_FILENAME).resolve()}"

    @property
    def storage_flag(self) -> str:
        """The option that chose the storage (what the user changes to use another one)."""
        return "--storage" if self.storage else "--out"


def was_interrupted(trial: FrozenTrial) -> bool:
    """A trial cut short by an interrupt: it is failed, does not count, and is retried."""
    return bool(trial.user_attrs.get("interrupted"))


@dataclass(frozen=True)
class MethodStudy:
    """A method's finished study as the outputs need it."""

    method: str
    study_name: str
    direction: str
    space: SearchSpace
    fixed: Mapping[str, Any]
    trials: tuple[FrozenTrial, ...]

    def counted(self, state: TrialState) -> int:
        return sum(1 for t in self.trials if t.state == state and not was_interrupted(t))

    @property
    def best(self) -> FrozenTrial | None:
        """The complete trial with the best value (the earliest among equals)."""
        complete = [t for t in self.trials if t.state == TrialState.COMPLETE]
        if not complete:
            return None
        sign = 1.0 if self.direction == "minimize" else -1.0
        return min(complete, key=lambda t: (sign * float(t.value), t.number))  # type: ignore

    @property
    def tuned(self) -> dict[str, Any]:
        """The searched hyperparameters of the best trial, with the fixed ones (empty without a
        complete trial)."""
        best = self.best
        return {} if best is None else {**self.fixed, **best.params}


@dataclass(frozen=True)
class TuneOutcome:
    config: BenchConfig
    settings: TuneSettings
    out_dir: Path
    studies: tuple[MethodStudy, ...]

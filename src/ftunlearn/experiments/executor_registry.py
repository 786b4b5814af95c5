"""What every executor shares: its options, its protocol, and the registry executors join.

Below :mod:`ftunlearn.experiments.executors` (the local executor and ``make_executor``) and the
plug-ins (:mod:`ftunlearn.experiments.ray_executor`), which register themselves here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ftunlearn.data import Dataset
from ftunlearn.experiments.cells import Cell, EpochReporter
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.store import CellResult


@dataclass(frozen=True)
class ExecutorOptions:
    """Settings an executor may use (each ignores what it does not need)."""

    cache_dir: Path
    progress: bool = True
    ray_address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    threads: int | None = None
    """torch intra-op threads for the local executor (default: torch's own choice). One thread
    is much faster than two when other processes keep the cores busy."""
    cell_retries: int = 1
    """How often the ray executor re-runs a cell whose worker died (killed, out of memory, node
    lost) before recording it as failed; errors raised by the method itself are not retried."""
    dataset: Dataset | None = field(default=None, repr=False, compare=False)
    """The run's dataset where the driver has loaded it already: the local executor uses it,
    the ray executor ships it, instead of loading it again (``None``: each loads it)."""


class Executor(Protocol):
    """Runs cells of one configuration; yields each result as soon as it exists."""

    def run(
        self, config: BenchConfig, cells: Sequence[Cell], on_epoch: EpochReporter | None = None
    ) -> Iterator[CellResult]: ...


ExecutorFactory = Callable[[ExecutorOptions], Executor]

EXECUTORS: dict[str, ExecutorFactory] = {}


def register_executor(name: str) -> Callable[[ExecutorFactory], ExecutorFactory]:
    def decorate(factory: ExecutorFactory) -> ExecutorFactory:
        if name in EXECUTORS:
            raise ValueError(f"executor {name!r} is registered twice")
        EXECUTORS[name] = factory
        return factory

    return decorate


def available_executors() -> list[str]:
    return sorted(EXECUTORS)

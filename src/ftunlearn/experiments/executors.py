"""Executors run a run's cells and hand back their results as they finish.

The driver alone writes the results store; an executor only computes. ``local`` runs the cells
one after another in this process. Other executors (``ray``) register themselves here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.cells import Cell, EpochReporter, run_cell
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.store import CellResult
from ftunlearn.experiments.workspace import Workspace


@dataclass(frozen=True)
class ExecutorOptions:
    """Settings an executor may use (each ignores what it does not need)."""

    cache_dir: Path
    progress: bool = True
    ray_address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float = 0.0
    threads: int | None = None
    cell_retries: int = 1
    """How often the ray executor re-runs a cell whose worker died (killed, out of memory, node
    lost) before recording it as failed; errors raised by the method itself are not retried."""
    """torch intra-op threads for the local executor (default: torch's own choice). One thread
    is much faster than two when other processes keep the cores busy."""


class Executor(Protocol):
    """Runs cells of one configuration; yields each result as soon as it exists."""

    def run(
        self, config: BenchConfig, cells: Sequence[Cell], on_epoch: EpochReporter | None = None
    ) -> Iterator[CellResult]: ...


ExecutorFactory = Callable[[ExecutorOptions], Executor]

_EXECUTORS: dict[str, ExecutorFactory] = {}


def register_executor(name: str) -> Callable[[ExecutorFactory], ExecutorFactory]:
    def decorate(factory: ExecutorFactory) -> ExecutorFactory:
        if name in _EXECUTORS:
            raise ValueError(f"executor {name!r} is registered twice")
        _EXECUTORS[name] = factory
        return factory

    return decorate


def available_executors() -> list[str]:
    return sorted(_EXECUTORS)


def make_executor(name: str, options: ExecutorOptions) -> Executor:
    if name == "ray" and "ray" not in _EXECUTORS:
        from ftunlearn.experiments import ray_executor  # noqa: F401  (registers "ray")
    try:
        factory = _EXECUTORS[name]
    except KeyError:
        raise UnlearnError(
            f"unknown executor {name!r}; available: {', '.join(available_executors())}"
        ) from None
    return factory(options)


class LocalExecutor:
    """Runs cells sequentially in this process, sharing one :class:`Workspace`."""

    def __init__(self, options: ExecutorOptions) -> None:
        self.options = options

    def run(
        self, config: BenchConfig, cells: Sequence[Cell], on_epoch: EpochReporter | None = None
    ) -> Iterator[CellResult]:
        workspace = Workspace(config, self.options.cache_dir, progress=self.options.progress)
        previous = torch.get_num_threads()
        if self.options.threads is not None:
            torch.set_num_threads(self.options.threads)
        try:
            for cell in cells:
                yield run_cell(workspace, cell, on_epoch=on_epoch)
        finally:
            torch.set_num_threads(previous)


register_executor("local")(LocalExecutor)

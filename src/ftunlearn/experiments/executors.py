"""Executors run a run's cells and hand back their results as they finish.

The driver alone writes the results store; an executor only computes. ``local`` runs the cells
one after another in this process. Other executors (``ray``) register themselves in
:mod:`ftunlearn.experiments.executor_registry`; this module imports them so that
:func:`make_executor` knows every one (Ray itself is imported only when its executor is made).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments import ray_executor  # noqa: F401  (registers "ray")
from ftunlearn.experiments.cells import Cell, EpochReporter, run_cell
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.executor_registry import (
    EXECUTORS,
    Executor,
    ExecutorFactory,
    ExecutorOptions,
    available_executors,
    register_executor,
)
from ftunlearn.experiments.store import CellResult
from ftunlearn.experiments.workspace import Workspace

__all__ = ["Executor", "ExecutorFactory", "ExecutorOptions", "LocalExecutor",
           "available_executors", "make_executor", "register_executor"]


def make_executor(name: str, options: ExecutorOptions) -> Executor:
    try:
        factory = EXECUTORS[name]
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
        workspace = Workspace(config, self.options.cache_dir, progress=self.options.progress,
                              dataset=self.options.dataset)
        previous = torch.get_num_threads()
        if self.options.threads is not None:
            torch.set_num_threads(self.options.threads)
        try:
            for cell in cells:
                yield run_cell(workspace, cell, on_epoch=on_epoch)
        finally:
            torch.set_num_threads(previous)


register_executor("local")(LocalExecutor)

"""The ``ray`` executor: a run's cells as Ray tasks on a local or remote Ray cluster.

The driver loads the dataset once and puts it in Ray's object store. Per seed, one *prepare*
task builds the split, the original and golden models (read from, or trained into, the
checkpoint cache) and the golden model's outputs; its result, too, goes to the object store, and
every cell of that seed is a task that takes it as an argument, so Ray starts the cell only once
its seed is prepared and the models are built once per seed. Results come back to the driver as
they finish; only the driver writes the results store.

A cell whose worker dies (killed, out of memory, node lost) is retried ``max_retries`` times by
Ray; after that it comes back as a failed result, so the driver stores it and the same command
run again runs it again. Cells already returned are never affected by a later failure.

Ray is an optional extra, imported only when this executor is made.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from ftunlearn.data import Dataset, load_dataset
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.cells import (
    Cell,
    EpochReporter,
    git_commit,
    run_cell,
    software_versions,
)
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.executor_registry import ExecutorOptions, register_executor
from ftunlearn.experiments.pseudo import pseudo_method
from ftunlearn.experiments.store import CellResult
from ftunlearn.experiments.workspace import Reference, Workspace
from ftunlearn.methods import method_class

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'ftunlearn[ray]'"


def import_ray() -> ModuleType:
    """The ``ray`` module, or an :class:`UnlearnError` that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise UnlearnError(
            f"the ray executor needs Ray, which is not installed ({error}); install it with "
            f"{INSTALL_HINT}, or use --executor local"
        ) from error
    return ray


class ShippedWorkspace(Workspace):
    """A :class:`Workspace` whose dataset (and possibly seeds' references) came from elsewhere,
    here from Ray's object store, instead of being loaded or built in this process."""

    def __init__(
        self,
        config: BenchConfig,
        cache_dir: str | Path,
        dataset: Dataset,
        references: Mapping[int, Reference] | None = None,
    ) -> None:
        super().__init__(config, cache_dir, progress=False, dataset=dataset)
        self._shipped_references = dict(references or {})

    def reference(self, seed: int) -> Reference:
        shipped = self._shipped_references.get(seed)
        return shipped if shipped is not None else super().reference(seed)


def method_modules(config: BenchConfig) -> tuple[str, ...]:
    """The modules that register the run's methods: a worker imports them before a cell, so
    methods registered by the user's own code work on Ray workers too."""
    return tuple(sorted({method_class(name).__module__ for name in config.methods}))


def _import_modules(modules: Sequence[str]) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise UnlearnError(
                f"a Ray worker cannot import {module!r}, which registers a method of this run "
                f"({error}); install it on every node or put it on the workers' PYTHONPATH"
            ) from error


def prepare_seed(
    config: BenchConfig, cache_dir: str, dataset: Dataset, seed: int, threads: int
) -> Reference:
    """Ray task: the seed's split, original and golden models (on the CPU) and golden outputs."""
    torch.set_num_threads(threads)
    reference = ShippedWorkspace(config, cache_dir, dataset).reference(seed)
    reference.original.model.cpu()
    reference.golden.model.cpu()
    return reference


def run_shipped_cell(
    config: BenchConfig,
    cell: Cell,
    cache_dir: str,
    dataset: Dataset,
    reference: Reference,
    modules: tuple[str, ...],
    threads: int,
) -> CellResult:
    """Ray task: one cell, on the dataset and the seed's reference shipped by the driver."""
    _import_modules(modules)
    torch.set_num_threads(threads)
    workspace = ShippedWorkspace(config, cache_dir, dataset, {cell.seed: reference})
    return run_cell(workspace, cell)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def lost_cell(config: BenchConfig, cell: Cell, started_at: str, error: str) -> CellResult:
    """The failed result of a cell that returned nothing (its worker or its seed's
    preparation failed)."""
    return CellResult(
        cell_key=cell.key(config), method=cell.method, seed=cell.seed, status="failed",
        error=error, config=cell.row_config(config), hyperparameters=dict(cell.hyperparameters),
        metrics={}, unlearn_seconds=None, eval_seconds=None, started_at=started_at,
        finished_at=_now(), versions=software_versions(), git_commit=git_commit(),
    )


def _describe(ray: ModuleType, error: BaseException, max_retries: int) -> str:
    """A one-paragraph account of why a Ray task gave no result."""
    if isinstance(error, ray.exceptions.RayTaskError):
        cause = getattr(error, "cause", None) or error
        return f"{type(cause).__name__}: {cause}"
    tries = "once" if max_retries == 0 else f"{max_retries + 1} times"
    return (f"{type(error).__name__}: the Ray task of this cell or of its seed's preparation "
            f"was lost (tried {tries}): {error}")


class RayExecutor:
    """Runs cells as Ray tasks, ``cpus_per_cell`` CPUs and ``gpus_per_cell`` GPUs each; a task
    runs ``options.threads`` torch threads, by default the whole part of ``cpus_per_cell``.

    Uses the Ray instance this process already has; else connects to ``options.ray_address``
    (``auto``: Ray's own discovery, ``RAY_ADDRESS`` or the cluster started on this machine);
    else starts a local instance (no dashboard). It disconnects from, or shuts down, only what
    it connected to or started.
    ``on_epoch`` is not called: progress is reported per finished cell.
    """

    def __init__(
        self, options: ExecutorOptions, *, max_retries: int | None = None
    ) -> None:
        if max_retries is None:
            max_retries = options.cell_retries
        self.ray = import_ray()
        if not options.cpus_per_cell > 0:
            raise UnlearnError(f"--cpus-per-cell must be > 0, got {options.cpus_per_cell}")
        if not options.gpus_per_cell >= 0:
            raise UnlearnError(f"--gpus-per-cell must be >= 0, got {options.gpus_per_cell}")
        if max_retries < 0:
            raise UnlearnError(f"max_retries must be >= 0, got {max_retries}")
        self.options = options
        self.max_retries = max_retries

    @contextlib.contextmanager
    def _connected(self) -> Iterator[None]:
        ray = self.ray
        if ray.is_initialized():
            yield
            return
        address = self.options.ray_address or "local"
        settings: dict[str, Any] = {"address": address, "logging_level": logging.WARNING}
        if address == "local":
            settings["include_dashboard"] = False
        try:
            ray.init(**settings)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = self.options.ray_address or "a new local instance"
            raise UnlearnError(f"cannot start or reach Ray at {where}: {error}") from error
        try:
            yield
        finally:
            ray.shutdown()

    def _check_resources(self, config: BenchConfig) -> None:
        """Refuse requests no node can ever satisfy (Ray would wait for them forever)."""
        total = self.ray.cluster_resources()
        cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
        if self.options.cpus_per_cell > cpus:
            raise UnlearnError(f"each cell asks for {self.options.cpus_per_cell} CPUs but the "
                               f"Ray cluster has {cpus:g}; lower --cpus-per-cell")
        if self.options.gpus_per_cell > gpus:
            raise UnlearnError(f"each cell asks for {self.options.gpus_per_cell} GPUs but the "
                               f"Ray cluster has {gpus:g}; lower --gpus-per-cell")
        if config.device.startswith("cuda") and self.options.gpus_per_cell == 0:
            raise UnlearnError(f"--device {config.device} with the ray executor needs "
                               "--gpus-per-cell > 0 (Ray hides GPUs from tasks that ask none)")
        if gpus and self.options.gpus_per_cell == 0:
            log.warning("the Ray cluster has %g GPU(s) but --gpus-per-cell is 0: cells run on "
                        "CPUs", gpus)

    def run(
        self, config: BenchConfig, cells: Sequence[Cell], on_epoch: EpochReporter | None = None
    ) -> Iterator[CellResult]:
        """Submit every cell, then yield each result as soon as its task finishes."""
        if not cells:
            return
        ray = self.ray
        with self._connected():
            self._check_resources(config)
            resources = {
                "num_cpus": self.options.cpus_per_cell, "num_gpus": self.options.gpus_per_cell,
                "max_retries": self.max_retries, "retry_exceptions": False,
            }
            threads = self.options.threads or max(1, int(self.options.cpus_per_cell))
            cache_dir = str(Path(self.options.cache_dir).expanduser().resolve())
            data = self.options.dataset
            dataset = ray.put(load_dataset(config.dataset, config.data_dir) if data is None
                              else data)
            prepare = ray.remote(prepare_seed).options(name="ftunlearn-prepare", **resources)
            work = ray.remote(run_shipped_cell)
            modules = method_modules(config)
            references = {
                seed: prepare.remote(config, cache_dir, dataset, seed, threads)
                for seed in dict.fromkeys(cell.seed for cell in cells)
            }
            pending: dict[Any, tuple[Cell, str]] = {}
            for cell in cells:
                task = work.options(name=f"ftunlearn-{cell.method}-seed{cell.seed}",
                                    **resources)
                ref = task.remote(config, cell, cache_dir, dataset, references[cell.seed],
                                  modules, threads)
                pending[ref] = (cell, _now())
            try:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        cell, submitted_at = pending.pop(ref)
                        yield self._result(ref, config, cell, submitted_at)
            finally:
                for ref in pending:
                    ray.cancel(ref)

    def _result(self, ref: Any, config: BenchConfig, cell: Cell, submitted_at: str
                ) -> CellResult:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as error:
            what = (f"{cell.method} row" if pseudo_method(cell.method) is not None
                    else f"cell {cell.method}")
            log.debug("%s seed %d returned no result: %s", what, cell.seed, error)
            return lost_cell(config, cell, submitted_at,
                             _describe(self.ray, error, self.max_retries))


register_executor("ray")(RayExecutor)

"""``tune --executor ray``: the asked trials of a study evaluated in parallel as Ray tasks.

The driver puts the dataset and every tuning seed's reference (split, original and golden
models, golden outputs) into Ray's object store once; each trial is one task that evaluates
the trial on every tuning seed and returns its :class:`Evaluation`. Only the driver talks to
the study (ask and tell), so the storage never sees concurrent writers from one run.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from optuna.trial import Trial

from ftunlearn.data import Dataset
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.ray_executor import ShippedWorkspace, import_ray, method_modules
from ftunlearn.experiments.workspace import Reference, Workspace
from ftunlearn.tuning.objective import Evaluation, TrialSettings, evaluate


def evaluate_shipped(config: BenchConfig, cache_dir: str, dataset: Dataset,
                     references: Mapping[int, Reference], modules: tuple[str, ...],
                     threads: int, settings: TrialSettings, values: dict[str, Any]
                     ) -> Evaluation:
    """Ray task: one trial on the dataset and references the driver shipped."""
    import torch

    for module in modules:
        importlib.import_module(module)
    torch.set_num_threads(threads)
    workspace = ShippedWorkspace(config, cache_dir, dataset, references)
    return evaluate(workspace, settings, values)


class RayRunner:
    """Evaluates a batch of trials as Ray tasks; ``slots`` tasks fit the cluster at once."""

    def __init__(self, ray: Any, config: BenchConfig, workspace: Workspace, settings: Any):
        self.ray = ray
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        if settings.cpus_per_trial > cpus:
            raise UnlearnError(f"each trial asks for {settings.cpus_per_trial} CPUs but the Ray "
                               f"cluster has {cpus:g}")
        self.slots = max(1, int(cpus // settings.cpus_per_trial))
        self.threads = settings.threads or max(1, int(settings.cpus_per_trial))
        self.cpus = settings.cpus_per_trial
        self.config = config
        self.cache_dir = str(Path(settings.cache_dir).expanduser().resolve())
        self.dataset = ray.put(workspace.dataset)
        # the driver has built every reference already (the golden RA needed it)
        self.references = ray.put({seed: workspace.reference(seed) for seed in settings.seeds})
        self.modules = method_modules(config)
        self.task = ray.remote(evaluate_shipped)

    def evaluate(self, settings: TrialSettings, batch: Sequence[tuple[Trial, dict[str, Any]]]
                 ) -> Iterator[tuple[Trial, Evaluation]]:
        pending = {}
        for trial, values in batch:
            ref = self.task.options(num_cpus=self.cpus, name=f"ftunlearn-tune-"
                                    f"{settings.method}-{trial.number}").remote(
                self.config, self.cache_dir, self.dataset, self.references, self.modules,
                self.threads, settings, values)
            pending[ref] = trial
        try:
            while pending:
                ready, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    trial = pending.pop(ref)
                    try:
                        yield trial, self.ray.get(ref)
                    except self.ray.exceptions.RayError as error:
                        cause = getattr(error, "cause", None) or error
                        yield trial, Evaluation("failed", reason=f"the Ray task was lost: "
                                                f"{type(cause).__name__}: {cause}")
        finally:
            for ref in pending:
                self.ray.cancel(ref)


@contextlib.contextmanager
def ray_runner(config: BenchConfig, workspace: Workspace, settings: Any) -> Iterator[RayRunner]:
    """Connect to ``settings.ray_address`` (or start a local Ray), and disconnect after."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"address": settings.ray_address or "local",
                                   "logging_level": logging.WARNING}
        if options["address"] == "local":
            options["include_dashboard"] = False
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UnlearnError(f"cannot start or reach Ray at "
                               f"{settings.ray_address or 'a new local instance'}: {error}"
                               ) from error
        started = True
    try:
        yield RayRunner(ray, config, workspace, settings)
    finally:
        if started:
            ray.shutdown()

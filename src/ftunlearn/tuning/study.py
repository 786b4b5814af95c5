"""One Optuna study per method, driven with the ask-and-tell interface (docs/tuning.md).

The driver asks the study for trials, draws each trial's hyperparameters from the method's
search space, has a trial runner evaluate them (one after another here, or in parallel as Ray
tasks) and tells every result back; only the driver writes the study. Every trial is stored in
Optuna's RDB storage as soon as it is told, so an interrupted run resumes where it stopped.
The storage is checked before Optuna opens it (``storage``), and the whole run holds the output
folder's writer lock, so two runs never write one folder's storage and outputs at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState
from tqdm.auto import tqdm

from ftunlearn.data import Dataset
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.config import BenchConfig, digest
from ftunlearn.experiments.lock import OutDirLock
from ftunlearn.experiments.workspace import Workspace
from ftunlearn.methods.base import METHODS
from ftunlearn.tuning.objective import (
    OBJECTIVES,
    TRIAL_METRICS,
    Evaluation,
    TrialSettings,
    evaluate,
    golden_retain_accuracy,
)
from ftunlearn.tuning.outcome import (
    STARTUP_TRIALS,
    MethodStudy,
    TuneOutcome,
    TuneSettings,
    was_interrupted,
)
from ftunlearn.tuning.outputs import write_outputs
from ftunlearn.tuning.space import sample, searched
from ftunlearn.tuning.storage import check_storage, open_storage


def tunable_methods() -> tuple[str, ...]:
    """Every registered method that is not a reference (what ``tune`` runs by default)."""
    return METHODS.names(lambda entry: not entry.reference)


def check_methods(methods: Sequence[str]) -> None:
    """Refuse references and methods that declare no search space."""
    for method in methods:
        entry = METHODS.get(method)
        if entry.reference:
            raise UnlearnError(f"method {method!r} is a reference (the golden model's own "
                               "procedure) and is not tuned; leave it out of --methods")
        if not entry.search_space:
            raise UnlearnError(f"method {method!r} declares no search space; give its "
                               "Unlearner class a search_space (see docs/tuning.md)")


def study_name(config: BenchConfig, method: str, settings: TuneSettings) -> str:
    """``METHOD-DIGEST``: the digest covers everything a trial's value depends on (the run's
    base config, the method's version, fixed hyperparameters and space, the tuning seeds, the
    objective and pruning rule, the sampler seed), so another setup never resumes this study;
    the trial budget is left out, so a larger ``--trials`` continues it."""
    entry = METHODS.get(method)
    key = digest({
        "base": config.base(), "data_dir": config.data_dir,
        "original_weights": config.original_weights, "method": method,
        "version": entry.version, "fixed": dict(config.hyperparameters.get(method, {})),
        "space": [repr(d) for d in entry.search_space], "seeds": list(settings.seeds),
        "objective": settings.objective, "prune_ra_drop": settings.prune_ra_drop,
        "audit_ensemble": settings.audit_ensemble if settings.objective == "audit" else None,
        "sampler_seed": settings.sampler_seed,
    })
    return f"{method}-{key[:12]}"


def _trial_seed(settings: TuneSettings, method: str, number: int) -> int:
    """The sampler seed of trial ``number``: fixed by the run's seed, the method and the number
    alone, so a resumed study draws what an uninterrupted one would have."""
    return int(digest({"seed": settings.sampler_seed, "method": method, "trial": number})[:8],
               16)


def finished_count(trials: Sequence[FrozenTrial]) -> int:
    """Trials that spent budget: complete, pruned or failed (not those cut by an interrupt)."""
    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(1 for t in trials if t.state in done and not was_interrupted(t))


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_stale(trial: FrozenTrial) -> bool:
    """A RUNNING trial whose process on this machine is gone (or that never got an owner);
    RUNNING trials of other machines may still be working and are left alone."""
    owner = str(trial.user_attrs.get("owner", ""))
    host, _, pid = owner.rpartition(":")
    if not owner or not pid.isdigit():
        return True
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return int(pid) == os.getpid()


class _StudyHandle:
    """A study and the storage ids ``mark_interrupted`` needs (public storage API only)."""

    def __init__(self, storage: optuna.storages.BaseStorage, name: str, direction: str):
        self.storage = storage
        self.study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                         load_if_exists=True)
        self.study_id = storage.get_study_id_from_name(name)

    def mark_interrupted(self, number: int, params: Mapping[str, Any], why: str) -> None:
        """FAIL a trial cut short (it does not count) and queue its parameters again."""
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        self.storage.set_trial_user_attr(trial_id, "interrupted", True)
        self.storage.set_trial_user_attr(trial_id, "reason", why)
        self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        if params:
            self.study.enqueue_trial(dict(params), user_attrs={"retry_of": number},
                                     skip_if_exists=False)


class TrialRunner(Protocol):
    """Evaluates asked trials; yields each ``(trial, evaluation)`` as it finishes."""

    slots: int

    def evaluate(self, settings: TrialSettings, batch: Sequence[tuple[Trial, dict[str, Any]]]
                 ) -> Iterator[tuple[Trial, Evaluation]]: ...


class LocalRunner:
    """Trials one after another in this process, sharing one :class:`Workspace`."""

    slots = 1

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def evaluate(self, settings: TrialSettings, batch: Sequence[tuple[Trial, dict[str, Any]]]
                 ) -> Iterator[tuple[Trial, Evaluation]]:
        for trial, values in batch:
            yield trial, evaluate(self.workspace, settings, values)


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs a line per told trial; the progress bar says it better."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def tune(config: BenchConfig, out_dir: str | Path, settings: TuneSettings) -> TuneOutcome:
    """Tune every method of ``config`` into ``out_dir`` (resuming its studies) and write the
    outputs (tuned.toml, summary.csv, report.md, report.html, figures/). The whole run holds
    ``out_dir``'s writer lock (the one ``bench`` takes), so a second run there is refused."""
    from ftunlearn.experiments.runner import preflight

    out = Path(out_dir)
    check_methods(config.methods)
    overlap = sorted(set(config.seeds) & set(settings.seeds))
    if overlap:
        raise UnlearnError(
            f"the report seeds {list(config.seeds)} share {overlap} with the tuning seeds "
            f"{list(settings.seeds)}; tuned results must be reported on other seeds: give "
            "the config other seeds, or --tune-seeds others")
    url = settings.storage_url(out)
    if settings.storage or out.is_dir():  # the default file's folder is made below
        # read-only: a wrong storage is refused before the data loads or anything is written
        check_storage(url, settings.storage_flag)
    # the tuning seeds are checked as a run of their own (a tuned config's guard aside)
    data = preflight(config.replace(seeds=settings.seeds, tuning={}, allow_tuning_seeds=False),
                     check_device=True)
    out.mkdir(parents=True, exist_ok=True)
    with OutDirLock(out):
        storage = open_storage(url, settings.storage_flag)
        return _tune_locked(config, out, settings, storage, data)


def _tune_locked(config: BenchConfig, out: Path, settings: TuneSettings,
                 storage: optuna.storages.BaseStorage, data: Dataset) -> TuneOutcome:
    """The run itself, once ``out`` is locked and its storage open, on the checked ``data``."""
    # the goldens' references need no more metrics than the trials compare them with
    workspace = Workspace(config.replace(metrics=TRIAL_METRICS), settings.cache_dir,
                          progress=False, dataset=data)
    studies: list[MethodStudy] = []
    with _quiet_optuna(), _threads(settings.threads):
        golden_ra = golden_retain_accuracy(workspace, settings.seeds)
        runner_scope = (_ray_runner(config, workspace, settings)
                        if settings.executor == "ray" else contextlib.nullcontext(
                            LocalRunner(workspace)))
        with runner_scope as runner, _overall_bar(config, settings, storage) as overall:
            try:
                for method in config.methods:
                    studies.append(_tune_method(config, method, settings, storage, runner,
                                                golden_ra, overall, studies))
            except KeyboardInterrupt:
                # the summary of an interrupted run still counts every trial, the cut one too
                write_outputs(TuneOutcome(config, settings, out, tuple(studies)))
                overall.write(f"interrupted: the summary in {out} counts the trials so far")
                raise
        outcome = TuneOutcome(config, settings, out, tuple(studies))
        write_outputs(outcome)
    return outcome


def _shows_lines(settings: TuneSettings) -> bool:
    """One line per trial instead of bars: asked for, or stderr is no terminal."""
    return not settings.progress or not sys.stderr.isatty()


def _overall_bar(config: BenchConfig, settings: TuneSettings,
                 storage: optuna.storages.BaseStorage) -> tqdm:
    """One bar over every method's trials, starting at the trials already finished (a
    resumed run picks up where it stopped)."""
    done = 0
    for method in config.methods:
        try:
            study_id = storage.get_study_id_from_name(study_name(config, method, settings))
        except KeyError:  # a study not started yet
            continue
        done += min(settings.trials,
                    finished_count(storage.get_all_trials(study_id, deepcopy=False)))
    return tqdm(total=settings.trials * len(config.methods), initial=done, desc="tune",
                unit="trial", disable=_shows_lines(settings), file=sys.stderr,
                dynamic_ncols=True, position=0)


def _ray_runner(config: BenchConfig, workspace: Workspace, settings: TuneSettings
                ) -> contextlib.AbstractContextManager[TrialRunner]:
    from ftunlearn.tuning.ray_trials import ray_runner

    return ray_runner(config, workspace, settings)


def _tune_method(config: BenchConfig, method: str, settings: TuneSettings,
                 storage: optuna.storages.BaseStorage, runner: TrialRunner,
                 golden_ra: Mapping[int, float], overall: tqdm,
                 interrupted_into: list[MethodStudy]) -> MethodStudy:
    """The method's study run to its budget; on an interrupt its study so far is appended to
    ``interrupted_into`` (for the summary) before the interrupt goes on."""
    name = study_name(config, method, settings)
    direction = OBJECTIVES[settings.objective]
    handle = _StudyHandle(storage, name, direction)
    study = handle.study
    study.set_user_attr("method", method)
    study.set_user_attr("objective", settings.objective)
    study.set_user_attr("tune_seeds", list(settings.seeds))
    study.set_user_attr("config", config.to_dict())
    for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _is_stale(stale):
            handle.mark_interrupted(stale.number, stale.params,
                                    "interrupted: its process stopped before it finished")
    space = METHODS.get(method).search_space
    fixed = dict(config.hyperparameters.get(method, {}))
    trial_settings = TrialSettings(
        method=method, seeds=settings.seeds, objective=settings.objective,
        golden_ra=golden_ra if settings.objective == "avg-gap" else {},
        prune_ra_drop=settings.prune_ra_drop, audit_ensemble=settings.audit_ensemble,
        cache_dir=str(settings.cache_dir))
    if not searched(space, fixed):
        raise UnlearnError(f"every hyperparameter {method} searches is fixed by the config "
                           f"({', '.join(fixed)}); nothing is left to tune")
    trials = study.get_trials(deepcopy=False)
    lines = _shows_lines(settings)
    bar = tqdm(total=settings.trials, initial=min(settings.trials, finished_count(trials)),
               desc=f"  {method}", unit="trial", disable=lines, file=sys.stderr,
               dynamic_ncols=True, position=1, leave=False)
    started = time.monotonic()
    in_flight: dict[int, dict[str, Any]] = {}
    with bar:
        try:
            while True:
                trials = study.get_trials(deepcopy=False)
                running = sum(1 for t in trials if t.state == TrialState.RUNNING)
                remaining = settings.trials - finished_count(trials) - running
                expired = (settings.timeout is not None
                           and time.monotonic() - started >= settings.timeout)
                if remaining <= 0 or expired:
                    break
                batch = []
                for _ in range(min(remaining, runner.slots)):
                    trial = _ask(study, settings, method)
                    values = sample(trial, space, fixed)
                    in_flight[trial.number] = trial.params
                    batch.append((trial, values))
                for trial, evaluation in runner.evaluate(trial_settings, batch):
                    _tell(study, trial, evaluation)
                    in_flight.pop(trial.number, None)
                    bar.update(1)
                    overall.update(1)
                    # Optuna's trial numbers, which go on across resumes
                    overall.set_postfix_str(f"{method} trial #{trial.number}")
                    if lines:
                        print(_trial_line(method, trial.number, evaluation), file=sys.stderr,
                              flush=True)
        except BaseException as error:
            # the trials in flight did not finish: they must not count, and are retried
            why = ("interrupted by the user" if isinstance(error, KeyboardInterrupt)
                   else f"interrupted by {type(error).__name__}")
            for number, params in in_flight.items():
                handle.mark_interrupted(number, params, why)
            if isinstance(error, KeyboardInterrupt):
                bar.write(f"interrupted: every finished trial of {method} is kept in the "
                          f"study {name}; run the same command again to resume")
                interrupted_into.append(MethodStudy(method, name, direction, space, fixed,
                                                    tuple(study.get_trials(deepcopy=True))))
            raise
    return MethodStudy(method, name, direction, space, fixed,
                       tuple(study.get_trials(deepcopy=True)))


def _ask(study: optuna.Study, settings: TuneSettings, method: str) -> Trial:
    number = len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(
        seed=_trial_seed(settings, method, number), n_startup_trials=STARTUP_TRIALS)
    trial = study.ask()
    trial.set_user_attr("owner", _owner())
    return trial


def _tell(study: optuna.Study, trial: Trial, evaluation: Evaluation) -> None:
    trial.set_user_attr("per_seed", {str(k): v for k, v in evaluation.per_seed.items()})
    if evaluation.metrics:
        trial.set_user_attr("metrics", dict(evaluation.metrics))
    if evaluation.reason:
        trial.set_user_attr("reason", evaluation.reason)
    if evaluation.state == "complete":
        study.tell(trial, evaluation.value)
    elif evaluation.state == "pruned":
        if evaluation.value is not None:
            trial.report(evaluation.value, step=0)
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)


def _trial_line(method: str, number: int, evaluation: Evaluation) -> str:
    if evaluation.state == "complete":
        return f"trial {method} #{number}: {evaluation.value:.4g}"
    return f"trial {method} #{number}: {evaluation.state} ({evaluation.reason})"

"""The Ray executor: same rows as the in-process executor, and a worker killed mid-run loses
no finished cell (the cell is retried, or stored as failed and run again by the same command).

One local Ray instance (2 CPUs, no dashboard) serves the whole module. Its workers import this
module (it is on the PYTHONPATH they inherit) to find the test-only method that kills its own
worker.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.cells import plan_cells
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.executors import ExecutorOptions, make_executor, register_executor
from ftunlearn.experiments.runner import bench
from ftunlearn.experiments.store import ResultStore
from ftunlearn.methods import Hyperparameters, Unlearner, register
from ftunlearn.training import Recipe

HAS_RAY = importlib.util.find_spec("ray") is not None
skip_without_ray = pytest.mark.skipif(
    not HAS_RAY, reason="ray is not installed: pip install 'ftunlearn[ray]'")
TIMING_KEYS = {"rte_seconds", "rte_ratio"}
CRASH = "test-ray-crash-once"
NO_RETRY = "test-ray-no-retry"


@dataclass(frozen=True)
class CrashOnceConfig(Hyperparameters):
    marker: str = ""
    crash_seed: int = 0


@register
class CrashOnce(Unlearner):
    """Kills its own worker process (SIGKILL) on ``crash_seed`` the first time, as told by the
    absence of ``marker``; otherwise returns the original model unchanged."""

    name = CRASH
    Config = CrashOnceConfig

    def run(self, model, retain, forget, context):
        marker = Path(self.config.marker)
        if context.seed == self.config.crash_seed and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return model


def _no_retry_executor(options: ExecutorOptions):
    from ftunlearn.experiments.ray_executor import RayExecutor

    return RayExecutor(options, max_retries=0)


register_executor(NO_RETRY)(_no_retry_executor)


def sweep(**changes) -> BenchConfig:
    base = dict(
        dataset="digits", model="mlp:hidden=16,depth=1", forget="random:0.1",
        methods=("ft", "ga"), seeds=(0, 1), recipe=Recipe(epochs=2, batch_size=64, lr=0.05),
        hyperparameters={"ft": {"epochs": 1}, "ga": {"epochs": 1}}, device="cpu",
        mia_extras=False, metrics="primary",
    )
    return BenchConfig(**{**base, **changes})


def crash_sweep(marker: Path) -> BenchConfig:
    return sweep(methods=("ft", CRASH), hyperparameters={
        "ft": {"epochs": 1}, CRASH: {"marker": str(marker), "crash_seed": 1}})


def stored(out: Path):
    with ResultStore(out / "results.sqlite") as store:
        return {row.cell_key: row for row in store.results(status=None)}


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    here = Path(__file__).resolve().parent
    paths = [str(here), str(here.parent.parent), os.environ.get("PYTHONPATH", "")]
    # in the environment Ray's processes inherit, not a runtime_env: Ray starts its workers
    # with the default environment ahead of the first task, and a runtime_env would need new ones
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
                 log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One checkpoint cache for the module: the first test fills it, later ones read it."""
    return tmp_path_factory.mktemp("cache")


@pytest.mark.ray
@pytest.mark.slow
@skip_without_ray
def test_ray_rows_equal_local_rows(ray_cluster, tmp_path, shared_cache):
    config = sweep()
    local_cache = tmp_path / "local-cache"
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a Ray cell runs 1 thread (--cpus-per-cell 1); reductions in torch
    try:                      # CPU kernels depend on the thread count, so match it here
        local = bench(config, tmp_path / "local", executor="local",
                      options=ExecutorOptions(cache_dir=local_cache, progress=False))
    finally:
        torch.set_num_threads(previous)
    remote = bench(config, tmp_path / "ray", executor="ray",
                   options=ExecutorOptions(cache_dir=shared_cache, progress=False))
    assert (local.finished, local.failed) == (8, 0)
    assert (remote.planned, remote.finished, remote.failed) == (8, 8, 0)

    local_rows, ray_rows = stored(tmp_path / "local"), stored(tmp_path / "ray")
    assert set(ray_rows) == set(local_rows) and len(ray_rows) == 8
    for key, row in local_rows.items():
        other = ray_rows[key]
        assert (other.method, other.seed, other.status) == (row.method, row.seed, "ok")
        assert other.hyperparameters == row.hyperparameters
        assert set(other.metrics) == set(row.metrics)
        for name, value in row.metrics.items():
            if name not in TIMING_KEYS:
                assert other.metrics[name] == pytest.approx(value, abs=1e-9, nan_ok=True), name
    # the prepare tasks trained one original and one golden per seed, bit-identical to the
    # models the in-process run trained
    weights = {p.name: p.read_bytes() for p in shared_cache.glob("*.safetensors")}
    assert len(weights) == 4
    assert weights == {p.name: p.read_bytes() for p in local_cache.glob("*.safetensors")}

    again = bench(config, tmp_path / "ray", executor="ray",
                  options=ExecutorOptions(cache_dir=shared_cache, progress=False))
    assert (again.skipped, again.finished) == (8, 0)


@pytest.mark.ray
@pytest.mark.slow
@skip_without_ray
def test_failed_preparation_fails_every_cell_of_its_seed(ray_cluster, tmp_path):
    # before the tests that kill a worker: a cell after those waits for its replacement
    config = sweep(methods=("ft",), hyperparameters={}, seeds=(0,),
                   recipe=Recipe(epochs=1, batch_size=64, lr=1e6))  # the original diverges
    outcome = bench(config, tmp_path / "run", executor="ray",
                    options=ExecutorOptions(cache_dir=tmp_path / "cache", progress=False))
    assert (outcome.planned, outcome.finished, outcome.failed) == (3, 0, 3)
    rows = stored(tmp_path / "run").values()
    assert sorted(r.method for r in rows) == ["ft", "golden", "original"]
    assert all(r.status == "failed" and "original seed 0: the loss became nan" in r.error
               for r in rows)


@pytest.mark.ray
@pytest.mark.slow
@skip_without_ray
def test_killed_worker_is_retried_and_the_run_completes(ray_cluster, tmp_path, shared_cache):
    marker = tmp_path / "crashed-once"
    out = tmp_path / "run"
    outcome = bench(crash_sweep(marker), out, executor="ray",
                    options=ExecutorOptions(cache_dir=shared_cache, progress=False))
    assert marker.exists()  # the worker running the seed-1 cell was killed once
    assert (outcome.planned, outcome.finished, outcome.failed) == (8, 8, 0)
    rows = stored(out)
    assert sorted((r.method, r.seed, r.status) for r in rows.values()) == sorted([
        (CRASH, 0, "ok"), (CRASH, 1, "ok"), ("ft", 0, "ok"), ("ft", 1, "ok"),
        ("golden", 0, "ok"), ("golden", 1, "ok"), ("original", 0, "ok"), ("original", 1, "ok")])
    crashed = next(r for r in rows.values() if r.method == CRASH and r.seed == 1)
    assert {"UA", "RA", "TA", "MIA", "avg_gap"} <= set(crashed.metrics)


@pytest.mark.ray
@pytest.mark.slow
@skip_without_ray
def test_killed_worker_without_retries_fails_its_cell_and_a_rerun_completes(
    ray_cluster, tmp_path, shared_cache
):
    marker = tmp_path / "crashed-once"
    out = tmp_path / "run"
    options = ExecutorOptions(cache_dir=shared_cache, progress=False)
    first = bench(crash_sweep(marker), out, executor=NO_RETRY, options=options)
    assert marker.exists()
    assert (first.planned, first.finished, first.failed) == (8, 7, 1)
    before = stored(out)
    failed = [r for r in before.values() if r.status == "failed"]
    assert [(r.method, r.seed) for r in failed] == [(CRASH, 1)]
    assert "WorkerCrashedError" in failed[0].error and "tried once" in failed[0].error
    finished = {k: r for k, r in before.items() if r.status == "ok"}
    assert len(finished) == 7

    rerun = bench(crash_sweep(marker), out, executor=NO_RETRY, options=options)
    assert (rerun.skipped, rerun.finished, rerun.failed) == (7, 1, 0)
    after = stored(out)
    assert all(r.status == "ok" for r in after.values()) and len(after) == 8
    for key, row in finished.items():  # finished cells were neither lost nor run again
        assert after[key] == row


def test_ray_executor_without_ray_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(UnlearnError, match=r"pip install 'ftunlearn\[ray\]'"):
        make_executor("ray", ExecutorOptions(cache_dir=tmp_path))


@pytest.mark.ray
@pytest.mark.slow
@skip_without_ray
@pytest.mark.parametrize(("cpus", "gpus", "device", "message"), [
    (4.0, 0.0, "cpu", "asks for 4.0 CPUs but the Ray cluster has 2"),
    (1.0, 1.0, "cpu", "asks for 1.0 GPUs but the Ray cluster has 0"),
    (1.0, 0.0, "cuda", "needs --gpus-per-cell > 0"),
])
def test_requests_no_node_can_meet_are_refused(ray_cluster, tmp_path, cpus, gpus, device,
                                               message):
    from ftunlearn.experiments.ray_executor import RayExecutor

    options = ExecutorOptions(cache_dir=tmp_path, progress=False, cpus_per_cell=cpus,
                              gpus_per_cell=gpus)
    config = sweep(device=device)
    with pytest.raises(UnlearnError, match=message):
        next(RayExecutor(options).run(config, plan_cells(config)))

"""The benchmark runner: every cell stored once, skip on re-run, resume after an interrupt,
failed cells recorded while the others finish."""

from dataclasses import dataclass

import pytest
import torch

from ftunlearn.data import load_dataset
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.executors import ExecutorOptions
from ftunlearn.experiments.runner import bench, run_results
from ftunlearn.experiments.store import ResultStore
from ftunlearn.experiments.workspace import Workspace
from ftunlearn.methods import Hyperparameters, Unlearner, register
from ftunlearn.metrics.evaluate import evaluate
from ftunlearn.training import Recipe

CALLS: list[tuple[str, int]] = []
TIMING = {"rte_seconds", "rte_ratio"}
INTERRUPT_SEEDS: set[int] = set()


@dataclass(frozen=True)
class ShiftConfig(Hyperparameters):
    scale: float = 0.01


@register
class ShiftWeights(Unlearner):
    """A cheap stand-in method: adds seeded noise to every weight."""

    name = "test-shift"
    Config = ShiftConfig

    def run(self, model, retain, forget, context):
        CALLS.append((self.name, context.seed))
        if context.seed in INTERRUPT_SEEDS:
            raise KeyboardInterrupt
        g = torch.Generator().manual_seed(context.seed)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(self.config.scale * torch.randn(p.shape, generator=g))
        return model


@register
class AlwaysFails(Unlearner):
    name = "test-fail"
    Config = ShiftConfig

    def run(self, model, retain, forget, context):
        raise RuntimeError("broken on purpose")


def config(**changes):
    base = dict(dataset="digits", model="mlp:hidden=16,depth=1", forget="random:0.1",
                methods=("test-shift",), seeds=(0, 1),
                recipe=Recipe(epochs=2, batch_size=64, lr=0.05), device="cpu", mia_extras=False,
                metrics="primary")  # the runner's bookkeeping, not every metric
    return BenchConfig(**{**base, **changes})


@pytest.fixture
def options(tmp_path):
    return ExecutorOptions(cache_dir=tmp_path / "cache", progress=False)


def test_run_stores_every_cell_then_skips_them(tmp_path, options, monkeypatch):
    CALLS.clear()
    loads = []

    def counted_load(name, data_dir=None):
        loads.append(name)
        return load_dataset(name, data_dir)

    for module in ("runner", "identity", "workspace"):  # every module of a run that loads
        monkeypatch.setattr(f"ftunlearn.experiments.{module}.load_dataset", counted_load)
    out = tmp_path / "run"
    first = bench(config(), out, options=options)
    assert (first.planned, first.finished, first.skipped, first.failed) == (6, 6, 0, 0)
    assert loads == ["digits"]  # once: the checks, the run's identity and its cells share it
    with ResultStore(out / "results.sqlite") as store:
        rows = store.results()
    assert sorted((r.method, r.seed) for r in rows) == [
        ("golden", 0), ("golden", 1), ("original", 0), ("original", 1), ("test-shift", 0),
        ("test-shift", 1)]
    golden = [r for r in rows if r.method == "golden"]
    assert all(r.metrics["avg_gap"] == 0 for r in golden)
    # the golden row takes its reference's outputs: the numbers evaluating the model again gives
    workspace = Workspace(config(), tmp_path / "cache")
    reference = workspace.reference(1)
    again = evaluate(reference.golden.model, workspace.dataset, reference.split,
                     golden=reference.golden_outputs, seed=1, device="cpu",
                     metrics=workspace.config.metrics, **workspace.evaluation_options)
    stored_golden = next(r for r in golden if r.seed == 1).metrics
    assert {k: v for k, v in stored_golden.items() if k not in TIMING} == again
    # the original model is a row of its own: no unlearning time, still away from golden
    original = [r for r in rows if r.method == "original"]
    assert all(r.metrics["rte_seconds"] == 0 and r.metrics["avg_gap"] > 0 for r in original)
    shifted = next(r for r in rows if r.method == "test-shift")
    assert shifted.metrics["avg_gap"] >= 0 and "UA" in shifted.metrics
    assert shifted.hyperparameters == {"scale": 0.01}
    assert shifted.config["dataset"] == "digits" and shifted.versions["torch"]
    assert sorted(CALLS) == [("test-shift", 0), ("test-shift", 1)]
    again = bench(config(), out, options=options)
    assert (again.finished, again.skipped) == (0, 6)
    assert len(CALLS) == 2
    # the original and golden models came from the cache: one original and golden per seed
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 4


def test_interrupted_run_keeps_finished_cells_and_resumes(tmp_path, options):
    out = tmp_path / "run"
    CALLS.clear()
    INTERRUPT_SEEDS.add(1)
    try:
        with pytest.raises(KeyboardInterrupt):
            bench(config(), out, options=options)
    finally:
        INTERRUPT_SEEDS.clear()
    with ResultStore(out / "results.sqlite") as store:
        assert sorted((r.method, r.seed) for r in store.results()) == [
            ("golden", 0), ("golden", 1), ("original", 0), ("original", 1), ("test-shift", 0)]
    CALLS.clear()
    resumed = bench(config(), out, options=options)
    assert (resumed.skipped, resumed.finished) == (5, 1)
    assert CALLS == [("test-shift", 1)]


def test_failed_cell_is_recorded_and_the_others_finish(tmp_path, options):
    out = tmp_path / "run"
    outcome = bench(config(methods=("test-fail", "test-shift")), out, options=options)
    assert (outcome.finished, outcome.failed) == (6, 2)
    with ResultStore(out / "results.sqlite") as store:
        failed = store.results(status="failed")
        assert {r.method for r in failed} == {"test-fail"}
        assert all("broken on purpose" in r.error for r in failed)
        assert len(store.results()) == 6
        assert len(store.finished_keys()) == 6
    rerun = bench(config(methods=("test-fail", "test-shift")), out, options=options)
    assert (rerun.skipped, rerun.failed) == (6, 2)


def test_out_dir_of_another_run_is_refused(tmp_path, options):
    out = tmp_path / "run"
    bench(config(seeds=(0,)), out, options=options)
    with pytest.raises(UnlearnError, match="another --out"):
        bench(config(seeds=(0,), forget="random:0.2"), out, options=options)
    grown = bench(config(seeds=(0, 1)), out, options=options)
    assert (grown.skipped, grown.finished) == (3, 3)


def test_bad_hyperparameters_fail_before_any_cell(tmp_path, options):
    with pytest.raises(UnlearnError, match="unknown hyperparameter"):
        bench(config(hyperparameters={"test-shift": {"nope": 1}}), tmp_path / "r",
              options=options)
    assert not (tmp_path / "r" / "results.sqlite").exists()


def test_run_results_follow_the_configuration_not_the_write_order(tmp_path, options):
    out = tmp_path / "run"
    bench(config(methods=("test-shift",), seeds=(0,)), out, options=options)
    bench(config(methods=("test-fail", "test-shift"), seeds=(0,)), out, options=options)
    methods = [result.method for result in run_results(out)]
    assert methods == ["golden", "original", "test-fail", "test-shift"]


def test_the_benchmarks_golden_model_is_what_the_retrain_method_gives(tmp_path):
    """One training path: the workspace's golden model and ``retrain`` run the same plan."""
    from ftunlearn.experiments.workspace import Workspace
    from ftunlearn.methods import unlearn

    config = BenchConfig(dataset="digits", model="mlp:hidden=16,depth=1", forget="class:3",
                         methods=("ft",), seeds=(2,), recipe=Recipe(epochs=1, batch_size=64),
                         device="cpu", mia_extras=False)
    workspace = Workspace(config, tmp_path / "cache")
    reference = workspace.reference(2)
    data, split = workspace.dataset, reference.split
    retrained = unlearn(reference.original.model,
                        (data.x_train[split.retain], data.y_train[split.retain]),
                        (data.x_train[split.forget], data.y_train[split.forget]), "retrain",
                        seed=2, device="cpu", recipe=config.recipe).model
    golden = reference.golden.model.state_dict()
    for name, value in retrained.state_dict().items():
        assert torch.equal(value, golden[name]), name


def test_primary_metrics_are_the_full_runs_main_table_in_cells_of_their_own(tmp_path, options):
    from ftunlearn.experiments.report import protocol_items, summarize
    from ftunlearn.metrics.registry import avg_gap_keys, primary_metrics

    quick, full = tmp_path / "quick", tmp_path / "full"
    assert bench(config(seeds=(0,), metrics="primary"), quick, options=options).finished == 3
    assert bench(config(seeds=(0,), metrics="all"), full, options=options).finished == 3
    kept = set(primary_metrics()) | set(avg_gap_keys())
    full_rows = {r.method: r for r in run_results(full)}
    for row in run_results(quick):
        every = full_rows[row.method].metrics
        assert {"MIA_attack_acc", "loss_MIA", "forget_CE"} <= set(every)
        assert set(row.metrics) == kept & set(every), row.method
        for name in row.metrics.keys() - TIMING:
            assert row.metrics[name] == every[name], (row.method, name)
        assert row.config["metrics"] == "primary" and "metrics" not in full_rows[
            row.method].config
    quality = dict(protocol_items(summarize(run_results(quick))))["attack quality"]
    assert quality.startswith("not measured") and "--metrics primary" in quality
    # other cells: every metric re-runs them in the same folder, and its rows are reported
    again = bench(config(seeds=(0,), metrics="all"), quick, options=options)
    assert (again.skipped, again.finished) == (0, 3)
    assert all("MIA_attack_acc" in row.metrics for row in run_results(quick))

"""bench --log mlflow|tensorboard: every stored cell's parameters, metrics and record, and the
report's files, read back with each library's own reader and compared with results.sqlite."""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from ftunlearn.cli import main
from ftunlearn.experiments import tracking
from ftunlearn.experiments.store import RESULTS_FILENAME, ResultStore

TINY = ["--dataset", "digits", "--model", "mlp:hidden=8,depth=1", "--methods", "ft",
        "--seeds", "1", "--recipe", "epochs=2", "--threads", "1", "--no-progress",
        "--metrics", "primary"]


def _stored(out: Path) -> dict[str, object]:
    with ResultStore(out / RESULTS_FILENAME, read_only=True) as store:
        return {cell.cell_key: cell for cell in store.results(status=None)}


def _bench(tmp: Path, kind: str, cache: Path) -> Path:
    out = tmp / kind
    assert main(["bench", *TINY, "--out", str(out), "--cache-dir", str(cache), "--log",
                 kind]) == 0
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tracking-cache")


@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory, cache) -> Path:
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    return _bench(tmp_path_factory.mktemp("mlflow"), "mlflow", cache)


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory, cache) -> Path:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    return _bench(tmp_path_factory.mktemp("tensorboard"), "tensorboard", cache)


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if math.isfinite(v)}


@pytest.mark.slow
def test_mlflow_holds_every_cell_with_the_stores_metrics_and_the_report(mlflow_run) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking.mlflow_uri(mlflow_run))
    experiment = client.get_experiment_by_name(tracking.MLFLOW_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if r.data.tags.get(tracking.RUN_TAG) == "bench"]
    cells = {r.data.tags[tracking.KEY_TAG]: r for r in runs
             if r.data.tags.get(tracking.RUN_TAG) == "cell"}
    stored = _stored(mlflow_run)
    assert set(cells) == set(stored) and len(stored) == 3  # golden, original, ft
    for key, run in cells.items():
        cell = stored[key]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.metrics == pytest.approx(_finite(cell.metrics))
        assert run.data.params["method"] == cell.method
        assert run.data.params["seed"] == str(cell.seed)
        assert run.data.params["config.dataset"] == "digits"
        target = mlflow_run.parent / f"download-{key}"
        target.mkdir()
        record = json.loads(Path(client.download_artifacts(
            run.info.run_id, tracking.CELL_FILE, str(target))).read_text())
        assert record["cell_key"] == key and record["status"] == "ok"
    assert cells_by_method(cells)["ft"].data.params["hp.epochs"]
    logged = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"report.md", "report.html", "summary.csv", "table.tex", "avg_gap.png"} <= logged
    assert parent.info.status == "FINISHED"


def cells_by_method(cells):
    return {run.data.params["method"]: run for run in cells.values()}


@pytest.mark.slow
@pytest.mark.usefixtures("no_report_plots")  # the logged figures are checked above
def test_a_resumed_bench_logs_nothing_twice_and_a_rerun_cell_replaces_its_entry(
        mlflow_run, cache) -> None:
    from mlflow.tracking import MlflowClient

    assert main(["bench", *TINY, "--out", str(mlflow_run), "--cache-dir", str(cache), "--log",
                 "mlflow"]) == 0
    tracker = tracking.open_tracker("mlflow", mlflow_run)
    cell = next(c for c in _stored(mlflow_run).values() if c.method == "ft")
    tracker.log_cell(replace(cell, metrics={**cell.metrics, "UA": 12.5}))
    client = MlflowClient(tracking_uri=tracking.mlflow_uri(mlflow_run))
    experiment = client.get_experiment_by_name(tracking.MLFLOW_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id])
    assert sum(r.data.tags.get(tracking.RUN_TAG) == "bench" for r in runs) == 1
    ft = [r for r in runs if r.data.tags.get(tracking.KEY_TAG) == cell.cell_key]
    assert len(ft) == 1 and ft[0].data.metrics["UA"] == 12.5
    assert len(runs) == 4


@pytest.mark.slow
def test_tensorboard_holds_every_cell_with_the_stores_metrics(tensorboard_run) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for cell in _stored(tensorboard_run).values():
        events = EventAccumulator(str(tracking.tensorboard_dir(tensorboard_run) / cell.method
                                      / f"seed-{cell.seed}"))
        events.Reload()
        scalars = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}
        assert scalars == pytest.approx(_finite(cell.metrics), rel=1e-6, abs=1e-6)
        assert f"{tracking.CELL_FILE}/text_summary" in events.Tags()["tensors"]
    report = EventAccumulator(str(tracking.tensorboard_dir(tensorboard_run) / "report"))
    report.Reload()
    assert "avg_gap" in report.Tags()["images"]
    assert "report.md/text_summary" in report.Tags()["tensors"]


def test_a_missing_extra_is_one_clean_error_before_any_work(tmp_path, capsys,
                                                            monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert main(["bench", *TINY, "--out", str(tmp_path / "o"), "--log", "mlflow"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == ("ftunlearn bench: error: --log mlflow needs the mlflow extra: pip install "
                    "'ftunlearn[mlflow]'")
    assert not (tmp_path / "o").exists()

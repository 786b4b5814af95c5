"""Content-addressed runs: a changed input (data content or folder, forget indices, model code,
method or ftunlearn version) re-runs, and reports show only the current inputs' rows."""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import ftunlearn
from ftunlearn.cli import main
from ftunlearn.data import load_dataset
from ftunlearn.experiments.cells import plan_cells
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.executors import ExecutorOptions
from ftunlearn.experiments.identity import resolved_data_dir, run_identity
from ftunlearn.experiments.runner import RUN_FILENAME, bench, run_results
from ftunlearn.methods import Hyperparameters, Unlearner, register
from ftunlearn.models import build_model
from ftunlearn.models.registry import model_fingerprint
from ftunlearn.training import Recipe


@dataclass(frozen=True)
class NudgeConfig(Hyperparameters):
    scale: float = 0.01


@register
class Nudge(Unlearner):
    """A cheap stand-in method: adds a constant to every weight."""

    name = "test-identity-nudge"
    Config = NudgeConfig

    def run(self, model, retain, forget, context):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(self.config.scale)
        return model


def config(**changes) -> BenchConfig:
    base = dict(dataset="digits", model="mlp:hidden=16,depth=1", forget="random:0.1",
                methods=(Nudge.name,), seeds=(0,), recipe=Recipe(epochs=1, batch_size=64),
                device="cpu", mia_extras=False, metrics="primary")
    return BenchConfig(**{**base, **changes})


@pytest.fixture
def options(tmp_path):
    return ExecutorOptions(cache_dir=tmp_path / "cache", progress=False)


def write_npz(path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.normal(size=(120, 6)).astype(np.float32),
             y_train=np.arange(120) % 3, x_test=rng.normal(size=(30, 6)).astype(np.float32),
             y_test=np.arange(30) % 3)


def cli_bench(tmp_path, *extra: str) -> int:
    return main(["bench", "--dataset", "npz", "--model", "mlp:hidden=8,depth=1",
                 "--methods", Nudge.name, "--seeds", "1", "--recipe", "epochs=1",
                 "--threads", "1", "--no-progress",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"),
                 *extra])


@pytest.mark.usefixtures("no_report_plots")
def test_a_different_npz_into_the_same_out_re_runs_and_reports_only_its_rows(tmp_path, capsys):
    data = tmp_path / "data.npz"
    write_npz(data, seed=0)
    n = len(plan_cells(config(seeds=(0,))))
    assert cli_bench(tmp_path, "--data-dir", str(data), "--no-report") == 0
    assert f"cells: {n} run, 0 already done" in capsys.readouterr().out
    first = {r.cell_key for r in run_results(tmp_path / "out")}
    write_npz(data, seed=1)  # same path and shapes, other content
    assert cli_bench(tmp_path, "--data-dir", str(data)) == 0
    out = capsys.readouterr().out
    assert f"cells: {n} run, 0 already done" in out and f"left out {n} stored row(s)" in out
    current = run_results(tmp_path / "out")
    assert current.ignored == n and not first & {r.cell_key for r in current}
    assert len({r.config["identity"] for r in current}) == 1
    assert f"stored rows left out**: {n}" in (tmp_path / "out" / "report.md").read_text()
    # the same content under another path is another input too (data_dir is part of it)
    moved = tmp_path / "moved.npz"
    moved.write_bytes(data.read_bytes())
    assert cli_bench(tmp_path, "--data-dir", str(moved), "--no-report") == 0
    assert f"cells: {n} run, 0 already done" in capsys.readouterr().out
    assert cli_bench(tmp_path, "--data-dir", str(moved), "--no-report") == 0
    assert f"cells: 0 run, {n} already done" in capsys.readouterr().out


MODEL_SOURCE = """
from torch import nn

def factory(input_shape, num_classes):
    hidden = nn.Linear(64, 16)
    return nn.Sequential(nn.Flatten(), hidden, nn.ACTIVATION(), nn.Linear(16, num_classes))
"""


def test_edited_model_code_with_the_same_shapes_does_not_reuse_checkpoints(
    tmp_path, options, monkeypatch
):
    module = "ftunlearn_test_user_model"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # an edit within one second: no .pyc
    source = tmp_path / f"{module}.py"
    run = config(model=f"{module}:factory")
    source.write_text(MODEL_SOURCE.replace("ACTIVATION", "ReLU"))
    n = len(plan_cells(run))
    try:
        assert bench(run, tmp_path / "out", options=options).finished == n
        source.write_text(MODEL_SOURCE.replace("ACTIVATION", "Tanh"))
        sys.modules.pop(module)
        importlib.invalidate_caches()
        again = bench(run, tmp_path / "out", options=options)
    finally:
        sys.modules.pop(module, None)
    assert (again.finished, again.skipped) == (n, 0)
    # a new original and golden model: four checkpoints, none reused
    assert len(list(options.cache_dir.glob("*.safetensors"))) == 4
    metas = [json.loads(p.read_text()) for p in options.cache_dir.glob("*.json")]
    assert len({m["parts"]["model_fingerprint"] for m in metas}) == 2


def test_model_fingerprint_covers_layout_dtype_and_module_classes():
    def fp(spec, model=None):
        return model_fingerprint(spec, model or build_model(spec, (8,), 3, seed=0))

    assert fp("mlp:hidden=8,depth=1") == fp("mlp:hidden=8,depth=1")
    assert fp("mlp:hidden=8,depth=1") != fp("mlp:hidden=9,depth=1")
    model = build_model("mlp:hidden=8,depth=1", (8,), 3, seed=5)
    assert fp("mlp:hidden=8,depth=1", model) == fp("mlp:hidden=8,depth=1")  # not the weights
    assert fp("mlp:hidden=8,depth=1", model.double()) != fp("mlp:hidden=8,depth=1")
    relu = nn.Sequential(nn.Linear(8, 3), nn.ReLU())
    tanh = nn.Sequential(nn.Linear(8, 3), nn.Tanh())
    assert fp("mlp", relu) != fp("mlp", tanh)


def test_a_changed_index_file_re_runs_and_the_same_indices_reordered_do_not(tmp_path, options):
    indices = tmp_path / "forget.txt"
    indices.write_text(" ".join(str(i) for i in range(0, 60, 3)))
    run = config(forget=f"indices:{indices}")
    n = len(plan_cells(run))
    assert bench(run, tmp_path / "out", options=options).finished == n
    indices.write_text(" ".join(str(i) for i in reversed(range(0, 60, 3))))
    assert bench(run, tmp_path / "out", options=options).skipped == n
    indices.write_text(" ".join(str(i) for i in range(1, 61, 3)))
    changed = bench(run, tmp_path / "out", options=options)
    assert (changed.finished, changed.skipped) == (n, 0)
    results = run_results(tmp_path / "out")
    assert results.ignored == n and len(results) == n
    recorded = json.loads((tmp_path / "out" / RUN_FILENAME).read_text())
    assert recorded["cells"] == [r.cell_key for r in results]


def test_method_and_ftunlearn_versions_are_part_of_every_key(tmp_path, options, monkeypatch):
    out = tmp_path / "out"
    n = len(plan_cells(config()))
    bench(config(), out, options=options)
    monkeypatch.setattr(Nudge, "version", "2", raising=False)
    bumped = bench(config(), out, options=options)
    assert (bumped.finished, bumped.skipped) == (1, n - 1)  # the method's cell alone
    monkeypatch.setattr(ftunlearn, "__version__", ftunlearn.__version__ + ".test")
    upgraded = bench(config(), out, options=options)
    assert (upgraded.finished, upgraded.skipped) == (n, 0)
    assert len(list(options.cache_dir.glob("*.safetensors"))) == 4  # retrained on upgrade
    assert run_results(out).ignored == n + 1


def test_two_spellings_of_one_data_folder_are_one_identity(tmp_path, monkeypatch):
    data = tmp_path / "d.npz"
    write_npz(data, seed=0)
    monkeypatch.chdir(tmp_path)
    assert resolved_data_dir("d.npz") == resolved_data_dir(str(data)) == str(data)
    dataset = load_dataset("npz", data)
    spelled = [run_identity(config(dataset="npz", data_dir=d, model="mlp:hidden=4,depth=1"),
                            dataset) for d in ("d.npz", str(data), "./d.npz")]
    assert len({identity.digest for identity in spelled}) == 1
    other = run_identity(config(dataset="npz", data_dir=str(data), seeds=(0, 1),
                                model="mlp:hidden=4,depth=1"), dataset)
    assert other.digest == spelled[0].digest  # seeds are per cell, not the shared identity
    assert other.splits[0] == spelled[0].splits[0] != other.splits[1]


def test_the_users_original_weights_are_part_of_the_identity_by_content(tmp_path):
    from ftunlearn.checkpoints import save

    data = load_dataset("digits")
    weights = tmp_path / "original.safetensors"

    def identity_with(seed: int, path) -> str:
        save(build_model("mlp:hidden=16,depth=1", data.input_shape, data.num_classes,
                         seed=seed), path)
        return run_identity(config(original_weights=str(path)), data).digest

    first = identity_with(0, weights)
    assert identity_with(0, tmp_path / "moved.safetensors") == first  # same bytes, new place
    assert identity_with(1, weights) != first
    assert run_identity(config(), data).digest != first


def test_the_class_wise_mia_non_member_choice_is_part_of_the_identity():
    data = load_dataset("digits")
    choices = {run_identity(config(forget="class:3", mia_non_members=choice), data).digest
               for choice in ("test", "kept-classes")}
    assert len(choices) == 2


def test_the_evaluation_sample_sizes_are_part_of_the_identity():
    data = load_dataset("digits")
    sizes = [{}, {"eval_retain_samples": 500}, {"attack_samples": 5000},
             {"attack_samples": "all"}, {"attack_samples": 100}]
    digests = {run_identity(config(**size), data).digest for size in sizes}
    assert len(digests) == len(sizes)

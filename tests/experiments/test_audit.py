"""The audit end to end on digits with tiny ensembles, and its null-row verdict."""

from __future__ import annotations

import csv
import io
import math
import sqlite3

import numpy as np
import pytest

from ftunlearn.cli import main
from ftunlearn.experiments.audit import (
    CSV_COLUMNS,
    NULL_AUC_RANGE,
    NULL_ROW,
    AuditRow,
    audit_examples,
    null_verdict,
    run_audit,
)
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.terminal import print_audit_table
from ftunlearn.training import Recipe


def _row(name: str, f: float, auc: float, se: float = 0.01) -> AuditRow:
    values = {"method": name, "forget_score": f, "ulira_auc": auc}
    empty = np.zeros(0)
    return AuditRow(values, empty, empty, empty, empty, se)


def test_null_verdict_passes_fails_on_auc_and_on_a_method_above_it():
    ok, sentence = null_verdict({NULL_ROW: _row(NULL_ROW, 0.3, 0.5), "ft": _row("ft", 0.1, 1.0)})
    assert ok and "passed" in sentence
    ok, sentence = null_verdict({NULL_ROW: _row(NULL_ROW, 0.3, 0.7)})
    assert not ok and "unreliable at this K" in sentence
    ok, sentence = null_verdict({NULL_ROW: _row(NULL_ROW, 0.3, 0.5), "ft": _row("ft", 0.5, 0.5)})
    assert not ok and "ft" in sentence
    # within twice the combined standard error: not "clearly" above
    assert null_verdict({NULL_ROW: _row(NULL_ROW, 0.3, 0.5), "ft": _row("ft", 0.32, 0.5)})[0]
    # a retraining reference may score above the null row
    assert null_verdict({NULL_ROW: _row(NULL_ROW, 0.3, 0.5),
                         "retrain": _row("retrain", 0.9, 0.5)})[0]


def test_audit_examples_all_below_the_cap_else_stratified():
    forget = np.arange(100, 200)
    labels = np.repeat([0, 1], 50)
    np.testing.assert_array_equal(audit_examples(forget, labels, 500, seed=0), forget)
    chosen = audit_examples(forget, labels, 20, seed=0)
    assert chosen.size == 20 and np.isin(chosen, forget).all()
    assert (chosen < 150).sum() == 10  # half from each class
    np.testing.assert_array_equal(chosen, audit_examples(forget, labels, 20, seed=0))


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    config = BenchConfig(dataset="digits", model="mlp", forget="class:3", methods=("ft",),
                         recipe=Recipe(epochs=3, batch_size=64),
                         hyperparameters={"ft": {"epochs": 1}})
    outcome = run_audit(config, root / "out", 4, examples=40, cache_dir=root / "cache")
    return root, config, outcome


def test_audit_writes_its_table_store_examples_and_report(audited):
    root, _config, outcome = audited
    out = root / "out"
    with (out / "audit.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["method"] for r in rows] == [NULL_ROW, "ft"]
    assert all(r["K"] == "4" and r["n_examples"] == "40" and r["eps_resolution"] == "2"
               for r in rows)
    examples = np.load(out / "audit_examples.npy")
    assert examples.size == 40 and np.array_equal(examples, outcome.examples)
    with sqlite3.connect(out / "results.sqlite") as db:
        stored = db.execute("SELECT method, example_index, epsilon, points FROM audit_examples "
                            "WHERE method = 'ft' ORDER BY example_index").fetchall()
    assert [r[1] for r in stored] == examples.tolist()
    np.testing.assert_allclose([r[2] for r in stored], outcome.rows["ft"].epsilon)
    f = float(rows[1]["forget_score"])
    assert f == pytest.approx(np.mean([r[3] for r in stored]))
    text = (out / "audit.md").read_text()
    assert outcome.verdict in text and "K = 4" in text
    assert (out / "audit_epsilon.png").stat().st_size > 0
    assert (out / "audit_epsilon.svg").exists() and (out / "audit.html").exists()
    assert (out / "audit_epsilon.pdf").read_bytes().startswith(b"%PDF")


def test_audit_resumes_from_the_cache_with_the_same_numbers(audited, monkeypatch):
    root, config, outcome = audited

    def no_storing(*args, **kwargs):
        raise AssertionError("a cached model was trained and stored again")

    monkeypatch.setattr("ftunlearn.experiments.cache.CheckpointCache.store", no_storing)
    again = run_audit(config, root / "again", 4, examples=40, cache_dir=root / "cache")
    for name in (NULL_ROW, "ft"):
        np.testing.assert_array_equal(again.rows[name].epsilon, outcome.rows[name].epsilon)


def test_audit_command_reports_a_bad_ensemble_size(tmp_path, capsys):
    code = main(["audit", "--ensemble", "2", "--out", str(tmp_path / "o"),
                 "--cache-dir", str(tmp_path / "c"), "--methods", "ft"])
    assert code == 2
    assert "ftunlearn audit: error:" in capsys.readouterr().err


def test_audit_table_prints_every_row_and_the_verdict(audited):
    _root, _config, outcome = audited
    stream = io.StringIO()
    print_audit_table(outcome, file=stream)
    text = stream.getvalue()
    assert "U-LiRA AUC" in text and "│ null " in text and "│ ft " in text
    assert "null row" in text


def test_acceptance_null_passes_ft_distinguishable_retrain_like_the_null_row(tmp_path):
    # the acceptance (digits + mlp, class:3, K = 16) with a 10-epoch recipe: about 15 s
    config = BenchConfig(dataset="digits", model="mlp", forget="class:3",
                         methods=("ft", "retrain"),
                         recipe=Recipe(epochs=10, batch_size=64, lr=0.05, schedule="cosine"))
    outcome = run_audit(config, tmp_path / "out", 16, cache_dir=tmp_path / "cache")
    null, ft, retrain = (outcome.rows[n] for n in (NULL_ROW, "ft", "retrain"))
    assert outcome.null_passed, outcome.verdict
    assert ft.values["ulira_auc"] >= 0.9
    low, high = NULL_AUC_RANGE
    assert low <= retrain.values["ulira_auc"] <= high
    # an independent golden draw, not a copy of the goldens (which would give F = 1, KLOM 0)
    margin = 3 * math.hypot(null.points_se, retrain.points_se)
    assert abs(retrain.values["forget_score"] - null.values["forget_score"]) <= margin
    assert retrain.values["klom_p95_forget"] > 0.5 * null.values["klom_p95_forget"]


def test_bench_audit_writes_the_audit_and_the_report_shows_it(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["bench", "--dataset", "digits", "--model", "mlp:hidden=16,depth=1", "--methods",
            "ft", "--seeds", "1", "--recipe", "epochs=2", "--hp", "ft.epochs=1", "--out",
            str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress", "--device", "cpu",
            "--threads", "1", "--audit", "4"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "U-LiRA AUC" in printed and "│ null " in printed
    with (out / "audit.csv").open() as handle:
        assert [r["method"] for r in csv.DictReader(handle)] == [NULL_ROW, "ft"]
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(DISTINCT method) FROM audit_examples").fetchone() == (2,)
    verdict = (out / "audit.md").read_text().split("\n")[4]
    assert "null row" in verdict
    report = (out / "report.md").read_text()
    assert "## Per-example audit" in report and verdict in report
    assert "(audit_epsilon.png)" in report
    html = (out / "report.html").read_text()
    assert "Per-example audit" in html and 'alt="per-example epsilon"' in html
    # `report` alone keeps the audit section
    assert main(["report", str(out)]) == 0
    assert "## Per-example audit" in (out / "report.md").read_text()

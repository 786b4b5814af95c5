"""The audit end to end on digits with tiny ensembles, and its null-row verdict."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from statistics import NormalDist

import numpy as np
import pytest

from ftunlearn.cli import main
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.audit import (
    CSV_COLUMNS,
    NULL_AUC_RANGE,
    NULL_KEYS,
    NULL_PERMUTATIONS,
    NULL_ROW,
    AuditRow,
    audit_examples,
    floor_z,
    null_floor,
    null_verdict,
    run_audit,
)
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.terminal import print_audit_table
from ftunlearn.training import Recipe


def _row(name: str, f: float, auc: float = 0.5) -> AuditRow:
    values = {"method": name, "forget_score": f, "ulira_auc": auc}
    empty = np.zeros(0)
    return AuditRow(values, empty, empty, empty, empty)


def _null(f: float = 0.15, auc: float = 0.5, mean: float = 0.2, sd: float = 0.04) -> AuditRow:
    row = _row(NULL_ROW, f, auc)
    row.values.update(forget_score_null_mean=mean, forget_score_null_sd=sd,
                      forget_score_null_permutations=100)
    return row


def test_null_floor_is_bonferroni_over_the_rows_compared():
    # Φ⁻¹(1 − 0.05 / m) for m = 1, 2, 12 (the normal quantiles 0.95, 0.975, 0.99583…)
    for m, z in ((1, 1.6448536269514722), (2, 1.959963984540054), (12, 2.638257273476751)):
        assert floor_z(m) == pytest.approx(z, abs=1e-12)
        assert null_floor(0.2, 0.04, m) == pytest.approx(0.2 + z * 0.04, abs=1e-12)
    assert floor_z(1) < floor_z(2) < floor_z(12) < floor_z(100)
    with pytest.raises(UnlearnError, match="at least one row compared"):
        floor_z(0)


def test_null_verdict_passes_below_the_floor_and_fails_on_auc():
    # one row: floor 0.2 + 1.645 × 0.04 = 0.2658
    ok, sentence = null_verdict({NULL_ROW: _null(), "ft": _row("ft", 0.26, 1.0)})
    assert ok
    assert sentence.startswith("The null row passed (U-LiRA AUC 0.50, F 0.150 for this draw "
                               "of held-out goldens).")
    assert "F 0.200 ± 0.040 over 100 re-splits" in sentence and "1.64·sd = 0.266" in sentence
    assert "the best F any method can expect at this K" in sentence
    ok, sentence = null_verdict({NULL_ROW: _null(auc=0.7), "ft": _row("ft", 0.1)})
    assert not ok and "U-LiRA AUC 0.70 is outside [0.35, 0.65]" in sentence
    assert sentence.endswith("the audit is unreliable at this K.")


def test_null_verdict_fails_naming_the_methods_above_the_floor():
    ok, sentence = null_verdict({NULL_ROW: _null(), "ft": _row("ft", 0.27), "rl": _row("rl", 0.1)})
    # two rows: floor 0.2 + 1.960 × 0.04 = 0.2784, ft's 0.27 is below it
    assert ok
    ok, sentence = null_verdict({NULL_ROW: _null(), "ft": _row("ft", 0.29),
                                 "rl": _row("rl", 0.1)})
    assert not ok
    assert sentence == ("The null row failed (ft's F of 0.290 is above what perfect unlearning "
                        "gives at this K, 0.278 at most: mean 0.200 + z 1.96 × sd 0.040 over 100 "
                        "re-splits of the 2K golden models): the audit is unreliable at this K.")
    ok, sentence = null_verdict({NULL_ROW: _null(), "ft": _row("ft", 0.3),
                                 "rl": _row("rl", 0.4)})
    assert not ok and "rl's F of 0.400 and ft's F of 0.300 are above" in sentence


def test_null_verdict_holds_a_reference_method_to_the_floor_too():
    # retrain is a golden draw: it passes below the floor and fails the null above it
    assert null_verdict({NULL_ROW: _null(), "retrain": _row("retrain", 0.25)})[0]
    ok, sentence = null_verdict({NULL_ROW: _null(), "retrain": _row("retrain", 0.9)})
    assert not ok and "retrain's F of 0.900" in sentence
    # and it counts as a row compared: m = 2 raises the floor above ft's 0.27
    assert not null_verdict({NULL_ROW: _null(), "ft": _row("ft", 0.27)})[0]
    assert null_verdict({NULL_ROW: _null(), "ft": _row("ft", 0.27),
                         "retrain": _row("retrain", 0.2)})[0]


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
    null = outcome.rows[NULL_ROW].values
    section = json.loads((out / "audit_section.json").read_text())
    assert section["null"] == {key: null[key] for key in NULL_KEYS}
    assert null["forget_score_null_permutations"] == NULL_PERMUTATIONS
    assert 0 <= null["forget_score_null_mean"] <= 1 and null["forget_score_null_sd"] >= 0
    assert null["forget_score_null_floor"] == pytest.approx(null_floor(
        null["forget_score_null_mean"], null["forget_score_null_sd"], 1), abs=1e-12)
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
    # an independent golden draw, not a copy of the goldens (which would give F = 1, KLOM 0):
    # its F lies within the permutation null's two-sided Bonferroni band, m = 2 rows
    mean, sd = null.values["forget_score_null_mean"], null.values["forget_score_null_sd"]
    z = NormalDist().inv_cdf(1 - 0.05 / 2)
    assert mean - z * sd <= retrain.values["forget_score"] <= mean + z * sd
    assert null.values["forget_score_null_floor"] == pytest.approx(mean + z * sd, abs=1e-12)
    assert retrain.values["klom_p95_forget"] > 0.5 * null.values["klom_p95_forget"]


def test_bench_audit_writes_the_audit_and_the_report_shows_it(tmp_path, capsys,
                                                              tiny_bench_argv):
    out = tmp_path / "run"
    argv = tiny_bench_argv("--threads", "1", "--audit", "4")
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

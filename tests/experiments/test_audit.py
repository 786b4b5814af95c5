"""The audit end to end on digits with tiny ensembles, and its null-row verdict."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from statistics import NormalDist

import numpy as np
import pytest

from figure_helpers import figure_formats
from ftunlearn.cli import main
from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.audit import (
    AUDIT_RULES,
    CSV_COLUMNS,
    MIN_RANK_PERMUTATIONS,
    NULL_KEYS,
    NULL_PERMUTATIONS,
    NULL_ROW,
    OUTPUTS_FILE,
    AuditRow,
    apply_null,
    audit_examples,
    null_verdict,
    rank_permutations,
    run_audit,
)
from ftunlearn.experiments.config import BenchConfig
from ftunlearn.experiments.plots import FORMATS
from ftunlearn.experiments.terminal import print_audit_table
from ftunlearn.metrics import audit as stats
from ftunlearn.metrics.audit import normal_p_value, rank_p_value
from ftunlearn.training import Recipe


def _row(name: str, f: float, auc: float = 0.5, klom: float = 1.0) -> AuditRow:
    values = {"method": name, "forget_score": f, "ulira_auc": auc, "klom_p95_forget": klom}
    empty = np.zeros(0)
    return AuditRow(values, empty, empty, empty, empty)


def _draws(mean: tuple[float, float, float] = (0.2, 0.5, 1.0), n: int = 100
           ) -> dict[str, np.ndarray]:
    """A null whose draws are the mean ± 0.04 (F), ± 0.1 (AUC), ± 0.2 (KLOM), alternately:
    sd = spread · √(n / (n − 1))."""
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    spread = (0.04, 0.1, 0.2)
    return {rule.key: m + s * signs for rule, m, s in zip(AUDIT_RULES, mean, spread,
                                                          strict=True)}


def _sd(spread: float, n: int = 100) -> float:
    return spread * math.sqrt(n / (n - 1))


def test_normal_p_value_is_the_normal_tail_toward_worse():
    draws = _draws()["forget_score"]
    sd = _sd(0.04)
    # F is worse when lower: 0.1 is 0.1 / sd below the mean
    assert normal_p_value(0.1, draws, "lower") == pytest.approx(NormalDist().cdf(-0.1 / sd))
    assert normal_p_value(0.3, draws, "lower") == pytest.approx(NormalDist().cdf(0.1 / sd))
    assert normal_p_value(0.3, draws, "higher") == pytest.approx(NormalDist().cdf(-0.1 / sd))
    assert normal_p_value(0.2, draws, "higher") == pytest.approx(0.5)
    assert normal_p_value(0.5, np.full(10, 0.5), "higher") == 1.0  # no spread, not worse
    assert normal_p_value(0.6, np.full(10, 0.5), "higher") == 0.0
    assert math.isnan(normal_p_value(float("nan"), draws, "higher"))
    with pytest.raises(UnlearnError, match="worse must be"):
        normal_p_value(0.1, draws, "up")


def test_rank_p_value_counts_the_draws_at_least_as_bad():
    draws = np.array([1.0, 2.0, 3.0, 4.0, np.nan])  # the NaN draw is left out
    assert rank_p_value(3.0, draws, "higher") == pytest.approx((1 + 2) / (1 + 4))
    assert rank_p_value(3.0, draws, "lower") == pytest.approx((1 + 3) / (1 + 4))
    assert rank_p_value(9.0, draws, "higher") == pytest.approx(1 / 5)  # the smallest it gives
    assert math.isnan(rank_p_value(float("nan"), draws, "lower"))


def test_apply_null_writes_p_values_and_the_bonferroni_level():
    rows = {NULL_ROW: _row(NULL_ROW, 0.2), "ft": _row("ft", 0.05, 0.9, 3.0),
            "rl": _row("rl", 0.19, 0.52, 1.1)}
    level = apply_null(rows, _draws())
    assert level == pytest.approx(0.05 / (3 * 3))
    ft, rl, null = rows["ft"].values, rows["rl"].values, rows[NULL_ROW].values
    # F: the normal tail; U-LiRA and KLOM: ranks (none of the 100 draws is as bad as ft's)
    assert ft["forget_score_p"] == pytest.approx(NormalDist().cdf(-0.15 / _sd(0.04)))
    assert ft["ulira_auc_p"] == pytest.approx(1 / 101)
    assert ft["klom_p95_forget_p"] == pytest.approx(1 / 101)
    assert rl["ulira_auc_p"] == pytest.approx(51 / 101)  # above the 50 draws at 0.4
    assert ft["distinguishable"] and not rl["distinguishable"]
    assert null["forget_score_null_mean"] == pytest.approx(0.2)
    assert null["ulira_auc_null_sd"] == pytest.approx(_sd(0.1))
    assert null["klom_p95_forget_null_draws"] == 100 and null["p_level"] == level
    assert set(NULL_KEYS) <= set(null)


def test_null_verdict_passes_when_no_perfect_row_is_distinguishable():
    rows = {NULL_ROW: _row(NULL_ROW, 0.18), "retrain": _row("retrain", 0.21, 0.55),
            "ft": _row("ft", 0.02, 0.95, 5.0)}
    apply_null(rows, _draws())
    ok, sentence = null_verdict(rows)
    assert ok, sentence
    assert sentence.startswith("The null row passed: no perfect row (null, retrain) is "
                               "distinguishable at the Bonferroni level 0.0056")
    assert "F 0.200 ± 0.040 (100 re-splits, normal p-values)" in sentence


def test_null_verdict_fails_naming_a_distinguishable_perfect_row():
    # retrain is a golden draw: distinguishable by U-LiRA means the audit is miscalibrated
    rows = {NULL_ROW: _row(NULL_ROW, 0.2), "retrain": _row("retrain", 0.2, 0.95)}
    draws = _draws()
    draws["ulira_auc"] = np.concatenate([draws["ulira_auc"]] * 10)  # enough for p < 0.0083
    apply_null(rows, draws)
    ok, sentence = null_verdict(rows)
    assert not ok
    assert "retrain (F p = 0.5000, U-LiRA AUC p = " in sentence
    assert sentence.endswith("the audit is unreliable at this K.")


def test_audit_examples_all_below_the_cap_else_stratified():
    forget = np.arange(100, 200)
    labels = np.repeat([0, 1], 50)
    np.testing.assert_array_equal(audit_examples(forget, labels, 500, seed=0), forget)
    chosen = audit_examples(forget, labels, 20, seed=0)
    assert chosen.size == 20 and np.isin(chosen, forget).all()
    assert (chosen < 150).sum() == 10  # half from each class
    np.testing.assert_array_equal(chosen, audit_examples(forget, labels, 20, seed=0))


FEW_NULL_DRAWS = 8


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A K = 4 audit of 40 examples whose permutation null takes FEW_NULL_DRAWS re-splits per
    test (the real counts cost most of its time: the acceptance run checks them). One epoch:
    these tests check what the audit writes and recomputes, no statistic's size."""
    root = tmp_path_factory.mktemp("audit")
    config = BenchConfig(dataset="digits", model="mlp", forget="class:3", methods=("ft",),
                         recipe=Recipe(epochs=1, batch_size=64),
                         hyperparameters={"ft": {"epochs": 1}})
    with pytest.MonkeyPatch.context() as patch, figure_formats(FORMATS):  # its figure's checked
        patch.setattr("ftunlearn.experiments.audit.NULL_PERMUTATIONS", FEW_NULL_DRAWS)
        patch.setattr("ftunlearn.experiments.audit.rank_permutations",
                      lambda tests: FEW_NULL_DRAWS)
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
    assert all(null[f"{rule.key}_null_draws"] == FEW_NULL_DRAWS for rule in AUDIT_RULES)
    # unpatched, 2 rows × 3 rules: 2 · 6 / 0.05 = 240 re-splits bring the rank p-value to
    # 0.0042 < 0.0083 (the acceptance run checks the real draws of a whole audit)
    assert rank_permutations(6) == 240 > MIN_RANK_PERMUTATIONS
    assert 0 <= null["forget_score_null_mean"] <= 1 and null["forget_score_null_sd"] >= 0
    assert all(0 <= float(r[rule.p_key]) <= 1 for r in rows for rule in AUDIT_RULES)
    assert {r["distinguishable"] for r in rows} <= {"True", "False"}
    assert (out / "audit_epsilon.png").stat().st_size > 0
    assert (out / "audit_epsilon.svg").exists() and (out / "audit.html").exists()
    assert (out / "audit_epsilon.pdf").read_bytes().startswith(b"%PDF")


def test_audit_outputs_recompute_every_statistic(audited):
    root, _config, outcome = audited
    with np.load(root / "out" / OUTPUTS_FILE, allow_pickle=False) as saved:
        data = {key: saved[key] for key in saved.files}
    np.testing.assert_array_equal(data["forget_index"], outcome.examples)
    assert data["phi_forget"].shape == (4 * 3, outcome.examples.size)  # golden, null, ft
    assert list(np.unique(data["role"])) == ["golden", "held-out", "unlearned"]
    assert data["seed"][data["role"] == "held-out"].tolist() == [4, 5, 6, 7]
    golden = data["phi_forget"][data["role"] == "golden"]
    ft = data["phi_forget"][data["method"] == "ft"]
    row = outcome.rows["ft"].values
    assert stats.forget_score(stats.epsilon(ft, golden), 4) == pytest.approx(
        row["forget_score"], abs=1e-12)
    assert stats.klom(ft, golden).p95 == pytest.approx(row["klom_p95_forget"], abs=1e-12)
    assert stats.ulira(ft, golden, splits=10, seed=0).auc == pytest.approx(row["ulira_auc"])
    retain_golden = data["phi_retain"][data["role"] == "golden"]
    retain_ft = data["phi_retain"][data["method"] == "ft"]
    assert stats.klom(retain_ft, retain_golden).p95 == pytest.approx(row["klom_p95_retain"])


@pytest.mark.usefixtures("few_null_draws")  # the ε compared here do not depend on the null
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


@pytest.mark.slow
def test_acceptance_null_passes_ft_distinguishable_retrain_like_the_null_row(tmp_path):
    # digits + mlp, class:3, K = 8 (at K = 16 this draw puts retrain's KLOM P95 at the edge
    # of the Bonferroni level, p = 0.0055 against 0.0056: docs/results.md), 10-epoch recipe
    config = BenchConfig(dataset="digits", model="mlp", forget="class:3",
                         methods=("ft", "retrain"),
                         recipe=Recipe(epochs=10, batch_size=64, lr=0.05, schedule="cosine"))
    outcome = run_audit(config, tmp_path / "out", 8, cache_dir=tmp_path / "cache")
    null, ft, retrain = (outcome.rows[n] for n in (NULL_ROW, "ft", "retrain"))
    assert null.values["forget_score_null_draws"] == NULL_PERMUTATIONS
    # 3 rows × 3 rules: 2 · 9 / 0.05 = 360 re-splits bring the rank p-value to 0.0028 < 0.0056
    assert null.values["ulira_auc_null_draws"] == rank_permutations(9) == 360
    assert null.values["klom_p95_forget_null_draws"] == 360 > MIN_RANK_PERMUTATIONS
    assert outcome.null_passed, outcome.verdict
    assert ft.values["distinguishable"] and not retrain.values["distinguishable"]
    assert ft.values["ulira_pooled_auc"] >= 0.9 and ft.values["ulira_auc"] > 0.5
    # an independent golden draw, not a copy of the goldens (which would give F = 1, KLOM 0)
    assert retrain.values["forget_score"] < 1.0
    assert retrain.values["klom_p95_forget"] > 0.5 * null.values["klom_p95_forget_null_mean"]


@pytest.mark.usefixtures("few_null_draws", "no_report_plots")
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

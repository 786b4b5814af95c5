"""Intervals and the tie rule, attack-at-chance flags, exports, the terminal table, comparisons."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from test_report_outputs import two_by_two

from ftunlearn.cli import main
from ftunlearn.experiments import report
from ftunlearn.experiments.exports import read_results_long
from ftunlearn.experiments.intervals import (
    Interval,
    best_by_lowest_mean,
    overlaps,
    paired_difference,
    t_interval,
)
from ftunlearn.experiments.report import summarize, summary_csv_text, write_report
from ftunlearn.experiments.terminal import print_main_table

T_975_DF2 = 4.302652729911275  # Student t quantile, 2 degrees of freedom


def test_t_interval_matches_the_hand_computed_one() -> None:
    interval = t_interval([1.0, 2.0, 3.0])  # mean 2, s = 1, sem = 1 / √3
    assert interval.mean == pytest.approx(2.0)
    assert interval.low == pytest.approx(2.0 - T_975_DF2 / math.sqrt(3))
    assert interval.high == pytest.approx(2.0 + T_975_DF2 / math.sqrt(3))
    single = t_interval([5.0])
    assert single.mean == 5.0 and math.isnan(single.low) and math.isnan(single.high)


def test_best_needs_an_interval_clear_of_the_runner_up() -> None:
    clear = {"a": Interval(1.0, 0.5, 1.5, 3), "b": Interval(3.0, 2.0, 4.0, 3),
             "c": Interval(2.0, 1.6, 2.4, 3)}
    assert best_by_lowest_mean(clear).best == ("a",)
    touching = {**clear, "c": Interval(2.0, 1.5, 2.5, 3)}  # shares the point 1.5 with a
    verdict = best_by_lowest_mean(touching)
    assert verdict.best == () and verdict.tied == ("a", "c")
    one_seed = {"a": Interval(1.0, math.nan, math.nan, 1), "b": Interval(9.0, 8.0, 10.0, 3)}
    assert best_by_lowest_mean(one_seed).tied == ("a", "b")
    lone = best_by_lowest_mean({"a": Interval(1.0, 0.5, 1.5, 3)})
    assert lone.best == () and lone.tied == ()  # nothing to beat: no mark, no tie
    assert not overlaps(Interval(0, 0, 1, 2), Interval(2, 1.5, 3, 2))


def test_paired_difference_uses_only_shared_seeds() -> None:
    pair = paired_difference("rbm", {0: 1.0, 1: 2.0, 2: 3.0, 7: 100.0}, "ft",
                             {0: 2.0, 1: 4.0, 2: 6.0})
    assert pair is not None and pair.seeds == (0, 1, 2)
    # differences −1, −2, −3: mean −2 ± t · 1 / √3, which includes 0
    assert pair.difference.mean == pytest.approx(-2.0)
    assert pair.difference.high == pytest.approx(-2.0 + T_975_DF2 / math.sqrt(3))
    assert pair.verdict == "no clear difference"
    clear = paired_difference("rbm", {0: 1.0, 1: 1.1, 2: 0.9}, "ft", {0: 3.0, 1: 3.0, 2: 3.0})
    assert clear is not None and clear.verdict == "lower"
    assert paired_difference("rbm", {5: 1.0}, "ft", {0: 1.0}) is None


@pytest.mark.usefixtures("no_report_plots")  # no plot depends on the chance flag
def test_attack_at_chance_flags_mia_and_adds_the_gap_without_it(tmp_path: Path) -> None:
    cells = [replace(c, metrics={**c.metrics, "MIA_attack_acc": acc})
             for c in two_by_two() if c.status == "ok"
             for acc in [52.0 if c.method == "ft" else 80.0]]
    summary = summarize(cells)
    assert summary.chance_attack == ("ft",)
    # ft seed 0 against golden seed 0: |2−5|, |99−100|, |90−93| -> 7/3; seed 1: 1, 3, 3 -> 7/3
    assert summary.method("ft").stats["avg_gap_no_mia"].mean == pytest.approx(7 / 3)
    text = write_report(tmp_path, cells, figure_formats=("png",)).report_md.read_text()
    ft_line = next(line for line in text.splitlines() if line.startswith("| ft |"))
    assert "(attack at chance)" in ft_line and "Avg Gap (no MIA)" in text
    salun_line = next(line for line in text.splitlines() if line.startswith("| salun |"))
    assert "attack at chance" not in salun_line


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    # no plots: the exports hold none (test_report_outputs.py checks this report's figures)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "render_plots", lambda summary, formats=None: {})
        return write_report(tmp_path_factory.mktemp("exports"), two_by_two())


def test_table_tex_is_a_booktabs_tabular_with_one_row_per_method(exported) -> None:
    tex = exported.exports["table.tex"].read_text()
    lines = tex.strip().splitlines()
    lines = lines[next(i for i, x in enumerate(lines) if x.startswith(r"\begin{tabular}")):]
    assert lines[0].startswith(r"\begin{tabular}{l") and r"\end{tabular}" in lines
    assert [line for line in lines if line.endswith("rule")] == [r"\toprule", r"\midrule",
                                                                 r"\bottomrule"]
    body = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    assert [row.split(" & ")[0] for row in body] == ["golden", "ft", "salun"]
    assert all(row.count("&") == 7 and row.endswith(r"\\") for row in body)
    assert r"4.50 $\pm$ 6.35" in tex  # salun UA: 4.5 ± t(0.975, 1) · 0.5


def test_long_csv_round_trips_into_the_same_summary(exported) -> None:
    path = exported.exports["results_long.csv"]
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == sum(len(c.metrics) for c in two_by_two() if c.status == "ok")
    again = summarize(read_results_long(path))
    assert summary_csv_text(again) == exported.summary_csv.read_text()


def test_summary_json(exported) -> None:
    data = json.loads(exported.exports["summary.json"].read_text())
    assert data["tied_avg_gap"] == ["salun", "ft"] and data["best_avg_gap"] == []
    assert data["methods"]["ft"]["metrics"]["UA"]["ci_low"] == pytest.approx(4 - 12.7062047 * 2)
    assert data["paired"][0]["method"] == "salun"


def test_terminal_table_has_a_row_per_method_and_the_main_columns() -> None:
    buffer = io.StringIO()
    print_main_table(summarize(two_by_two()), file=buffer, width=160)
    text = buffer.getvalue()
    header = next(line for line in text.splitlines() if "Method" in line)
    for label in ("UA", "RA", "TA", "MIA", "Avg Gap", "RTE (s)"):
        assert label in header
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["golden", "ft", "salun"]
    assert "1.75 ± 15.88" in text and "tie between salun, ft" in text


def _tiny_bench(out: Path, cache: Path, *extra: str) -> None:
    code = main(["bench", "--dataset", "digits", "--model", "mlp:hidden=16,depth=1",
                 "--methods", "ft", "--seeds", "2", "--recipe", "epochs=1", "--out", str(out),
                 "--cache-dir", str(cache), "--threads", "1", "--no-progress", "--no-report",
                 "--metrics", "primary", *extra])
    assert code == 0


@pytest.mark.slow
def test_report_compares_runs_and_refuses_different_goldens(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache"
    _tiny_bench(tmp_path / "a", cache)
    _tiny_bench(tmp_path / "b", cache, "--hp", "ft.lr=0.001")
    _tiny_bench(tmp_path / "c", cache, "--forget", "random:0.2")
    out = tmp_path / "cmp"
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out),
                 "--labels", "default,slow-lr"]) == 0
    text = (out / "comparison.md").read_text()
    assert "| Method | default | slow-lr |" in text
    assert "## Avg Gap" in text and "| ft |" in text
    with (out / "comparison.csv").open(newline="") as file:
        runs = {row["run"] for row in csv.DictReader(file)}
    assert runs == {"default", "slow-lr"}
    assert (out / "avg_gap_vs_rte.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(out)]) == 2
    assert "another golden model" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(out),
                 "--allow-different-golden"]) == 0

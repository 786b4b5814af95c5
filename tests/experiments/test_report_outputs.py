"""The report writer: summary.csv numbers, row order, best marker, plots and the HTML page."""

from __future__ import annotations

import base64
import csv
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.report import PRIMARY_METRICS, summarize, write_report
from ftunlearn.experiments.store import RESULTS_FILENAME, CellResult, ResultStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_ONLY = ("png",)  # SVG and PDF are checked in test_report_exports; PNG is what these read


def make_cell(method: str, seed: int, status: str = "ok", **metrics: float) -> CellResult:
    return CellResult(
        cell_key=f"{method}-{seed}",
        method=method,
        seed=seed,
        status=status,
        error="RuntimeError: loss became NaN at epoch 2" if status == "failed" else None,
        config={"dataset": "digits", "model": "mlp", "forget": "random:0.1", "seed": seed},
        hyperparameters={} if method == "golden" else {"lr": 0.01, "epochs": 3},
        metrics=metrics,
        unlearn_seconds=1.0,
        eval_seconds=0.5,
        started_at=f"2025-01-01T00:0{seed}:00+00:00",
        finished_at=f"2025-01-01T00:0{seed}:30+00:00",
        versions={"python": "3.11.7", "torch": "2.13.0"},
        git_commit="abc123",
    )


def two_by_two() -> list[CellResult]:
    """Golden plus ft and salun on seeds 0 and 1; golden is written last on purpose."""
    return [
        make_cell("ft", 0, UA=2.0, RA=99.0, TA=90.0, MIA=4.0, avg_gap=5.0,
                  forget_loss_gap=0.5, rte_seconds=2.0, JS_forget=0.25),
        make_cell("salun", 0, UA=4.0, RA=98.0, TA=91.0, MIA=10.0, avg_gap=0.5,
                  forget_loss_gap=0.1, rte_seconds=3.0, JS_forget=0.125),
        make_cell("ft", 1, UA=6.0, RA=97.0, TA=92.0, MIA=8.0, avg_gap=1.0,
                  forget_loss_gap=0.25, rte_seconds=4.0, JS_forget=0.75),
        make_cell("salun", 1, UA=5.0, RA=96.0, TA=89.0, MIA=12.0, avg_gap=3.0,
                  forget_loss_gap=0.3, rte_seconds=5.0),
        make_cell("golden", 0, UA=5.0, RA=100.0, TA=93.0, MIA=11.0, avg_gap=0.0,
                  forget_loss_gap=0.0, rte_seconds=40.0),
        make_cell("golden", 1, UA=7.0, RA=100.0, TA=95.0, MIA=13.0, avg_gap=0.0,
                  forget_loss_gap=0.0, rte_seconds=44.0),
        make_cell("ga", 0, status="failed"),
    ]  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    run_dir = tmp_path_factory.mktemp("run")
    with ResultStore(run_dir / RESULTS_FILENAME) as store:
        for cell in two_by_two():
            store.write(cell)
    return run_dir, write_report(run_dir, figure_formats=PNG_ONLY)


def test_summary_csv_holds_hand_computed_means_and_stds(stored_run) -> None:
    run_dir, paths = stored_run
    assert paths.summary_csv == run_dir / "summary.csv"
    rows = read_csv(paths.summary_csv)
    with paths.summary_csv.open() as file:
        header = file.readline().strip().split(",")
    expected_header = ["method", "n_seeds"]
    for name in (*PRIMARY_METRICS, "JS_forget"):
        expected_header += [f"{name}_mean", f"{name}_std", f"{name}_ci_low", f"{name}_ci_high"]
    assert header == [*expected_header, "best_avg_gap", "tied_avg_gap"]
    ft = next(r for r in rows if r["method"] == "ft")
    # ft: UA 2, 6 -> mean 4, sample std |6 - 2| / sqrt 2; avg_gap 5, 1 -> mean 3, std 4 / sqrt 2.
    assert ft["n_seeds"] == "2"
    assert float(ft["UA_mean"]) == pytest.approx(4.0)
    assert float(ft["UA_std"]) == pytest.approx(4 / math.sqrt(2))
    # 95 % t-interval with 1 degree of freedom: 4 ± t(0.975, 1) · (4 / √2) / √2 = 4 ± 12.706 · 2
    assert float(ft["UA_ci_low"]) == pytest.approx(4.0 - 12.7062047 * 2.0)
    assert float(ft["UA_ci_high"]) == pytest.approx(4.0 + 12.7062047 * 2.0)
    assert float(ft["TA_mean"]) == pytest.approx(91.0)
    assert float(ft["TA_std"]) == pytest.approx(2 / math.sqrt(2))
    assert float(ft["avg_gap_mean"]) == pytest.approx(3.0)
    assert float(ft["avg_gap_std"]) == pytest.approx(4 / math.sqrt(2))
    assert float(ft["forget_loss_gap_mean"]) == pytest.approx(0.375)
    assert float(ft["rte_seconds_mean"]) == pytest.approx(3.0)
    assert float(ft["JS_forget_mean"]) == pytest.approx(0.5)
    salun = next(r for r in rows if r["method"] == "salun")
    # salun: avg_gap 0.5, 3 -> mean 1.75, std 2.5 / sqrt 2; JS_forget only on seed 0.
    assert float(salun["avg_gap_mean"]) == pytest.approx(1.75)
    assert float(salun["avg_gap_std"]) == pytest.approx(2.5 / math.sqrt(2))
    assert float(salun["MIA_mean"]) == pytest.approx(11.0)
    assert float(salun["JS_forget_mean"]) == pytest.approx(0.125)
    assert float(salun["JS_forget_std"]) == 0.0
    golden = rows[0]
    assert float(golden["rte_seconds_mean"]) == pytest.approx(42.0)
    assert golden["JS_forget_mean"] == golden["JS_forget_std"] == ""


def test_golden_row_comes_first_then_first_seen_order(stored_run) -> None:
    _, paths = stored_run
    assert [r["method"] for r in read_csv(paths.summary_csv)] == ["golden", "ft", "salun"]
    table = [line for line in paths.report_md.read_text().splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in table[2:5]] == ["| golden", "| ft", "| salun"]


def test_overlapping_intervals_give_a_tie_not_a_best_mark(stored_run) -> None:
    # salun has the lowest mean Avg Gap (1.75 against ft's 3.0), but with two seeds their 95 %
    # intervals (1.75 ± 15.9 and 3 ± 25.4) overlap: a tie, no ★.
    _, paths = stored_run
    rows = {r["method"]: (r["best_avg_gap"], r["tied_avg_gap"])
            for r in read_csv(paths.summary_csv)}
    assert rows == {"golden": ("0", "0"), "ft": ("0", "1"), "salun": ("0", "1")}
    text = paths.report_md.read_text()
    assert "★" not in "".join(line for line in text.splitlines() if line.startswith("| "))
    assert "tie between salun, ft" in text
    assert "| salun | 2 | 4.50 ± 6.35 |" in text  # UA 4, 5: 4.5 ± 12.706 · 0.5
    html = paths.report_html.read_text()
    assert '<td class="best">' not in html and "tie between salun, ft" in html


def test_report_md_lists_configuration_and_failed_cells(stored_run) -> None:
    _, paths = stored_run
    text = paths.report_md.read_text()
    assert "- **dataset**: digits" in text
    assert "- **varies across cells**: seed" in text
    assert "- **git commit**: abc123" in text
    assert "ga, seed 0 (cell ga-0)" in text
    assert "RuntimeError: loss became NaN at epoch 2" in text
    assert "| ft | lr=0.01, epochs=3 |" in text
    assert "(n=1)" in text  # salun's JS_forget exists on one of two seeds


def test_plots_exist_and_are_valid_pngs(stored_run) -> None:
    run_dir, paths = stored_run
    names = ["ua_vs_ta.png", "avg_gap.png", "avg_gap_vs_rte.png", "forget_loss_gap.png"]
    assert [p.name for p in paths.plots] == names
    for path in paths.plots:
        assert path.parent == run_dir
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def test_html_is_self_contained(stored_run) -> None:
    _, paths = stored_run
    html = paths.report_html.read_text()
    assert 'src="http' not in html and "<link" not in html and "<script" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 4
    for source in sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix) :]).startswith(PNG_SIGNATURE)
    assert "RuntimeError: loss became NaN at epoch 2" in html


def test_results_argument_matches_the_store(stored_run, tmp_path: Path) -> None:
    _, from_store = stored_run
    from_list = write_report(tmp_path, two_by_two(), figure_formats=PNG_ONLY)
    assert from_list.summary_csv.read_text() == from_store.summary_csv.read_text()
    assert from_list.report_md.read_text() == from_store.report_md.read_text()


def test_single_seed_has_zero_std_and_missing_metrics_are_dashes(tmp_path: Path) -> None:
    (tmp_path / "avg_gap_vs_rte.png").write_bytes(b"stale")
    results = [
        make_cell("golden", 0, UA=5.0, RA=100.0, TA=93.0, MIA=11.0, avg_gap=0.0),
        make_cell("ft", 0, UA=1.0, RA=99.0, TA=92.0, MIA=math.nan, avg_gap=2.5),
    ]
    paths = write_report(tmp_path, results, figure_formats=PNG_ONLY)
    ft = read_csv(paths.summary_csv)[1]
    assert ft["n_seeds"] == "1"
    assert ft["UA_std"] == "0.0" and ft["avg_gap_std"] == "0.0"
    assert ft["UA_ci_low"] == ft["UA_ci_high"] == ""  # no interval from one seed
    assert ft["MIA_mean"] == ft["MIA_std"] == ft["rte_seconds_mean"] == ""
    ft_line = next(line for line in paths.report_md.read_text().splitlines() if "| ft |" in line)
    # a lone candidate has no rival to beat: no ★, no bold
    assert ft_line.split(" | ")[5:] == ["–", "2.50", "–", "– |"]
    assert paths.avg_gap_vs_rte is None and paths.forget_loss_gap is None
    assert not (tmp_path / "avg_gap_vs_rte.png").exists()  # stale plot removed
    assert paths.ua_vs_ta is not None and paths.avg_gap is not None
    assert paths.report_html.read_text().count("data:image/png;base64,") == 2


def test_plots_need_only_the_metrics_they_draw(tmp_path: Path) -> None:
    paths = write_report(tmp_path, [make_cell("ft", 0, forget_loss_gap=0.2)],
                         figure_formats=PNG_ONLY)
    assert [p.name for p in paths.plots] == ["forget_loss_gap.png"]
    assert "## Plots" in paths.report_md.read_text()


def test_empty_or_missing_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UnlearnError, match="no results database"):
        write_report(tmp_path / "missing")
    ResultStore(tmp_path / RESULTS_FILENAME).close()
    with pytest.raises(UnlearnError, match=r"no finished cells in .*results\.sqlite.*bench"):
        write_report(tmp_path)
    with ResultStore(tmp_path / RESULTS_FILENAME) as store:
        store.write(make_cell("ft", 0, status="failed"))
    with pytest.raises(UnlearnError, match="1 failed cells; first error: RuntimeError"):
        write_report(tmp_path)
    assert not (tmp_path / "summary.csv").exists()


def test_two_finished_cells_for_one_method_and_seed_are_refused() -> None:
    first = make_cell("ft", 0, UA=1.0)
    second = CellResult(**{**first.__dict__, "cell_key": "ft-0-other-config"})
    with pytest.raises(UnlearnError, match="several finished cells for method 'ft' and seed 0"):
        summarize([first, second])


def test_summary_std_is_the_sample_std() -> None:
    values = [3.0, 4.5, 10.0]
    cells = [make_cell("ft", s, UA=v) for s, v in enumerate(values)]
    stat = summarize(cells).methods[0].stats["UA"]
    assert stat.mean == pytest.approx(np.mean(values))
    assert stat.std == pytest.approx(np.std(values, ddof=1))
    assert stat.n == 3


def test_hyperparameters_that_differ_between_seeds_are_flagged(tmp_path: Path) -> None:
    cells = [
        replace(make_cell("ft", s, UA=1.0), hyperparameters={"lr": 0.01, "init": f"seed{s}"})
        for s in (0, 1)
    ]
    paths = write_report(tmp_path, cells, figure_formats=PNG_ONLY)
    assert "| ft | lr=0.01, init=(varies by seed) |" in paths.report_md.read_text()


def test_retraining_from_scratch_is_not_a_candidate_for_best() -> None:
    cells = [make_cell(m, s, avg_gap=gap + 0.1 * s) for s in (0, 1, 2)
             for m, gap in (("golden", 0.0), ("retrain", 0.0), ("ft", 2.0), ("rbm", 0.5))]
    summary = summarize(cells)
    # rbm's 0.6 ± 0.25 clears ft's 2.1 ± 0.25; retrain's lower 0.1 does not count
    assert summary.best == ("rbm",) and summary.tied == ()



def test_markdown_report_escapes_raw_html_from_user_strings(tmp_path: Path) -> None:
    cells = [replace(make_cell("ft", s, UA=1.0), hyperparameters={"note": "<script>x</script>"})
             for s in (0, 1)]
    text = write_report(tmp_path, cells, figure_formats=PNG_ONLY).report_md.read_text()
    assert "<script>" not in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text

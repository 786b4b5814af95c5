"""`ftunlearn report A B --out C`: comparison.md, comparison.html and comparison.csv from two
stored runs, with user text (labels, method and folder names) escaped in both pages."""

from __future__ import annotations

import csv
from pathlib import Path

from test_report_outputs import make_cell, two_by_two

from ftunlearn.cli import main
from ftunlearn.experiments.compare import compare_runs
from ftunlearn.experiments.runner import RUN_FILENAME
from ftunlearn.experiments.store import RESULTS_FILENAME, CellResult, ResultStore

LABEL = "<b>x</b>|y"
METHOD = "<i>m</i>"


def _stored_run(run_dir: Path, cells: list[CellResult]) -> Path:
    run_dir.mkdir()
    with ResultStore(run_dir / RESULTS_FILENAME) as store:
        for cell in cells:
            store.write(cell)
    (run_dir / RUN_FILENAME).write_text("{}")  # no plan recorded: every stored cell counts
    return run_dir


def _two_runs(tmp_path: Path) -> list[Path]:
    """The same two-by-two run twice, the second with one more method named like HTML."""
    extra = make_cell(METHOD, 0, UA=1.0, avg_gap=2.0, rte_seconds=1.0)
    return [_stored_run(tmp_path / "a", two_by_two()),
            _stored_run(tmp_path / "b", [*two_by_two(), extra])]


def test_comparison_writes_markdown_html_and_csv_with_user_text_escaped(tmp_path: Path) -> None:
    paths = compare_runs(_two_runs(tmp_path), tmp_path / "cmp", labels=[LABEL, "plain"])
    assert paths.html == tmp_path / "cmp" / "comparison.html"
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "<b>" not in markdown and "<i>" not in markdown
    lines = markdown.splitlines()
    assert lines[:3] == ["# ftunlearn run comparison", "",
                         "- **&lt;b&gt;x&lt;/b&gt;|y**: digits / mlp / random:0.1"]
    at = lines.index("## Avg Gap")
    assert lines[at:at + 8] == [
        "## Avg Gap",
        "",
        "| Method | &lt;b&gt;x&lt;/b&gt;\\|y | plain |",
        "| --- | --- | --- |",
        "| golden | 0.00 ± 0.00 | 0.00 ± 0.00 |",
        "| ft | 3.00 ± 25.41 | 3.00 ± 25.41 |",
        "| salun | 1.75 ± 15.88 | 1.75 ± 15.88 |",
        "| &lt;i&gt;m&lt;/i&gt; | – | 2.00 |",
    ]
    assert lines[-1] == "![Avg Gap against RTE](avg_gap_vs_rte.png)"

    page = paths.html.read_text(encoding="utf-8")
    assert "<b>x" not in page and "<i>m" not in page
    assert "<title>ftunlearn run comparison</title>" in page
    assert "<dt>&lt;b&gt;x&lt;/b&gt;|y</dt><dd>digits / mlp / random:0.1</dd>" in page
    avg_gap = page[page.index("<h2>Avg Gap</h2>"):page.index("<h2>Forget-loss gap</h2>")]
    nbsp = "\u00a0±\u00a0"  # the stat filter keeps "mean ± h" on one line
    assert "<thead><tr><th>Method</th><th>&lt;b&gt;x&lt;/b&gt;|y</th><th>plain</th></tr></thead>" \
        in avg_gap
    assert f'<tr class="golden"><td>golden</td><td>0.00{nbsp}0.00</td><td>0.00{nbsp}0.00</td>' \
        "</tr>" in avg_gap
    assert "<tr><td>&lt;i&gt;m&lt;/i&gt;</td><td>–</td><td>2.00</td></tr>" in avg_gap
    assert '<figure><img alt="Avg Gap against RTE" src="data:image/png;base64,' in page

    with paths.csv.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["run"] for row in rows} == {LABEL, "plain"}  # data, not markup: kept verbatim
    assert [r["mean"] for r in rows if r["method"] == METHOD and r["metric"] == "avg_gap"] \
        == ["2.0"]


def test_folder_names_as_labels_are_escaped_and_an_undrawn_figure_is_not_linked(
        tmp_path: Path) -> None:
    # without rte_seconds there is no Avg Gap against RTE figure to link or inline
    cells = [make_cell(c.method, c.seed, **{k: v for k, v in c.metrics.items()
                                            if k != "rte_seconds"})
             for c in two_by_two() if c.status == "ok"]
    runs = [_stored_run(tmp_path / "r&1", cells), _stored_run(tmp_path / "r<2>", cells)]
    out = tmp_path / "cmp"
    assert main(["report", *map(str, runs), "--out", str(out)]) == 0
    markdown = (out / "comparison.md").read_text(encoding="utf-8")
    assert "| Method | r&amp;1 | r&lt;2&gt; |" in markdown.splitlines()
    assert "avg_gap_vs_rte" not in markdown
    page = (out / "comparison.html").read_text(encoding="utf-8")
    assert "<th>r&amp;1</th><th>r&lt;2&gt;</th>" in page
    assert "<img" not in page
    assert not (out / "avg_gap_vs_rte.png").exists()

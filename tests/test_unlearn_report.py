"""``unlearn``'s report.md and report.html: the bench report's layout, style, metric names and
"attack at chance" rule; a golden column; the files' hashes. (That every page's table fits a
1400 px window is checked in a browser by experiments/test_report_browser.py.)"""

from __future__ import annotations

import math
import re

import pytest

from ftunlearn.experiments.html import STYLE
from ftunlearn.experiments.report import CHANCE_ATTACK_ACC
from ftunlearn.experiments.unlearn_report import write_unlearn_reports

OUTPUT_SHA = "ab" * 32
WEIGHTS_SHA = "cd" * 32


def metrics(ua: float, mia: float, attack: float, **more: float) -> dict[str, float]:
    return {"UA": ua, "RA": 99.0, "TA": 90.0, "MIA": mia, "MIA_attack_acc": attack,
            "forget_CE": 1.5, "JS_forget": math.nan, **more}


def manifest(golden: bool = True, original_attack: float = 51.8) -> dict:
    return {
        "command": ["ftunlearn", "unlearn", "--model", "mynet:build:width=32"],
        "model": "mynet:build:width=32", "dataset": "digits", "forget": "class:3",
        "architecture": {"model": "mynet:build:width=32", "factory": "mynet:build",
                         "options": {"width": 32}, "input_shape": [1, 8, 8], "num_classes": 10},
        "weights": {"path": "original.pt", "sha256": WEIGHTS_SHA},
        **({"golden_weights": {"path": "golden.pt", "sha256": "ef" * 32}} if golden else {}),
        "forget_indices": {"count": 145, "sha256": "12" * 32},
        "method": "rl", "hyperparameters": {"epochs": 3, "lr": 0.01}, "recipe": None,
        "golden": "golden.pt" if golden else None, "seed": 0, "unlearn_seconds": 1.25,
        "total_seconds": 4.5, "versions": {"ftunlearn": "0.1.0", "torch": "2.13.0"},
        "original_metrics": metrics(0.0, 40.0, original_attack, avg_gap=30.0),
        "metrics": metrics(100.0, 2.0, 70.0, avg_gap=1.0, forget_loss_gap=0.5,
                           rte_seconds=1.25),
        "golden_metrics": metrics(100.0, 0.0, 60.0) if golden else None,
        "output_sha256": OUTPUT_SHA,
    }


def cells_of(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table_id}"[^>]*>(.*?)</table>', html, re.S).group(1)
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


@pytest.fixture
def written(tmp_path) -> tuple[str, str]:
    markdown, page = write_unlearn_reports(tmp_path, manifest())
    return markdown.read_text(), page.read_text()


def test_the_page_has_the_bench_reports_style_and_human_metric_names(written) -> None:
    _, html = written
    assert STYLE.strip() in html and '<div class="scroll">' in html
    rows = cells_of(html, "results")
    assert rows[0] == ["Metric", "Original", "Unlearned", "Golden"]
    names = [row[0] for row in rows[1:]]
    # registry labels, not keys; the bench report's main metrics first
    assert names[:6] == ["UA", "RA", "TA", "MIA", "Avg Gap", "Avg Gap (no MIA)"]
    assert "MIA attack acc." in names and "Forget CE" in names
    assert not {"MIA_attack_acc", "forget_CE", "avg_gap", "JS_forget"} & set(names)
    by_name = {row[0]: row[1:] for row in rows[1:]}
    assert by_name["UA"] == ["0.00", "100.00", "100.00"]
    assert by_name["Avg Gap"] == ["30.00", "1.00", "–"]
    assert by_name["JS (D_f)"] == ["–", "–", "–"]  # NaN is missing, as in the bench report


def test_an_attack_at_chance_is_flagged_and_avg_gap_shown_without_mia(written) -> None:
    markdown, html = written
    by_name = {row[0]: row[1:] for row in cells_of(html, "results")[1:]}
    # original's attack 51.8 % < 55 %: flagged; unlearned (70 %) and golden (60 %) are not
    assert by_name["MIA"] == ["40.00 (attack at chance)", "2.00", "0.00"]
    # without MIA: mean |Δ| of UA, RA, TA against the golden's 100, 99, 90
    assert by_name["Avg Gap (no MIA)"] == [f"{100 / 3:.2f}", "0.00", "–"]
    assert f"below {CHANCE_ATTACK_ACC:g} %" in html and "original 51.8 %" in html
    assert "| MIA | 40.00 (attack at chance) | 2.00 | 0.00 |" in markdown


def test_no_attack_at_chance_no_flag_and_no_golden_no_column(tmp_path) -> None:
    _, page = write_unlearn_reports(tmp_path, manifest(golden=False, original_attack=80.0))
    html = page.read_text()
    rows = cells_of(html, "results")
    assert rows[0] == ["Metric", "Original", "Unlearned"]
    assert "attack at chance" not in html and "Avg Gap (no MIA)" not in html


def test_the_files_table_names_every_hash(written) -> None:
    markdown, html = written
    files = {row[0]: row[1:] for row in cells_of(html, "files")[1:]}
    assert files["model.safetensors"] == ["output: the unlearned model", OUTPUT_SHA]
    assert files["original.pt"] == ["input: --weights", WEIGHTS_SHA]
    assert files["golden.pt"] == ["input: --golden FILE", "ef" * 32]
    assert files["145 forget indices"][1] == "12" * 32
    assert f"model.safetensors sha256</dt><dd>{OUTPUT_SHA}" in html
    assert f"| model.safetensors | output: the unlearned model | {OUTPUT_SHA} |" in markdown


def test_user_text_is_escaped(tmp_path) -> None:
    hostile = {**manifest(), "model": "<script>alert(1)</script>"}
    _, page = write_unlearn_reports(tmp_path, hostile)
    html = page.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_the_audit_page_is_rendered_from_the_same_templates() -> None:
    from ftunlearn.experiments.html import render_audit_page

    page = render_audit_page("intro <b>", "verdict", "ranking", ("Method", "F"),
                             [("golden", "0.01 ± 0.02")], b"\x89PNG")
    assert STYLE.strip() in page and "<h1>Per-example audit</h1>" in page
    assert "intro &lt;b&gt;" in page and "data:image/png;base64,iVBORw==" in page
    assert cells_of(page, "audit") == [["Method", "F"], ["golden", "0.01\u00a0±\u00a00.02"]]

"""The HTML reports in a real browser: headless Chromium (Debian's package) driven by
Playwright, launched once for the module.

Checks that report.html loads without console errors, that every image decodes with a non-zero
size, that the results table has one row per method, and writes a full-page screenshot next to
the report; and that the results tables of the bench and ``unlearn`` reports fit a 1400 px
window. Skipped, with the reason, only where no browser is installed (`make browser`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_report_outputs import PNG_SIGNATURE, two_by_two

from browser_helpers import chromium, new_page
from ftunlearn.experiments.report import summarize, write_report
from ftunlearn.experiments.store import CellResult
from ftunlearn.experiments.unlearn_report import write_unlearn_reports
from test_unlearn_report import manifest

SCREENSHOT = "report-screenshot.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


def open_report(browser, html: Path, screenshot: Path) -> dict[str, object]:
    """Load ``html`` in headless Chromium; return console errors, image sizes, result rows."""
    errors: list[str] = []
    with new_page(browser, 1280, 900) as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(html.resolve().as_uri(), wait_until="load")
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        rows = page.eval_on_selector_all("#results tbody tr",
                                         "rows => rows.map(r => r.cells[0].textContent)")
        page.screenshot(path=str(screenshot), full_page=True)
    return {"errors": errors, "images": images, "rows": rows}


def test_report_renders_in_chromium(browser, tmp_path: Path) -> None:
    cells = two_by_two()
    paths = write_report(tmp_path, cells, figure_formats=("png",))
    seen = open_report(browser, paths.report_html, tmp_path / SCREENSHOT)
    assert seen["errors"] == []
    assert len(seen["images"]) == 4
    assert all(done and width > 0 and height > 0 for done, width, height in seen["images"])
    assert seen["rows"] == [m.method for m in summarize(cells).methods]
    shot = (tmp_path / SCREENSHOT).read_bytes()
    assert shot.startswith(PNG_SIGNATURE) and len(shot) > 10_000


def widest_tables(browser, pages: list[Path]) -> list[tuple[int, int]]:
    """(scrollWidth, clientWidth) of each page's results table box at a 1400x900 window."""
    sizes = []
    with new_page(browser, 1400, 900) as page:
        for path in pages:
            page.goto(path.resolve().as_uri(), wait_until="load")
            sizes.append(tuple(page.eval_on_selector(
                "#results", "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")))
    return sizes


def bench_cell(method: str, seed: int, **metrics: float) -> CellResult:
    return CellResult(
        cell_key=f"{method}-{seed}", method=method, seed=seed, status="ok", error=None,
        config={"dataset": "digits", "model": "mlp", "forget": "random:0.1", "seed": seed},
        hyperparameters={}, metrics=metrics, unlearn_seconds=1.0, eval_seconds=0.5,
        started_at="2025-01-01T00:00:00+00:00", finished_at="2025-01-01T00:01:00+00:00",
        versions={"python": "3.11.7"}, git_commit="abc123")


@pytest.mark.usefixtures("no_report_plots")  # the plots sit outside the tables
def test_results_tables_fit_a_1400_px_window(browser, tmp_path) -> None:
    methods = ["golden", "original", "ft", "dr-ft", "rbm", "salun", "ga", "neggrad+", "rl",
               "l1-sparse", "scrub", "iu", "ssd"]
    cells = [bench_cell(m, s, UA=5.123, RA=95.456, TA=91.789, MIA=14.33 + s, avg_gap=3.04 + s,
                       forget_loss_gap=0.53, rte_seconds=62.04 + 10 * s, MIA_attack_acc=51.8)
             for m in methods for s in range(3)]  # every MIA flagged: the widest column
    bench = write_report(tmp_path / "bench", cells, figure_formats=("png",)).report_html
    _, unlearn = write_unlearn_reports(tmp_path, manifest())
    for scroll_width, client_width in widest_tables(browser, [bench, unlearn]):
        assert scroll_width <= client_width  # nothing hidden behind a scroll bar

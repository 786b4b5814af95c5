"""report.html in a real browser: headless Chromium (Debian's package) driven by Playwright.

Checks that the page loads without console errors, that every image decodes with a non-zero
size, that the results table has one row per method, and writes a full-page screenshot next to
the report. Skipped, with the reason, only where no browser is installed (`make browser`).
"""

from __future__ import annotations

from pathlib import Path

from test_report_outputs import PNG_SIGNATURE, two_by_two

from browser_helpers import chromium_page
from ftunlearn.experiments.report import summarize, write_report

SCREENSHOT = "report-screenshot.png"


def open_report(html: Path, screenshot: Path) -> dict[str, object]:
    """Load ``html`` in headless Chromium; return console errors, image sizes, result rows."""
    errors: list[str] = []
    with chromium_page(1280, 900) as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(html.resolve().as_uri(), wait_until="load")
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        rows = page.eval_on_selector_all("#results tbody tr",
                                         "rows => rows.map(r => r.cells[0].textContent)")
        page.screenshot(path=str(screenshot), full_page=True)
    return {"errors": errors, "images": images, "rows": rows}


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    cells = two_by_two()
    paths = write_report(tmp_path, cells, figure_formats=("png",))
    seen = open_report(paths.report_html, tmp_path / SCREENSHOT)
    assert seen["errors"] == []
    assert len(seen["images"]) == 4
    assert all(done and width > 0 and height > 0 for done, width, height in seen["images"])
    assert seen["rows"] == [m.method for m in summarize(cells).methods]
    shot = (tmp_path / SCREENSHOT).read_bytes()
    assert shot.startswith(PNG_SIGNATURE) and len(shot) > 10_000

"""The report as one self-contained HTML page: inline CSS, plots as base64 data URIs."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING

from ftunlearn.experiments.store import GOLDEN_METHOD

if TYPE_CHECKING:
    from ftunlearn.experiments.report import ReportContent, Table

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
td.best { font-weight: bold; background: #e6f4e6; }
tr.golden td { background: #fdf0f0; }
figure { margin: 1.5em 0; }
img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
"""


def render_html(content: ReportContent, images: Mapping[str, bytes]) -> str:
    """The page; ``images`` maps each plot's file name to its PNG bytes."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(content.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(content.title)}</h1>",
        f"<p>{escape(content.overview)}</p>",
        "<h2>Results</h2>",
        _table(content.results),
    ]
    if content.other_metrics is not None:
        parts += ["<h2>Other metrics</h2>", _table(content.other_metrics)]
    if content.plots:
        parts.append("<h2>Plots</h2>")
        for title, filename in content.plots:
            data = base64.b64encode(images[filename]).decode("ascii")
            parts.append(
                f'<figure><img alt="{escape(title)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{escape(title)}</figcaption></figure>"
            )
    parts += ["<h2>Hyperparameters</h2>", _table(content.hyperparameters)]
    parts += ["<h2>Configuration</h2>", "<ul>"]
    parts += [
        f"<li><strong>{escape(key)}</strong>: {escape(value)}</li>"
        for key, value in content.configuration
    ]
    parts += ["</ul>", "<h2>Failed cells</h2>"]
    if not content.failed:
        parts.append("<p>None.</p>")
    for label, error in content.failed:
        parts.append(f"<p>{escape(label)}:</p><pre>{escape(error)}</pre>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _table(table: Table) -> str:
    rows = ["<table>", "<thead><tr>"]
    rows += [f"<th>{escape(text)}</th>" for text in table.header]
    rows += ["</tr></thead>", "<tbody>"]
    for i, row in enumerate(table.rows):
        golden = ' class="golden"' if row and row[0] == GOLDEN_METHOD else ""
        cells = []
        for j, text in enumerate(row):
            if (i, j) in table.marked:
                cells.append(f'<td class="best">{escape(text)} ★</td>')
            else:
                cells.append(f"<td>{escape(text)}</td>")
        rows.append(f"<tr{golden}>{''.join(cells)}</tr>")
    rows += ["</tbody>", "</table>"]
    return "\n".join(rows)

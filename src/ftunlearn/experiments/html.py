"""The report as one self-contained HTML page: inline CSS, plots as base64 data URIs."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING

from ftunlearn.experiments.pseudo import PSEUDO_METHODS

if TYPE_CHECKING:
    from ftunlearn.experiments.report import ReportContent, Table

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; white-space: nowrap; }
.scroll { overflow-x: auto; }
dl.identity { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dl.identity dt { font-weight: bold; }
dl.identity dd { margin: 0; }
p.note { background: #fff8e1; padding: 0.4em 0.7em; border-left: 4px solid #f0b400; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
td.best { font-weight: bold; background: #e6f4e6; }
tr.golden td { background: #fdf0f0; }
tr.original td { background: #f1f1f1; }
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
    ]
    if content.identity:
        parts += ['<h2>Run</h2>', '<dl class="identity">']
        parts += [f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in content.identity]
        parts.append("</dl>")
    parts += [f"<p>{escape(content.overview)}</p>", "<h2>Results</h2>",
              _table(content.results, table_id="results")]
    parts += [f'<p class="note">{escape(note)}</p>' for note in content.notes]
    if content.paired is not None:
        parts += ["<h2>Paired comparison with plain fine-tuning</h2>", _table(content.paired)]
    if content.audit is not None:
        audit = content.audit
        parts += ["<h2>Per-example audit</h2>", f"<p>{escape(audit.intro)}</p>",
                  f'<p class="note"><strong>{escape(audit.verdict)}</strong></p>',
                  f"<p>{escape(audit.ranking)}</p>", _table(audit.table)]
        if audit.figure is not None and audit.figure in images:
            data = base64.b64encode(images[audit.figure]).decode("ascii")
            parts.append(f'<figure><img alt="per-example epsilon" src="data:image/png;base64,'
                         f'{data}"><figcaption>Per-example ε</figcaption></figure>')
    if content.other_metrics is not None:
        parts += ["<h2>Other metrics</h2>", _table(content.other_metrics)]
    if content.definitions:
        parts += ["<h2>Definitions</h2>", "<dl>"]
        parts += [f"<dt><strong>{escape(k)}</strong></dt><dd>{escape(v)}</dd>"
                  for k, v in content.definitions]
        parts.append("</dl>")
    if content.protocol:
        parts += ["<h2>Protocol</h2>", "<ul>"]
        parts += [f"<li><strong>{escape(k)}</strong>: {escape(v)}</li>"
                  for k, v in content.protocol]
        parts.append("</ul>")
    if content.plots:
        parts.append("<h2>Plots</h2>")
        for title, filename in content.plots:
            data = base64.b64encode(images[filename]).decode("ascii")
            parts.append(
                f'<figure><img alt="{escape(title)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{escape(title)}</figcaption></figure>"
            )
    if content.downloads:
        links = " · ".join(f'<a href="{escape(n)}">{escape(n)}</a>' for n in content.downloads)
        parts += ["<h2>Files</h2>", f"<p>{links}</p>"]
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


def _table(table: Table, table_id: str | None = None) -> str:
    identifier = f' id="{escape(table_id)}"' if table_id else ""
    rows = ['<div class="scroll">', f"<table{identifier}>", "<thead><tr>"]
    rows += [f"<th>{escape(text)}</th>" for text in table.header]
    rows += ["</tr></thead>", "<tbody>"]
    for i, row in enumerate(table.rows):
        kind = row[0] if row and row[0] in PSEUDO_METHODS else None
        golden = f' class="{kind}"' if kind else ""
        cells = []
        for j, text in enumerate(row):
            if (i, j) in table.marked:
                cells.append(f'<td class="best">{escape(text)} ★</td>')
            else:
                cells.append(f"<td>{escape(text)}</td>")
        rows.append(f"<tr{golden}>{''.join(cells)}</tr>")
    rows += ["</tbody>", "</table>", "</div>"]
    return "\n".join(rows)

"""Self-contained HTML pages (inline CSS, plots as base64 data URIs), rendered with jinja2 from
the templates in ``templates/``: ``page.html.j2`` (the layout and style every page shares),
``macros.html.j2`` (tables, figures, notes), one template per page."""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import jinja2

from ftunlearn.experiments.pseudo import PSEUDO_METHODS
from ftunlearn.experiments.report_model import ReportContent, Table

STYLE = resources.files(__package__).joinpath("templates", "style.css").read_text()
"""The CSS every page inlines (templates/style.css)."""


@functools.cache
def environment() -> jinja2.Environment:
    """The one template environment: autoescaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ftunlearn.experiments", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters["base64"] = lambda data: base64.b64encode(data).decode("ascii")
    # a "mean ± h" entry never breaks inside; a flag after it may
    env.filters["stat"] = lambda text: str(text).replace(" ± ", "\u00a0±\u00a0")
    return env


def render_page(template: str, **context: Any) -> str:
    """The page ``template`` renders with ``context``."""
    return environment().get_template(template).render(**context)


def table_view(table: Table) -> dict[str, Any]:
    """What the ``table`` macro shows: the header and, per row, its kind (the golden and
    original rows are shaded) and its cells with their best marks."""
    rows = []
    for i, row in enumerate(table.rows):
        kind = row[0] if row and row[0] in PSEUDO_METHODS else None
        cells = [{"text": text, "best": (i, j) in table.marked} for j, text in enumerate(row)]
        rows.append({"kind": kind, "cells": cells})
    return {"header": list(table.header), "rows": rows}


def render_audit_page(intro: str, verdict: str, ranking: str, header: Sequence[str],
                      rows: Sequence[Sequence[str]], png: bytes) -> str:
    """``ftunlearn audit``'s own page: its verdict, table and ε figure."""
    table = Table(tuple(header), tuple(tuple(row) for row in rows))
    return render_page("audit.html.j2", title="Per-example audit", intro=intro,
                       verdict=verdict, ranking=ranking, table=table_view(table), png=png)


def render_html(content: ReportContent, images: Mapping[str, bytes]) -> str:
    """The benchmark report; ``images`` maps each plot's file name to its PNG bytes."""

    def view(table: Table | None) -> dict[str, Any] | None:
        return table_view(table) if table is not None else None

    return render_page(
        "report.html.j2", title=content.title, content=content, images=images,
        results=view(content.results), paired=view(content.paired),
        other_metrics=view(content.other_metrics), hyperparameters=view(content.hyperparameters),
        audit_table=view(content.audit.table) if content.audit is not None else None,
    )

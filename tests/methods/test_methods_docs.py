"""docs/methods.md documents every registered method with its current hyperparameter defaults."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ftunlearn.methods import available_methods, method_class

DOC = Path(__file__).resolve().parents[2] / "docs" / "methods.md"


def sections() -> dict[str, str]:
    """Level-2 sections of the doc keyed by the method name in their title's first code span."""
    found = {}
    for chunk in DOC.read_text(encoding="utf-8").split("\n## ")[1:]:
        title = chunk.splitlines()[0]
        match = re.match(r"`([^`]+)`", title)
        if match:
            found[match.group(1)] = chunk
    return found


def shown(value: object) -> str:
    if value is None:
        return "`None`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


BUILT_IN = [m for m in available_methods()
            if method_class(m).__module__.startswith("ftunlearn.methods.")]
"""Other test modules register throw-away methods; the doc covers the built-in ones."""


@pytest.mark.parametrize("method", BUILT_IN)
def test_every_method_has_a_section_listing_its_defaults(method) -> None:
    text = sections().get(method)
    assert text is not None, f"docs/methods.md has no section for {method!r}"
    config = method_class(method).Config()
    for field in dataclasses.fields(config):
        row = re.search(rf"^\| `{re.escape(field.name)}` \| [^\n]*$", text, flags=re.MULTILINE)
        assert row is not None, f"{method}: no table row for {field.name!r}"
        cells = [cell.strip() for cell in row.group(0).split(" | ")]
        assert cells[2] == shown(getattr(config, field.name)), (
            f"{method}: the doc's default for {field.name!r} is {cells[2]}, the code's is "
            f"{shown(getattr(config, field.name))}"
        )


def test_the_doc_shows_the_three_line_use() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "from ftunlearn import unlearn\n" in text
    assert 'result = unlearn(model, (x_r, y_r), (x_f, y_f), method="dr-ft", alpha=0.5)' in text

"""Reading scalar values written as text (CLI options, model specs, sweep lists)."""

from __future__ import annotations


def parse_scalar(text: str) -> int | float | str:
    """``"3"`` → 3, ``"0.5"`` → 0.5, anything else → the stripped text itself."""
    text = text.strip()
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text

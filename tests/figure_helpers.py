"""Which formats the tests' reports and figures are saved in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import pytest


@contextlib.contextmanager
def figure_formats(formats: Sequence[str]) -> Iterator[None]:
    """Inside, reports and figures are saved in ``formats`` unless their caller names others."""
    from ftunlearn.experiments import plots, report

    # the two defaults every figure's formats come from; a changed signature must fail here
    assert len(plots.save_figure.__defaults__ or ()) == 1
    assert "figure_formats" in (report.write_report.__kwdefaults__ or {})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots.save_figure, "__defaults__", (tuple(formats),))
        patch.setitem(report.write_report.__kwdefaults__, "figure_formats", tuple(formats))
        yield

"""The one style every figure the project writes is saved with (report, tuning, audit, lab).

Fonts go into PDFs as TrueType (Type 42) and into PostScript likewise, never as Type 3 bitmaps,
which IEEE's and ACM's PDF checks reject; SVG keeps text as text. The settings apply only
while a figure is saved (``matplotlib.rc_context``), so importing this module changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PUBLICATION_RC: Mapping[str, Any] = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "ftunlearn",  # the same figure gives the same SVG ids, run after run
}


def new_figure(size: tuple[float, float], *, constrained: bool = True) -> Figure:
    """A figure on its own Agg canvas (no pyplot state), laid out by constrained layout."""
    figure = Figure(figsize=size, dpi=100, layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


def fix_layout(figure: Figure, dpi: float) -> None:
    """Lay ``figure`` out once as a save at ``dpi`` would, then turn its layout engine off.

    With the engine on, every save lays the figure out and draws it twice (matplotlib's
    pre-draw); after this, each of several formats draws it once. A PNG saved at ``dpi`` is
    byte-identical either way; SVG and PDF share that one layout instead of their own."""
    engine = figure.get_layout_engine()
    if engine is None:
        return
    screen_dpi = figure.dpi
    figure.set_dpi(dpi)
    engine.execute(figure)
    figure.set_dpi(screen_dpi)
    figure.set_layout_engine(None)


def save(figure: Figure, target: str | Path | IO[bytes], *, fmt: str | None = None,
         dpi: float = 200, metadata: Mapping[str, Any] | None = None) -> None:
    """Save ``figure`` to a path or binary file in ``fmt`` with :data:`PUBLICATION_RC`."""
    with matplotlib.rc_context(dict(PUBLICATION_RC)):
        figure.savefig(target, format=fmt, dpi=dpi,
                       metadata=dict(metadata) if metadata is not None else None)

"""A short reading of a run's results in words, every number taken from its summary.

``bench`` prints it under the main table: how much of the forgotten data plain fine-tuning
still gets right next to the golden model (which never saw it) and the original, then which
methods forget like the golden model, which forget part of it, and which do not.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ftunlearn.experiments.catalog import is_reference

if TYPE_CHECKING:
    from ftunlearn.experiments.report import MethodSummary, RunSummary

UA = "UA"
AVG_GAP = "avg_gap"
PLAIN = "ft"
ORIGINAL = "original"
VISIBLE_GAP = 10.0
"""Points of forget accuracy between the original and the golden model below which forgetting
does not show in UA (a random split of an easy dataset): the reading says so and stops."""
FORGETS = 0.9
DOES_NOT_FORGET = 0.25
"""Shares of the original-to-golden distance in forget accuracy a method must cover to read as
forgetting like the golden model, and below which it reads as not forgetting."""


def _accuracy(method: MethodSummary) -> float:
    """Mean accuracy on the forgotten data: UA is its complement."""
    return 100.0 - method.stats[UA].mean


def _covered(method: MethodSummary, original: float, golden: float) -> float:
    return (_accuracy(method) - original) / (golden - original)


def reading_lines(summary: RunSummary) -> list[str]:
    """Two to four lines on whether fine-tuning forgets and how the others compare; none when
    the run lacks the golden, original or ``ft`` rows with UA."""
    from ftunlearn.experiments.report import format_number

    rows = {m.method: m for m in summary.methods if UA in m.stats}
    golden = next((m for m in rows.values() if m.is_golden), None)
    if golden is None or ORIGINAL not in rows or PLAIN not in rows:
        return []
    g, o, ft = _accuracy(golden), _accuracy(rows[ORIGINAL]), rows[PLAIN]
    where = f"(golden: {g:.0f} %, original: {o:.0f} %)"
    if abs(g - o) < VISIBLE_GAP:
        return [f"the golden model gets {g:.0f} % of the forgotten data right, the original "
                f"{o:.0f} %: forgetting barely shows in UA here; a class-wise forget spec "
                "(e.g. --forget class:3) shows it"]
    share = _covered(ft, o, g)
    verdict = ("fine-tuning alone does not forget" if share < DOES_NOT_FORGET else
               "fine-tuning forgets as the golden model does" if share >= FORGETS else
               "fine-tuning forgets part of it")
    lines = [f"{PLAIN} keeps {_accuracy(ft):.0f} % accuracy on the forgotten data {where}: "
             f"{verdict}"]
    others = [m for m in rows.values()
              if m.method != PLAIN and not m.is_pseudo and not is_reference(m.method)]

    def gap(method: MethodSummary) -> float:
        return method.stats[AVG_GAP].mean if AVG_GAP in method.stats else math.inf

    forget = sorted((m for m in others if _covered(m, o, g) >= FORGETS), key=gap)
    partly = sorted((m for m in others if DOES_NOT_FORGET <= _covered(m, o, g) < FORGETS),
                    key=gap)
    keep = [m for m in others if _covered(m, o, g) < DOES_NOT_FORGET]
    if forget:
        named = [f"{m.method} ({format_number(gap(m))})" for m in forget]
        named[0] = named[0].replace("(", "(Avg Gap ", 1)
        against = (f"; {PLAIN}'s is {format_number(ft.stats[AVG_GAP].mean)}"
                   if AVG_GAP in ft.stats else "")
        lines.append(f"forget like the golden model: {', '.join(named)}{against}")
    if partly:
        lines.append("forget part of it, or on some seeds only (accuracy on the forgotten "
                     "data, mean ± 95 % half-width): " + ", ".join(
                         f"{m.method} {_accuracy(m):.0f} ± {_half(m):.0f} %" for m in partly))
    if keep:
        lines.append(f"do not forget, like {PLAIN}: " + ", ".join(m.method for m in keep))
    return lines


def _half(method: MethodSummary) -> float:
    stat = method.stats[UA]
    return 0.0 if math.isnan(stat.ci_low) else (stat.ci_high - stat.ci_low) / 2

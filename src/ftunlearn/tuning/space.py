"""Search spaces: the hyperparameter ranges ``ftunlearn tune`` explores, declared per method.

Each :class:`Unlearner` subclass lists its dimensions in the class attribute ``search_space``
next to its ``Config`` (``ftunlearn.methods.*``). A dimension names one hyperparameter, how it
is drawn (log-uniform or uniform float, integer, or a choice) and why that range. This module
imports nothing heavy (no Optuna): the methods import it, and a trial is any object with
Optuna's ``suggest_float``/``suggest_int``/``suggest_categorical``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Kind = Literal["log-uniform", "uniform", "int", "categorical"]


class Suggester(Protocol):
    """The part of ``optuna.trial.Trial`` a dimension uses."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False
                      ) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: ``kind`` over ``[low, high]`` (or ``choices``), and why.

    ``at_most`` names another hyperparameter whose value caps ``high`` (SCRUB's ``msteps`` may
    not exceed its ``epochs``); the cap is read from the values drawn or fixed before it.
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    reason: str = ""
    at_most: str | None = None

    def __post_init__(self) -> None:
        # a wrong declaration is a programming error of the method's module, caught at import
        if not self.reason:
            raise TypeError(f"search dimension {self.name!r} needs a one-line reason")
        if self.kind == "categorical":
            if len(self.choices) < 2:
                raise TypeError(f"search dimension {self.name!r} needs at least two choices")
            return
        if self.low is None or self.high is None or not self.low < self.high:
            raise TypeError(f"search dimension {self.name!r} needs low < high")
        if self.kind == "log-uniform" and self.low <= 0:
            raise TypeError(f"log-uniform dimension {self.name!r} needs low > 0")
        if self.kind == "int" and not (float(self.low).is_integer()
                                       and float(self.high).is_integer()):
            raise TypeError(f"integer dimension {self.name!r} needs whole bounds")

    def upper(self, known: Mapping[str, Any]) -> float | None:
        """``high``, lowered to the capping hyperparameter's value when that is known."""
        if self.high is None or self.at_most is None or self.at_most not in known:
            return self.high
        return min(self.high, known[self.at_most])

    def suggest(self, trial: Suggester, known: Mapping[str, Any]) -> Any:
        """Draw this dimension's value from ``trial`` (``known``: the values set before it)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        high = self.upper(known)
        assert self.low is not None and high is not None
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(high))
        return trial.suggest_float(self.name, float(self.low), float(high),
                                   log=self.kind == "log-uniform")

    def range_text(self) -> str:
        """The range in words, e.g. ``[0.0001, 0.1]`` or ``{zero, init}``."""
        if self.kind == "categorical":
            return "{" + ", ".join(str(c) for c in self.choices) + "}"
        low = int(self.low) if self.kind == "int" else self.low  # type: ignore[arg-type]
        high = int(self.high) if self.kind == "int" else self.high  # type: ignore[arg-type]
        cap = f", at most {self.at_most}" if self.at_most else ""
        return f"[{low:g}, {high:g}{cap}]"


def log_uniform(name: str, low: float, high: float, reason: str) -> Dimension:
    return Dimension(name, "log-uniform", low, high, reason=reason)


def uniform(name: str, low: float, high: float, reason: str) -> Dimension:
    return Dimension(name, "uniform", low, high, reason=reason)


def integer(name: str, low: int, high: int, reason: str, *, at_most: str | None = None
            ) -> Dimension:
    return Dimension(name, "int", low, high, reason=reason, at_most=at_most)


def choice(name: str, choices: Sequence[Any], reason: str) -> Dimension:
    return Dimension(name, "categorical", choices=tuple(choices), reason=reason)


SearchSpace = tuple[Dimension, ...]


def searched(space: SearchSpace, fixed: Mapping[str, Any]) -> SearchSpace:
    """The dimensions still searched when the hyperparameters ``fixed`` are held (a value set
    in the run's config, a preset's or ``--hp``, is never overridden by the search)."""
    return tuple(d for d in space if d.name not in fixed)


def sample(trial: Suggester, space: SearchSpace, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The fixed values plus one draw of every searched dimension, in declaration order."""
    values = dict(fixed)
    for dimension in searched(space, fixed):
        values[dimension.name] = dimension.suggest(trial, values)
    return values


def space_table(space: SearchSpace) -> list[str]:
    """The Markdown table ``docs/methods.md`` shows for a space (checked by a test)."""
    lines = ["| searched | distribution | range | why |", "| --- | --- | --- | --- |"]
    for d in space:
        lines.append(f"| `{d.name}` | {d.kind} | {d.range_text()} | {d.reason} |")
    return lines


def finite(value: Any) -> bool:
    """A real finite number (what an objective must return to count)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
        value)


LEARNING_RATE_REASON = ("log-uniform over three decades around the usual SGD rates, as the "
                        "reference codebases' users grid-search them by hand")
EPOCHS_REASON = ("up to the default 5 passes, so a tuned method never costs more than its "
                 "default (the budget compares methods, not compute)")


def learning_rate(low: float = 1e-4, high: float = 1e-1,
                  reason: str = LEARNING_RATE_REASON) -> Dimension:
    """The learning-rate dimension most fine-tuning methods share."""
    return log_uniform("lr", low, high, reason)


def epochs(low: int = 1, high: int = 5, reason: str = EPOCHS_REASON) -> Dimension:
    """The passes-over-the-data dimension the fine-tuning methods share."""
    return integer("epochs", low, high, reason)

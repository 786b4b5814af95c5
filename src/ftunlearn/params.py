"""One parameter system: frozen dataclasses validated, and read from text, by their type hints.

A subclass of :class:`Params` (decorated ``@dataclass(frozen=True)``) declares each field's
type; ``Literal`` gives the choices, ``Annotated[float, Range(gt=0)]`` the numeric range, and
``X | None`` an optional value. Construction checks every field (``bool`` is not a number, an
``int`` field refuses ``2.5`` and ``3.0``, floats are finite unless their ``Range`` says
otherwise), then calls ``check`` for rules across fields. :meth:`Params.from_values` reads CLI
text (``"3"``, ``"1e-3"``, ``"true"``, ``"none"``, ``"a,b"``) or TOML values with the same hints.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import math
import numbers
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

from ftunlearn.errors import UnlearnError

P = TypeVar("P", bound="Params")
_WHERE: contextvars.ContextVar[str | None] = contextvars.ContextVar("where", default=None)
_WHOLE = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Range:
    """Bounds of a numeric field; ``finite=False`` lets a float field hold ``inf``."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    finite: bool = True

    def allows(self, value: float) -> bool:
        if math.isnan(value) or (self.finite and math.isinf(value)):
            return False
        return ((self.gt is None or value > self.gt) and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt) and (self.le is None or value <= self.le))

    def __str__(self) -> str:
        low = ("(", self.gt) if self.gt is not None else ("[", self.ge)
        high = (self.lt, ")") if self.lt is not None else (self.le, "]")
        if low[1] is not None and high[0] is not None:
            return f"in {low[0]}{_number(low[1])}, {_number(high[0])}{high[1]}"
        bounds = [f"{op} {_number(bound)}" for op, bound in
                  ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
                  if bound is not None]
        return " and ".join(bounds)


_ANY_NUMBER = Range(finite=True)


def _number(bound: float) -> str:
    """A bound in words: whole ones in full (2147483648, not 2.14748e+09)."""
    if math.isfinite(bound) and float(bound).is_integer() and abs(bound) < 1e16:
        return str(int(bound))
    return f"{bound:g}"


class _Refused(Exception):
    """A value the hint does not allow (turned into one UnlearnError naming owner and field)."""


class Params:
    """Base of every frozen parameter dataclass; see the module docstring."""

    owner: ClassVar[str] = ""
    """How error messages name these parameters ("recipe", "bench config"); default the class."""
    key_word: ClassVar[str] = "key"
    """What an unknown key is called in errors ("hyperparameter", "recipe field")."""

    def __post_init__(self) -> None:
        for name, hint in _hints(type(self)).items():
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, _convert(hint, value, text=False, where=name))
            except _Refused:
                raise UnlearnError(
                    f"{self._where()}: {name} must be {describe(hint)}, got {value!r}"
                ) from None
        self.check()

    def check(self) -> None:
        """Rules across fields: raise :meth:`fail` (override in subclasses)."""

    def fail(self, message: str) -> typing.NoReturn:
        raise UnlearnError(f"{self._where()}: {message}")

    @classmethod
    def _where(cls) -> str:
        return _WHERE.get() or cls.owner or cls.__name__

    @classmethod
    def from_values(cls: type[P], values: Mapping[str, Any], *, where: str | None = None) -> P:
        """The defaults with ``values`` (typed, or text to read by each field's hint) applied."""
        where = where or cls._where()
        hints = _hints(cls)
        unknown = sorted(str(key) for key in set(values) - set(hints))
        if unknown:
            raise UnlearnError(f"{where}: unknown {cls.key_word}(s) {', '.join(unknown)}; "
                               f"known: {', '.join(hints)}")
        converted = {}
        for name, value in values.items():
            try:
                converted[name] = _convert(hints[name], value, text=True, where=f"{where}, {name}")
            except _Refused:
                raise UnlearnError(
                    f"{where}: {name} must be {describe(hints[name])}, got {value!r}"
                ) from None
        token = _WHERE.set(where)
        try:
            return cls(**converted)
        finally:
            _WHERE.reset(token)

    def replace(self: P, **changes: Any) -> P:
        """A copy with ``changes`` applied through :meth:`from_values`."""
        return type(self).from_values({**self._fields(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (nested parameters as dicts, tuples as lists)."""
        return {name: _plain(value) for name, value in self._fields().items()}

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    names = [f.name for f in dataclasses.fields(cls)]
    hints = typing.get_type_hints(cls, include_extras=True)
    return {name: hints[name] for name in names}


def _plain(value: Any) -> Any:
    if isinstance(value, Params):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _split(hint: Any) -> tuple[Any, Any, tuple[Any, ...]]:
    """``(origin, args, Range metadata)`` of a hint, looking through ``Annotated``."""
    ranges: tuple[Any, ...] = ()
    if typing.get_origin(hint) is typing.Annotated:
        ranges = tuple(m for m in hint.__metadata__ if isinstance(m, Range))
        hint = hint.__origin__
    return hint, typing.get_origin(hint), ranges


def _convert(hint: Any, value: Any, *, text: bool, where: str) -> Any:
    """``value`` as ``hint`` allows it (text read when ``text``), else raise ``_Refused``."""
    base, origin, ranges = _split(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(base)
        if value is None and type(None) in options:
            return None
        if (text and type(None) in options and isinstance(value, str)
                and value.strip().lower() in ("none", "null")):
            return None
        for option in (o for o in options if o is not type(None)):
            # the union's own bounds apply to each of its options
            option = typing.Annotated[(option, *ranges)] if ranges else option
            try:
                return _convert(option, value, text=text, where=where)
            except _Refused:
                continue
        raise _Refused
    if origin is typing.Literal:
        for choice in typing.get_args(base):
            if value == choice and type(value) is type(choice):
                return choice
            if text and isinstance(value, str) and value.strip() == str(choice):
                return choice
        raise _Refused
    if origin is tuple:
        if text and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, tuple | list):
            raise _Refused
        item = typing.get_args(base)[0]
        return tuple(_convert(item, v, text=text, where=where) for v in value)
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise _Refused
        item = typing.get_args(base)[1] if typing.get_args(base) else Any
        return {k: _convert(item, v, text=text, where=where) for k, v in value.items()}
    if base is Any:
        return value
    if isinstance(base, type) and issubclass(base, Params):
        if isinstance(value, base):
            return value
        if isinstance(value, Mapping):
            return base.from_values(value, where=where)
        raise _Refused
    return _bounded(_scalar(base, value, text), ranges)


def _scalar(base: Any, value: Any, text: bool) -> Any:
    if text and isinstance(value, str) and base is not str:
        word = value.strip()
        if base is bool and word.lower() in ("true", "false"):
            return word.lower() == "true"
        if base is int and _WHOLE.fullmatch(word):
            try:
                return int(word)
            except ValueError:  # over Python's 4300-digit limit for reading an int
                raise _Refused from None
        if base is float:
            try:
                return float(word)
            except ValueError:
                raise _Refused from None
        raise _Refused
    if base is bool and isinstance(value, bool):
        return value
    if isinstance(value, bool):
        raise _Refused
    if base is int and isinstance(value, numbers.Integral):
        return int(value)
    if base is float and isinstance(value, numbers.Real):
        return float(value)
    if base is str and isinstance(value, str):
        return value
    raise _Refused


def _bounded(value: Any, ranges: tuple[Range, ...]) -> Any:
    """Refuse a number outside ``ranges`` (a float without a range must still be finite)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    checks = ranges or ((_ANY_NUMBER,) if isinstance(value, float) else ())
    if not all(r.allows(value) for r in checks):
        raise _Refused
    return value


def describe(hint: Any) -> str:
    """What a hint allows, in words ("a whole number >= 1", "one of 'sgd', 'adam'")."""
    base, origin, ranges = _split(hint)
    bounds = " and ".join(str(r) for r in ranges if str(r))
    if origin in (typing.Union, types.UnionType):
        options = [describe(typing.Annotated[(o, *ranges)]) if ranges else describe(o)
                   for o in typing.get_args(base) if o is not type(None)]
        text = " or ".join(options)
        return f"{text} or none" if type(None) in typing.get_args(base) else text
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(base))
    if origin is tuple:
        item = typing.get_args(base)[0]
        # "a list of in [0, 5)" would not read: a bounded item gets "each"
        joint = ", each" if _split(item)[2] else " of"
        return f"a comma-separated list{joint} {describe(item)}"
    if isinstance(base, type) and issubclass(base, Params):
        return f"a table of {base.owner or base.__name__} keys"
    names = {bool: "true or false", int: "a whole number", float: "a finite number",
             str: "text"}
    text = names.get(base, getattr(base, "__name__", str(base)))
    if base is float and any(not r.finite for r in ranges):
        text = "a number"
    return f"{bounds} ({text})" if bounds else text


Count = Annotated[int, Range(ge=1)]
"""A whole number >= 1 (epochs, batch sizes)."""
Positive = Annotated[float, Range(gt=0)]
NonNegative = Annotated[float, Range(ge=0)]
Fraction = Annotated[float, Range(gt=0, le=1)]
"""A share in (0, 1]."""

SEED_LIMIT = 2**31
"""A seed the user chooses is a whole number in ``[0, SEED_LIMIT)``: room below
:data:`GENERATOR_SEED_LIMIT` for the offsets that derived seeds add (the audit's 10000 + j)."""
GENERATOR_SEED_LIMIT = 2**32
"""The bound every generator in use takes (scikit-learn's and numpy's legacy ones stop at
2**32 - 1): what a function that may get a derived seed, such as ``unlearn``, accepts."""
Seed = Annotated[int, Range(ge=0, lt=SEED_LIMIT)]


def check_seed(seed: object, name: str = "seed", limit: int = SEED_LIMIT) -> int:
    """``seed`` as an ``int`` when it is a whole number in ``[0, limit)``, else an
    ``UnlearnError`` naming ``name`` (``bool`` is not a seed; numpy integers are)."""
    bound = f"a non-negative integer below {limit} (2**{limit.bit_length() - 1})"
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise UnlearnError(f"{name} must be {bound}, got {seed!r} ({type(seed).__name__})")
    value = int(seed)
    if not 0 <= value < limit:
        # str() of a 4300+ digit int raises, so a huge one is shown by its size
        shown = str(value) if abs(value) < 10**30 else f"a {value.bit_length()}-bit number"
        raise UnlearnError(f"{name} must be {bound}, got {shown}")
    return value

"""Forget specs: the text that says which training samples to forget, parsed and drawn.

Grammar (whitespace around tokens is ignored, the kind is case-insensitive)::

    random:R            a fraction R in (0, 1) of the training set, uniformly without replacement
    random:N            exactly N training samples (a bare integer is a count, not a fraction)
    class:C[,C...]      every training sample of the listed classes
    class:C[,C...]@R    a fraction R in (0, 1) of each listed class, drawn per class
    indices:FILE        the training indices listed in FILE: a .npy integer array, or a .txt
                        file of integers separated by whitespace or newlines

A fraction R of n samples selects ``floor(R * n + 1/2)`` of them. ``random`` draws the first
samples of a seeded permutation, so for one seed a smaller fraction's forget set is contained
in a larger one's. ``class:C@R`` draws each class with its own generator seeded by
``(seed, C)``, so a class's draw does not depend on the other classes listed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ftunlearn.errors import UnlearnError

SPEC_GRAMMAR = "random:R, random:N, class:C[,C...], class:C[,C...]@R or indices:FILE"

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _malformed(spec: str, why: str) -> UnlearnError:
    return UnlearnError(f"malformed forget spec {spec!r}: {why}; expected {SPEC_GRAMMAR}")


def _fraction(token: str, spec: str) -> float:
    """A fraction strictly between 0 and 1."""
    if not _NUMBER.fullmatch(token):
        raise _malformed(spec, f"{token!r} is not a number")
    value = float(token)
    if not 0.0 < value < 1.0:
        raise UnlearnError(
            f"forget spec {spec!r}: the fraction {token} is out of range; it must lie strictly "
            "between 0 and 1 (use class:C for a whole class)"
        )
    return value


def count_of(fraction: float, n: int) -> int:
    """How many of ``n`` samples a fraction selects: the nearest integer, halves up."""
    return math.floor(fraction * n + 0.5)


@dataclass(frozen=True)
class RandomSpec:
    """A uniformly drawn ``fraction`` of the training set, or exactly ``count`` samples."""

    fraction: float | None = None
    count: int | None = None

    def canonical(self) -> str:
        return f"random:{self.count}" if self.count is not None else f"random:{self.fraction!r}"

    def describe(self) -> str:
        if self.count is not None:
            return f"{self.count} training samples drawn uniformly at random"
        return f"{100 * self.fraction:g}% of the training set drawn uniformly at random"

    def select(self, labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
        n = labels.shape[0]
        if self.count is not None:
            if self.count > n:
                raise UnlearnError(
                    f"forget spec {self.canonical()!r} asks for {self.count} samples but the "
                    f"training set has {n}; ask for fewer"
                )
            k = self.count
        else:
            k = count_of(self.fraction, n)
        return np.random.default_rng(seed).permutation(n)[:k]


@dataclass(frozen=True)
class ClassSpec:
    """All samples of ``classes``, or a ``fraction`` of each of them."""

    classes: tuple[int, ...]
    fraction: float | None = None

    def canonical(self) -> str:
        listed = ",".join(str(c) for c in self.classes)
        return f"class:{listed}" if self.fraction is None else f"class:{listed}@{self.fraction!r}"

    def describe(self) -> str:
        names = ", ".join(str(c) for c in self.classes)
        plural = "es" if len(self.classes) > 1 else ""
        if self.fraction is None:
            return f"every training sample of class{plural} {names}"
        return f"{100 * self.fraction:g}% of the training samples of class{plural} {names}"

    @property
    def whole_classes(self) -> tuple[int, ...]:
        """The classes forgotten entirely (none when only a fraction of each is)."""
        return self.classes if self.fraction is None else ()

    def select(self, labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
        unknown = [c for c in self.classes if not 0 <= c < num_classes]
        if unknown:
            raise UnlearnError(
                f"forget spec {self.canonical()!r}: unknown class {unknown[0]}; the dataset's "
                f"classes are 0 to {num_classes - 1}"
            )
        chosen = []
        for c in self.classes:
            members = np.flatnonzero(labels == c)
            if members.size == 0:
                raise UnlearnError(
                    f"forget spec {self.canonical()!r}: class {c} has no training samples, so "
                    "there is nothing of it to forget; pick another class"
                )
            if self.fraction is not None:
                k = count_of(self.fraction, members.size)
                members = np.random.default_rng((seed, c)).permutation(members)[:k]
            chosen.append(members)
        return np.concatenate(chosen)


@dataclass(frozen=True)
class IndicesSpec:
    """The training indices listed in a ``.npy`` or ``.txt`` file."""

    path: Path

    def canonical(self) -> str:
        return f"indices:{self.path}"

    def describe(self) -> str:
        return f"the training samples listed in {self.path}"

    def select(self, labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
        return read_index_file(self.path)


ForgetSpec = RandomSpec | ClassSpec | IndicesSpec


def read_index_file(path: Path) -> np.ndarray:
    """The integers in a ``.npy`` array or a whitespace-separated ``.txt`` file, as int64."""
    if not path.is_file():
        raise UnlearnError(
            f"index file {path} does not exist; give the path of a .npy or .txt file"
        )
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise UnlearnError(
                f"index file {path} is not a readable .npy array ({error}); save the indices "
                "with numpy.save as an integer array"
            ) from error
        if values.dtype.kind not in "iu":
            raise UnlearnError(
                f"index file {path} holds {values.dtype} values; save integer indices"
            )
        if values.ndim != 1:
            raise UnlearnError(
                f"index file {path} holds an array of shape {values.shape}; save a 1-d array "
                "of training indices"
            )
        return values.astype(np.int64)
    if suffix == ".txt":
        tokens = path.read_text().split()
        bad = next((t for t in tokens if not _INTEGER.fullmatch(t)), None)
        if bad is not None:
            raise UnlearnError(
                f"index file {path} contains {bad!r}, which is not an integer; list one "
                "training index per line or separated by spaces"
            )
        return np.array([int(t) for t in tokens], dtype=np.int64)
    raise UnlearnError(f"index file {path} must end in .npy or .txt, not {path.suffix!r}")


def _parse_random(argument: str, spec: str) -> RandomSpec:
    if _INTEGER.fullmatch(argument) and not argument.startswith(("+", "-")):
        return RandomSpec(count=int(argument))
    return RandomSpec(fraction=_fraction(argument, spec))


def _parse_class(argument: str, spec: str) -> ClassSpec:
    listed, at, fraction_token = argument.partition("@")
    tokens = [t.strip() for t in listed.split(",")]
    if not all(_INTEGER.fullmatch(t) for t in tokens):
        raise _malformed(spec, "classes must be integers separated by commas")
    classes = [int(t) for t in tokens]
    repeated = sorted({c for c in classes if classes.count(c) > 1})
    if repeated:
        raise UnlearnError(
            f"forget spec {spec!r} lists class {repeated[0]} more than once; list each class once"
        )
    fraction = _fraction(fraction_token.strip(), spec) if at else None
    return ClassSpec(classes=tuple(sorted(classes)), fraction=fraction)


def _parse_indices(argument: str, spec: str) -> IndicesSpec:
    if not argument:
        raise _malformed(spec, "indices needs a file path")
    return IndicesSpec(path=Path(argument).expanduser())


_PARSERS: Mapping[str, Callable[[str, str], ForgetSpec]] = MappingProxyType(
    {"random": _parse_random, "class": _parse_class, "indices": _parse_indices}
)


def parse_forget_spec(spec: str) -> ForgetSpec:
    """The forget spec written in ``spec`` (see the module docstring for the grammar)."""
    kind, colon, argument = spec.strip().partition(":")
    parser = _PARSERS.get(kind.strip().lower())
    if not colon or parser is None:
        raise _malformed(spec, f"it must start with one of {', '.join(_PARSERS)} and a colon")
    return parser(argument.strip(), spec)


def describe_forget_spec(spec: str) -> str:
    """A sentence saying what ``spec`` forgets, e.g. "10% of the training set drawn ..."."""
    return parse_forget_spec(spec).describe()

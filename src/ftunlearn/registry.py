"""One registry type for every kind of named component (methods, metrics, datasets, models,
presets, plots).

An entry is a frozen dataclass with a ``name`` and whatever metadata its kind declares; the
registry keeps entries in registration order (the order reports and ``all`` use), looks names
up with one error type, and can open a temporary scope whose additions vanish on exit (for
tests and for a user's ``--import``-ed module within one command).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Generic, Protocol, TypeVar

from ftunlearn.errors import UnlearnError


class Named(Protocol):
    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=Named)


class Registry(Generic[E]):
    """Entries of one kind, by name, in registration order."""

    def __init__(self, kind: str, *, normalise: Callable[[str], str] | None = None) -> None:
        self.kind = kind
        self._normalise = normalise or (lambda name: name)
        self._entries: dict[str, E] = {}

    def add(self, entry: E) -> E:
        """Register ``entry``; a second entry of the same name is a programming error."""
        key = self._normalise(entry.name)
        if key != entry.name:
            raise TypeError(f"{self.kind} name {entry.name!r} must be written as {key!r}")
        if key in self._entries:
            raise TypeError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[key] = entry
        return entry

    def get(self, name: str) -> E:
        """The entry called ``name``, or an :class:`UnlearnError` listing the known names."""
        entry = self._entries.get(self._normalise(str(name).strip()))
        if entry is None:
            raise UnlearnError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or 'none'}"
            )
        return entry

    def names(self, where: Callable[[E], bool] | None = None) -> tuple[str, ...]:
        """Names in registration order, optionally only those whose entry passes ``where``."""
        return tuple(n for n, e in self._entries.items() if where is None or where(e))

    def __iter__(self) -> Iterator[E]:
        return iter(list(self._entries.values()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._normalise(name.strip()) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @contextlib.contextmanager
    def scope(self) -> Iterator[Registry[E]]:
        """Entries added inside the ``with`` block are removed when it ends."""
        before = dict(self._entries)
        try:
            yield self
        finally:
            self._entries = before


def import_user_module(name: str) -> ModuleType:
    """Import the user's module ``name`` as ``python -m`` would: the current folder is searched
    first (for this import only; ``sys.path`` is left as it was)."""
    if name in sys.modules:
        return sys.modules[name]
    folder = os.getcwd()
    sys.path.insert(0, folder)
    try:
        importlib.invalidate_caches()  # the module may have been written after the last import
        return importlib.import_module(name)
    finally:
        # remove our own entry; the module's import may have added others in front of it
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def import_callable(path: str, kind: str) -> Callable[..., object]:
    """The callable named by ``package.module:function`` (a user's ``kind`` factory), the module
    found as ``python -m`` finds it (the current folder first)."""
    module_name, _, attribute = path.partition(":")
    try:
        module = import_user_module(module_name)
    except ImportError as error:
        raise UnlearnError(f"cannot import {kind} module {module_name!r} (looked in the current "
                           f"folder {os.getcwd()} and the installed packages): {error}"
                           ) from error
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise UnlearnError(f"{path!r}: {module_name} has no callable {attribute!r}")
    return factory

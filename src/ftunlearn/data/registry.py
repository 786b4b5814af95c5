"""The dataset registry: a short name per loader, and the one public entry point."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ftunlearn.data.dataset import Dataset
from ftunlearn.data.files import as_path
from ftunlearn.errors import UnlearnError

DatasetLoader = Callable[[Path | None], Dataset]
"""Loads a dataset from an optional data directory (or file, for ``npz``)."""

_LOADERS: dict[str, DatasetLoader] = {}


def register_dataset(name: str) -> Callable[[DatasetLoader], DatasetLoader]:
    """Decorator that registers a loader under ``name`` (lower case, unique)."""

    def decorate(loader: DatasetLoader) -> DatasetLoader:
        if name != name.lower() or name in _LOADERS:
            raise RuntimeError(f"dataset name {name!r} must be lower case and unique")
        _LOADERS[name] = loader
        return loader

    return decorate


def available_datasets() -> list[str]:
    """The registered dataset names, sorted."""
    return sorted(_LOADERS)


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load the dataset ``name`` into memory as normalised tensors.

    ``data_dir`` is the folder holding the dataset's files (for ``npz`` the ``.npz`` file itself
    or a folder holding one); ``digits`` is embedded and ignores it, and ``fashion-mnist``
    falls back to the Debian package's folder. Names are case-insensitive and ``_`` may stand
    for ``-``. Nothing is cached on disk.
    """
    key = name.strip().lower().replace("_", "-")
    loader = _LOADERS.get(key)
    if loader is None:
        raise UnlearnError(
            f"unknown dataset {name!r}; available datasets: {', '.join(available_datasets())}"
        )
    return loader(as_path(data_dir))

"""The dataset registry: a short name per loader, and the one public entry point."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ftunlearn.data.dataset import Dataset
from ftunlearn.data.files import as_path
from ftunlearn.errors import UnlearnError
from ftunlearn.registry import Registry, import_callable

DatasetLoader = Callable[[Path | None], Dataset]
"""Loads a dataset from an optional data directory (or file, for ``npz``)."""


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    load: DatasetLoader


DATASETS: Registry[DatasetEntry] = Registry(
    "dataset", normalise=lambda name: name.lower().replace("_", "-"))
"""Built-in datasets; names are case-insensitive and ``_`` may stand for ``-``."""


def register_dataset(name: str) -> Callable[[DatasetLoader], DatasetLoader]:
    """Decorator that registers a loader under ``name`` (lower case, unique)."""

    def decorate(loader: DatasetLoader) -> DatasetLoader:
        DATASETS.add(DatasetEntry(name, loader))
        return loader

    return decorate


def available_datasets() -> list[str]:
    """The registered dataset names, sorted."""
    return sorted(DATASETS.names())


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load the dataset ``name`` into memory as normalised tensors.

    ``data_dir`` is the folder holding the dataset's files (for ``npz`` the ``.npz`` file itself
    or a folder holding one); ``digits`` is embedded and ignores it, and ``fashion-mnist``
    falls back to the Debian package's folder. Names are case-insensitive and ``_`` may stand
    for ``-``. Nothing is cached on disk.
    """
    if not isinstance(name, str):
        raise TypeError(f"load_dataset: name must be a dataset name such as 'digits' (see "
                        f"ftunlearn.available_datasets()), got {type(name).__name__}")
    if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
        raise TypeError(f"load_dataset: data_dir must be a path or None, got "
                        f"{type(data_dir).__name__}")
    if ":" in name:
        return load_dataset_factory(name.strip(), data_dir)
    return DATASETS.get(name).load(as_path(data_dir))


def load_dataset_factory(path: str, data_dir: str | Path | None = None) -> Dataset:
    """Load a user's dataset from a factory ``package.module:function``.

    The factory is called as ``function(data_dir)`` (a ``Path`` or ``None``) and returns
    ``(train, test)`` or ``(train, test, num_classes)``; each set is ``(x, y)`` tensors/arrays or
    a map-style dataset of ``(x, y)`` items. The sets are read into memory as float32 inputs
    and int64 labels (``num_classes`` defaults to one more than the largest label).
    """
    from torch.utils.data import TensorDataset

    from ftunlearn.data.assemble import check_test_classes_trained
    from ftunlearn.data.dataset import content_fingerprint
    from ftunlearn.data.sources import as_source, is_streamed

    factory = import_callable(path, "dataset")
    try:
        made = factory(as_path(data_dir))
    except Exception as error:  # the user's own code failed: say whose, not a traceback
        raise UnlearnError(f"dataset factory {path} raised {type(error).__name__}: {error}"
                           ) from error
    if not isinstance(made, tuple) or len(made) not in (2, 3):
        raise UnlearnError(f"dataset factory {path} must return (train, test) or "
                           f"(train, test, num_classes), got {type(made).__name__}")
    tensors = []
    for role, data in zip(("train", "test"), made[:2], strict=True):
        if is_streamed(data):
            x, y = zip(*as_source(data, role).batches(1024), strict=True)
            tensors += [torch.cat(x), torch.cat(y)]
        else:
            pair = data.tensors[:2] if isinstance(data, TensorDataset) else data
            tensors += [torch.as_tensor(pair[0]).float(), torch.as_tensor(pair[1]).long()]
    x_train, y_train, x_test, y_test = tensors
    largest = int(max(y_train.max(), y_test.max())) + 1
    classes = int(made[2]) if len(made) == 3 else largest
    if classes < largest:
        raise UnlearnError(f"dataset factory {path}: labels go up to {largest - 1} but "
                           f"num_classes is {classes}")
    if len(made) == 2:  # a given num_classes declares the classes, as npz's class_names do
        check_test_classes_trained(y_train.cpu().numpy(), y_test.cpu().numpy(),
                                   f"dataset factory {path}")
    return Dataset(path, x_train, y_train, x_test, y_test, classes, tuple(x_train.shape[1:]),
                   content_fingerprint(x_train, y_train, x_test, y_test, extra=path))

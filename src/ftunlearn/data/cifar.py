"""CIFAR-10 and CIFAR-100 from the python-pickle batches of their official archives.

The batches are pickles, read only from files the user supplies, through an unpickler that
accepts nothing but plain containers and numpy arrays.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ftunlearn.data.assemble import RawSplit, assemble_dataset
from ftunlearn.data.dataset import Dataset
from ftunlearn.data.files import locate_files
from ftunlearn.data.normalisation import Normalisation
from ftunlearn.data.registry import register_dataset
from ftunlearn.errors import UnlearnError

_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol 2 stores bytes under Python 3
    }
)

_UNPICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError)

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes, numbers and numpy arrays; refuses any other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _unpickle(path: Path, what: str) -> Any:
    """The object pickled in ``path``, string keys of a dict turned into bytes."""
    try:
        content = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except _UNPICKLE_ERRORS as error:
        raise UnlearnError(
            f"{path} is not a CIFAR python {what} ({error}); use the files of the official "
            "'python version' archive"
        ) from error
    if isinstance(content, dict):
        return {k.encode() if isinstance(k, str) else k: v for k, v in content.items()}
    return content


def read_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, 32, 32)`` uint8 and labels of one CIFAR batch file."""
    content = _unpickle(path, "batch")
    if not isinstance(content, dict) or b"data" not in content or label_key not in content:
        raise UnlearnError(
            f"{path} is not a CIFAR batch: expected a dict with the keys b'data' and "
            f"{label_key!r}; use the files of the official 'python version' archive"
        )
    data = np.asarray(content[b"data"])
    labels = np.asarray(content[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UnlearnError(
            f"{path}: b'data' is a {data.dtype} array of shape {data.shape}; expected uint8 of "
            "shape (n, 3072), each row the red, green and blue 32x32 planes"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _batches(paths: list[Path], label_key: bytes) -> RawSplit:
    parts = [read_batch(path, label_key) for path in paths]
    x = np.concatenate([images for images, _ in parts])
    y = np.concatenate([labels.reshape(-1) for _, labels in parts])
    return RawSplit(x, y, ", ".join(str(path) for path in paths))


def read_class_names(path: Path, key: bytes, fallback: tuple[str, ...]) -> tuple[str, ...]:
    """The label names stored under ``key`` in a CIFAR meta file, or ``fallback`` without one."""
    if not path.is_file():
        return fallback
    meta = _unpickle(path, "meta file")
    names = meta.get(key) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != len(fallback):
        raise UnlearnError(
            f"{path} does not hold {len(fallback)} class names under {key!r}; remove it or use "
            "the one of the official archive"
        )
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


@dataclass(frozen=True)
class CifarInfo:
    """The layout of one CIFAR archive."""

    name: str
    folder: str  # the folder the official archive extracts to
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: bytes
    meta_file: str
    meta_key: bytes  # where the meta file keeps the label names
    class_names: tuple[str, ...]  # used when the meta file is absent
    normalisation: Normalisation


CIFAR10 = CifarInfo(
    name="cifar10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    label_key=b"labels",
    meta_file="batches.meta",
    meta_key=b"label_names",
    class_names=CIFAR10_CLASSES,
    # Per-channel mean and std of the 50 000 training images on [0, 1] (the values the
    # SalUn reference code uses).
    normalisation=Normalisation(mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)),
)

CIFAR100 = CifarInfo(
    name="cifar100",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    label_key=b"fine_labels",
    meta_file="meta",
    meta_key=b"fine_label_names",
    class_names=tuple(str(i) for i in range(100)),
    # Per-channel mean and std of the 50 000 training images on [0, 1].
    normalisation=Normalisation(mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762)),
)


def load_cifar(info: CifarInfo, data_dir: Path | None) -> Dataset:
    """A CIFAR dataset from ``data_dir`` or from its archive folder inside ``data_dir``."""
    directory = data_dir
    if data_dir is not None and (data_dir / info.folder).is_dir():
        directory = data_dir / info.folder
    expected = info.train_files + info.test_files
    hint = (
        f"Download the CIFAR 'python version' archive, extract it and point --data-dir "
        f"(data_dir=) to the {info.folder} folder or its parent"
    )
    paths = locate_files(info.name, directory, expected, hint)
    n_train = len(info.train_files)
    train = _batches(paths[:n_train], info.label_key)
    test = _batches(paths[n_train:], info.label_key)
    class_names = read_class_names(
        paths[0].parent / info.meta_file, info.meta_key, info.class_names
    )
    return assemble_dataset(
        name=info.name,
        train=train,
        test=test,
        normalisation=info.normalisation,
        num_classes=len(info.class_names),
        class_names=class_names,
    )


@register_dataset("cifar10")
def load_cifar10(data_dir: Path | None) -> Dataset:
    """CIFAR-10: 50 000 + 10 000 colour 32x32 images of 10 classes."""
    return load_cifar(CIFAR10, data_dir)


@register_dataset("cifar100")
def load_cifar100(data_dir: Path | None) -> Dataset:
    """CIFAR-100: 50 000 + 10 000 colour 32x32 images of 100 fine classes."""
    return load_cifar(CIFAR100, data_dir)

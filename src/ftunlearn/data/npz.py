"""A user's own data in one ``.npz`` file.

Required arrays: ``x_train``, ``y_train``, ``x_test``, ``y_test``. Samples may be

- images ``(n, C, H, W)`` (NCHW) or ``(n, H, W, C)`` (NHWC), told apart by which of axis 1 and
  axis 3 has at most 4 entries; when both or neither do, an optional ``layout`` entry
  (``"NCHW"`` or ``"NHWC"``) decides;
- grey images ``(n, H, W)``, which get one channel;
- flat features ``(n, d)``, kept flat.

Labels are whole numbers ``0 .. K-1`` of shape ``(n,)`` or ``(n, 1)``; K is the largest label
plus one (refused when that leaves most classes empty: see ``assemble.class_count``), or the
length of an optional ``class_names`` entry. Every test label must occur in the training
labels (a class no model can learn, as from 1-based test labels, would read as TA 0), with or
without ``class_names``. Normalisation statistics are
computed from the training set: per channel for images, per feature for flat data (a constant
channel or feature gets std 1). The file is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ftunlearn.data.assemble import (
    RawSplit,
    assemble_dataset,
    check_test_classes_trained,
    class_count,
    integer_labels,
)
from ftunlearn.data.dataset import Dataset
from ftunlearn.data.normalisation import Normalisation
from ftunlearn.data.registry import register_dataset
from ftunlearn.errors import UnlearnError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_CHANNELS = 4
LAYOUTS = ("NCHW", "NHWC")


def find_npz(data_dir: Path | None) -> Path:
    """``data_dir`` itself when it is a file, else the single ``.npz`` file inside it."""
    usage = (
        "pass --data-dir (data_dir=) as the path of a .npz file holding "
        f"{', '.join(NPZ_KEYS)}, or of a folder holding exactly one such file"
    )
    if data_dir is None:
        raise UnlearnError(f"npz: no data file given; {usage}")
    if data_dir.is_file():
        return data_dir
    if not data_dir.is_dir():
        raise UnlearnError(f"npz: {data_dir} does not exist; {usage}")
    found = sorted(data_dir.glob("*.npz"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise UnlearnError(f"npz: {data_dir} holds {len(found)} .npz files ({names}); {usage}")
    return found[0]


def _layout(content: dict[str, np.ndarray], x: np.ndarray, source: str) -> str:
    """``"NCHW"`` or ``"NHWC"`` for 4-D samples ``x``: from ``layout`` or the channel axis."""
    if "layout" in content:
        layout = str(content["layout"]).upper()
        if layout not in LAYOUTS:
            raise UnlearnError(f"{source}: layout is {layout!r}; use one of {', '.join(LAYOUTS)}")
        return layout
    channels_first = x.shape[1] <= MAX_CHANNELS
    channels_last = x.shape[3] <= MAX_CHANNELS
    if channels_first != channels_last:
        return "NCHW" if channels_first else "NHWC"
    raise UnlearnError(
        f"{source}: cannot tell whether samples of shape {x.shape[1:]} are NCHW or NHWC; add an "
        "entry layout='NCHW' or layout='NHWC' to the .npz file"
    )


def channels_first(content: dict[str, np.ndarray], x: np.ndarray, source: str) -> np.ndarray:
    """Samples as ``(n, C, H, W)`` images or ``(n, d)`` features (see the module docstring)."""
    if x.dtype.kind not in "iuf":
        raise UnlearnError(f"{source} holds {x.dtype} samples; store integers or floats")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise UnlearnError(f"{source} holds NaN or infinite values; clean the data first")
    if x.ndim == 2:
        return x
    if x.ndim == 3:
        return x[:, None, :, :]
    if x.ndim == 4:
        if _layout(content, x, source) == "NHWC":
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x
    raise UnlearnError(
        f"{source} holds samples of shape {x.shape}; expected (n, d), (n, H, W), (n, C, H, W) "
        "or (n, H, W, C)"
    )


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file, refusing pickled objects."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise UnlearnError(
            f"{path} cannot be read as a .npz file of plain arrays ({error}); save it with "
            "numpy.savez from numeric arrays"
        ) from error


def _class_names(content: dict[str, np.ndarray], labels: list[np.ndarray], source: Path
                 ) -> tuple[str, ...]:
    if "class_names" in content:
        return tuple(str(name) for name in np.asarray(content["class_names"]).reshape(-1))
    return tuple(str(i) for i in range(class_count(labels, str(source))))


@register_dataset("npz")
def load_npz(data_dir: Path | None) -> Dataset:
    """A dataset from a user's ``.npz`` file (``data_dir`` is the file or its folder)."""
    path = find_npz(data_dir)
    content = read_npz(path)
    missing = [key for key in NPZ_KEYS if key not in content]
    if missing:
        raise UnlearnError(
            f"{path} lacks {', '.join(missing)} (it holds {', '.join(content) or 'nothing'}); "
            f"a .npz dataset needs {', '.join(NPZ_KEYS)}"
        )
    splits = []
    for part in ("train", "test"):
        source = f"{path} ({part})"
        x = channels_first(content, content[f"x_{part}"], f"{path} x_{part}")
        splits.append(RawSplit(x, integer_labels(content[f"y_{part}"], source), source))
    if splits[0].y.size == 0:
        raise UnlearnError(f"{path}: x_train and y_train are empty; they need at least one sample")
    class_names = _class_names(content, [split.y for split in splits], path)
    check_test_classes_trained(splits[0].y, splits[1].y, splits[1].source)
    return assemble_dataset(
        name="npz",
        train=splits[0],
        test=splits[1],
        normalisation=Normalisation.fitted_to(splits[0].x),
        num_classes=len(class_names),
        class_names=class_names,
    )

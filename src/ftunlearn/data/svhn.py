"""SVHN (cropped digits) from the official ``train_32x32.mat`` and ``test_32x32.mat`` files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ftunlearn.data.assemble import RawSplit, assemble_dataset, integer_labels
from ftunlearn.data.dataset import Dataset
from ftunlearn.data.files import locate_files
from ftunlearn.data.normalisation import Normalisation
from ftunlearn.data.registry import register_dataset
from ftunlearn.errors import UnlearnError

_MAT_ERRORS = (
    scipy.io.matlab.MatReadError,
    ValueError,
    TypeError,
    OSError,
    IndexError,
    NotImplementedError,
)

SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")

# Per-channel mean and std of the 73 257 training images on [0, 1].
SVHN_NORMALISATION = Normalisation(mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970))


def read_svhn_mat(path: Path) -> RawSplit:
    """Images ``(n, 3, 32, 32)`` and labels 0-9 of one SVHN .mat file.

    The file stores ``X`` as ``(height, width, channel, n)`` uint8 and ``y`` as ``(n, 1)``
    with the digit 0 labelled 10; here 10 becomes 0.
    """
    try:
        content = scipy.io.loadmat(path, variable_names=("X", "y"))
    except _MAT_ERRORS as error:
        raise UnlearnError(
            f"{path} cannot be read as a MATLAB file ({error}); use the official SVHN files"
        ) from error
    if "X" not in content or "y" not in content:
        raise UnlearnError(f"{path} lacks the variables X and y of an SVHN file")
    images, labels = content["X"], integer_labels(content["y"], str(path))
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[2] != 3:
        raise UnlearnError(
            f"{path}: X is a {images.dtype} array of shape {images.shape}; expected uint8 "
            "(height, width, 3, n)"
        )
    labels = np.where(labels == 10, 0, labels)
    return RawSplit(np.ascontiguousarray(images.transpose(3, 2, 0, 1)), labels, str(path))


@register_dataset("svhn")
def load_svhn(data_dir: Path | None) -> Dataset:
    """SVHN: 73 257 + 26 032 colour 32x32 images of house-number digits (no ``extra`` set)."""
    hint = "Download them from the SVHN site (format 2) and point --data-dir (data_dir=) to them"
    train_path, test_path = locate_files("svhn", data_dir, SVHN_FILES, hint)
    return assemble_dataset(
        name="svhn",
        train=read_svhn_mat(train_path),
        test=read_svhn_mat(test_path),
        normalisation=SVHN_NORMALISATION,
        num_classes=10,
        class_names=tuple(str(digit) for digit in range(10)),
    )

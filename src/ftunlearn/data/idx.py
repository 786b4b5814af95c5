"""The idx format (MNIST, Fashion-MNIST), gzipped or not, and the two datasets stored in it.

An idx file is a 4-byte magic number ``0x00 0x00 <dtype code> <number of dims>``, then one
big-endian uint32 per dimension, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ftunlearn.data.assemble import RawSplit, assemble_dataset
from ftunlearn.data.dataset import Dataset
from ftunlearn.data.files import locate_files
from ftunlearn.data.normalisation import Normalisation
from ftunlearn.data.registry import register_dataset
from ftunlearn.errors import UnlearnError

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""The idx dtype codes and the numpy dtypes they stand for."""

GZIP_MAGIC = b"\x1f\x8b"

IDX_FILE_NAMES = (
    "train-images-idx3-ubyte[.gz]",
    "train-labels-idx1-ubyte[.gz]",
    "t10k-images-idx3-ubyte[.gz]",
    "t10k-labels-idx1-ubyte[.gz]",
)
"""The four files of an MNIST-style dataset; ``[.gz]``: gzipped or not."""

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where the Debian package ``dataset-fashion-mnist`` installs the files."""

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def parse_idx(content: bytes, source: str) -> np.ndarray:
    """The array stored in idx bytes (already decompressed), in native byte order.

    Validates the magic number, the dtype code, the dimensions and that the payload has
    exactly the announced size; ``source`` names the file in error messages.
    """
    if len(content) < 4 or content[0] != 0 or content[1] != 0:
        raise UnlearnError(
            f"{source} is not an idx file: it must start with two zero bytes, a dtype code and "
            "the number of dimensions"
        )
    code, ndim = content[2], content[3]
    dtype = IDX_DTYPES.get(code)
    if dtype is None:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise UnlearnError(f"{source} has idx dtype code 0x{code:02X}; known codes: {known}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(content) < header:
        raise UnlearnError(
            f"{source} announces {ndim} dimensions but its header is incomplete or empty; "
            "the file is truncated or not an idx file"
        )
    dims = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(content) != expected:
        raise UnlearnError(
            f"{source} announces an array of shape {dims} ({expected} bytes with its header) but "
            f"holds {len(content)} bytes; the file is truncated or corrupt, fetch it again"
        )
    values = np.frombuffer(content, dtype=dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path) -> np.ndarray:
    """The array in the idx file ``path``; gzip is detected from the content, not the name."""
    content = path.read_bytes()
    if content[:2] == GZIP_MAGIC:
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError, zlib.error) as error:
            raise UnlearnError(
                f"{path} looks gzipped but cannot be decompressed ({error}); fetch it again"
            ) from error
    return parse_idx(content, str(path))


@dataclass(frozen=True)
class IdxDatasetInfo:
    """What distinguishes one MNIST-style dataset from another."""

    name: str
    normalisation: Normalisation
    class_names: tuple[str, ...]
    default_dir: Path | None
    hint: str


def load_idx_dataset(info: IdxDatasetInfo, data_dir: Path | None) -> Dataset:
    """An MNIST-style dataset from the four idx files in ``data_dir`` or the default folder."""
    directory = data_dir if data_dir is not None else info.default_dir
    paths = locate_files(info.name, directory, IDX_FILE_NAMES, info.hint)
    train_x, train_y, test_x, test_y = (read_idx(path) for path in paths)
    splits = []
    for images, labels, images_path, labels_path in (
        (train_x, train_y, paths[0], paths[1]),
        (test_x, test_y, paths[2], paths[3]),
    ):
        if images.ndim != 3 or images.dtype != np.uint8:
            raise UnlearnError(
                f"{images_path} holds a {images.dtype} array of shape {images.shape}; expected "
                "uint8 images of shape (n, height, width)"
            )
        if labels.ndim != 1:
            raise UnlearnError(
                f"{labels_path} holds an array of shape {labels.shape}; expected labels (n,)"
            )
        source = f"{images_path} with {labels_path}"
        splits.append(RawSplit(images[:, None, :, :], labels, source))
    return assemble_dataset(
        name=info.name,
        train=splits[0],
        test=splits[1],
        normalisation=info.normalisation,
        num_classes=len(info.class_names),
        class_names=info.class_names,
    )


FASHION_MNIST = IdxDatasetInfo(
    name="fashion-mnist",
    # Mean and std of the 60 000 training images' pixels on [0, 1].
    normalisation=Normalisation(mean=(0.2860,), std=(0.3530,)),
    class_names=FASHION_MNIST_CLASSES,
    default_dir=FASHION_MNIST_DIR,
    hint=(
        f"`apt-get install dataset-fashion-mnist` installs them in {FASHION_MNIST_DIR}, or "
        "point --data-dir (data_dir=) to a folder holding them"
    ),
)

MNIST = IdxDatasetInfo(
    name="mnist",
    # The customary MNIST statistics: mean and std of the training pixels on [0, 1].
    normalisation=Normalisation(mean=(0.1307,), std=(0.3081,)),
    class_names=tuple(str(digit) for digit in range(10)),
    default_dir=None,
    hint="Point --data-dir (data_dir=) to the folder holding the MNIST idx files",
)


@register_dataset("fashion-mnist")
def load_fashion_mnist(data_dir: Path | None) -> Dataset:
    """Fashion-MNIST: 60 000 + 10 000 grey 28x28 images of 10 clothing classes."""
    return load_idx_dataset(FASHION_MNIST, data_dir)


@register_dataset("mnist")
def load_mnist(data_dir: Path | None) -> Dataset:
    """MNIST: 60 000 + 10 000 grey 28x28 images of handwritten digits."""
    return load_idx_dataset(MNIST, data_dir)

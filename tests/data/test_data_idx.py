"""The idx reader and the MNIST / Fashion-MNIST loaders on small files written in the format."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ftunlearn.data import load_dataset
from ftunlearn.data.idx import parse_idx, read_idx
from ftunlearn.errors import UnlearnError

CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx encoding of ``array``, written from the format's definition."""
    big_endian = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = bytes([0, 0, CODES[big_endian], array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(big_endian).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool) -> None:
    content = idx_bytes(array)
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)


def make_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_mnist_dir(directory: Path, gz: bool, n_train: int = 20, n_test: int = 10) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    train_x, train_y = make_images(n_train, seed=1)
    test_x, test_y = make_images(n_test, seed=2)
    for name, array in (
        ("train-images-idx3-ubyte", train_x),
        ("train-labels-idx1-ubyte", train_y),
        ("t10k-images-idx3-ubyte", test_x),
        ("t10k-labels-idx1-ubyte", test_y),
    ):
        write_idx(directory / name, array, gz)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


@pytest.mark.parametrize("dtype", list(CODES))
def test_parse_idx_reads_every_dtype_code_in_big_endian(dtype: np.dtype) -> None:
    first = 0 if dtype == np.uint8 else -5  # negative values for the signed and float codes
    array = np.arange(first, first + 24).reshape(2, 3, 4).astype(dtype)
    parsed = parse_idx(idx_bytes(array), "test")
    assert parsed.shape == (2, 3, 4)
    assert parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, array)


def test_parse_idx_hand_written_header() -> None:
    content = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(parse_idx(content, "x"), [[1, 2, 3], [4, 5, 6]])
    int32 = bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 1, 2])
    assert parse_idx(int32, "x").tolist() == [258]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes([1, 0, 0x08, 1, 0, 0, 0, 1, 7]), "not an idx file"),
        (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]), "dtype code 0x0A"),
        (bytes([0, 0, 0x08, 2, 0, 0, 0, 1]), "header is incomplete"),
        (bytes([0, 0, 0x08, 0]), "header is incomplete"),
        (bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 7]), "truncated or corrupt"),
        (bytes([0, 0, 0x08, 1, 0, 0, 0, 1, 7, 7]), "truncated or corrupt"),
        (b"", "not an idx file"),
    ],
)
def test_parse_idx_rejects_bad_headers(content: bytes, message: str) -> None:
    with pytest.raises(UnlearnError, match=message):
        parse_idx(content, "bad.idx")


def test_read_idx_detects_gzip_by_content(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "named-plain").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "named-plain"), array)
    (tmp_path / "broken.gz").write_bytes(gzip.compress(idx_bytes(array))[:-12])
    with pytest.raises(UnlearnError, match="cannot be decompressed"):
        read_idx(tmp_path / "broken.gz")


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_from_data_dir(tmp_path: Path, gz: bool) -> None:
    raw = write_mnist_dir(tmp_path, gz)
    data = load_dataset("fashion-mnist", tmp_path)
    assert data.x_train.shape == (20, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    expected = (raw["train_x"][:, None].astype(np.float64) / 255 - 0.2860) / 0.3530
    np.testing.assert_allclose(data.x_train.numpy(), expected, atol=2e-6)
    np.testing.assert_array_equal(data.y_test.numpy(), raw["test_y"])


def test_fingerprint_is_content_not_compression(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path / "plain", gz=False)
    write_mnist_dir(tmp_path / "gz", gz=True)
    plain = load_dataset("mnist", tmp_path / "plain")
    assert plain.fingerprint == load_dataset("mnist", tmp_path / "gz").fingerprint
    assert plain.fingerprint == load_dataset("mnist", tmp_path / "plain").fingerprint
    assert plain.fingerprint != load_dataset("fashion-mnist", tmp_path / "plain").fingerprint


def test_mnist_normalisation_constants(tmp_path: Path) -> None:
    raw = write_mnist_dir(tmp_path, gz=False)
    data = load_dataset("mnist", tmp_path)
    expected = (raw["test_x"][:, None].astype(np.float64) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(data.x_test.numpy(), expected, atol=2e-6)
    assert data.class_names == tuple("0123456789")


@pytest.mark.parametrize("changed", ["pixel", "label"])
def test_fingerprint_changes_with_one_value(tmp_path: Path, changed: str) -> None:
    raw = write_mnist_dir(tmp_path, gz=True)
    before = load_dataset("mnist", tmp_path).fingerprint
    if changed == "pixel":
        images = raw["train_x"].copy()
        images[3, 5, 7] ^= 1
        write_idx(tmp_path / "train-images-idx3-ubyte", images, gz=True)
    else:
        labels = raw["test_y"].copy()
        labels[0] = (labels[0] + 1) % 10
        write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, gz=True)
    assert load_dataset("mnist", tmp_path).fingerprint != before


def test_missing_fashion_mnist_files_name_the_package_and_the_option(tmp_path: Path) -> None:
    with pytest.raises(UnlearnError) as error:
        load_dataset("fashion-mnist", tmp_path / "absent")
    message = str(error.value)
    assert "train-images-idx3-ubyte[.gz]" in message and "t10k-labels-idx1-ubyte[.gz]" in message
    assert str(tmp_path / "absent") in message
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message


def test_one_missing_file_is_named(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, gz=True)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(UnlearnError, match=r"missing: t10k-images-idx3-ubyte\[\.gz\]\."):
        load_dataset("mnist", tmp_path)


def test_mnist_without_data_dir_asks_for_one() -> None:
    with pytest.raises(UnlearnError, match=r"no data directory was given.*--data-dir"):
        load_dataset("mnist")


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    raw = write_mnist_dir(tmp_path, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", raw["train_y"][:-1], gz=False)
    with pytest.raises(UnlearnError, match="holds 20 samples but 19 labels"):
        load_dataset("mnist", tmp_path)


def test_labels_out_of_range_are_refused(tmp_path: Path) -> None:
    raw = write_mnist_dir(tmp_path, gz=False)
    labels = raw["train_y"].copy()
    labels[4] = 10
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels, gz=False)
    with pytest.raises(UnlearnError, match=r"range over \[0, 10\] but must lie in \[0, 9\]"):
        load_dataset("mnist", tmp_path)


def test_images_must_be_three_dimensional_uint8(tmp_path: Path) -> None:
    write_mnist_dir(tmp_path, gz=False)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((10, 784), np.uint8), gz=False)
    with pytest.raises(UnlearnError, match=r"expected uint8 images of shape \(n, height, width\)"):
        load_dataset("mnist", tmp_path)

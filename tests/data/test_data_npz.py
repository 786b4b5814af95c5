"""The npz loader: layouts, statistics from the training set, and every refusal."""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ftunlearn.data import load_dataset
from ftunlearn.errors import UnlearnError


def save(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def images_nchw(n: int, seed: int, channels: int = 3, size: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)


def test_nhwc_and_nchw_files_give_the_same_tensors(tmp_path: Path) -> None:
    x_train, x_test = images_nchw(10, 0), images_nchw(4, 1)
    y_train, y_test = np.arange(10) % 3, np.array([0, 1, 2, 1])
    nchw = save(
        tmp_path / "nchw.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test
    )
    nhwc = save(
        tmp_path / "nhwc.npz",
        x_train=x_train.transpose(0, 2, 3, 1),
        y_train=y_train,
        x_test=x_test.transpose(0, 2, 3, 1),
        y_test=y_test,
    )
    a, b = load_dataset("npz", nchw), load_dataset("npz", nhwc)
    assert a.x_train.shape == (10, 3, 6, 6) and a.input_shape == (3, 6, 6)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert a.fingerprint == b.fingerprint
    assert a.num_classes == 3 and a.class_names == ("0", "1", "2")


def test_statistics_come_from_the_training_set_per_channel(tmp_path: Path) -> None:
    x_train, x_test = images_nchw(10, 0).astype(np.float64), images_nchw(4, 1)
    path = save(
        tmp_path / "d.npz",
        x_train=x_train,
        y_train=np.zeros(10, int),
        x_test=x_test,
        y_test=np.zeros(4, int),
    )
    data = load_dataset("npz", path)
    mean = x_train.mean(axis=(0, 2, 3))[None, :, None, None]
    std = x_train.std(axis=(0, 2, 3))[None, :, None, None]
    np.testing.assert_allclose(data.x_train.numpy(), (x_train - mean) / std, atol=1e-5)
    np.testing.assert_allclose(data.x_test.numpy(), (x_test - mean) / std, atol=1e-5)
    assert data.x_train.double().mean(dim=(0, 2, 3)).abs().max() < 1e-5


def test_flat_features_are_standardised_per_feature_and_constants_map_to_zero(
    tmp_path: Path,
) -> None:
    x_train = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]])
    x_test = np.array([[3.0, 7.0, 5.0]])
    path = save(
        tmp_path / "f.npz",
        x_train=x_train,
        y_train=np.array([0, 1, 1]),
        x_test=x_test,
        y_test=np.array([[1]]),
    )
    data = load_dataset("npz", path)
    assert data.input_shape == (3,) and data.num_classes == 2
    # Feature 0: mean 3, std sqrt(8/3); feature 1 is constant (std taken as 1); feature 2:
    # mean 5, std sqrt(38/3).
    expected_test = [[0.0, 2.0, 0.0]]
    np.testing.assert_allclose(data.x_test.numpy(), expected_test, atol=1e-6)
    assert data.x_train[0, 0].item() == pytest.approx(-2 / np.sqrt(8 / 3), abs=1e-6)
    assert data.x_train[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert data.y_test.tolist() == [1]


def test_grey_images_get_a_channel_and_names_come_from_the_file(tmp_path: Path) -> None:
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    path = save(
        tmp_path / "g.npz",
        x_train=x,
        y_train=np.array([0, 3]),
        x_test=x,
        y_test=np.array([3, 0]),
        class_names=np.array(["a", "b", "c", "d", "e"]),
    )
    data = load_dataset("npz", path)
    assert data.x_train.shape == (2, 1, 4, 4)
    assert data.num_classes == 5 and data.class_names == ("a", "b", "c", "d", "e")


def test_layout_entry_settles_ambiguous_shapes(tmp_path: Path) -> None:
    x = images_nchw(3, 0, channels=2, size=3)  # (3, 2, 3, 3): both axes could be channels
    arrays = {"x_train": x, "y_train": np.array([0, 1, 0]), "x_test": x, "y_test": [1, 0, 1]}
    with pytest.raises(UnlearnError, match="add an entry layout='NCHW' or layout='NHWC'"):
        load_dataset("npz", save(tmp_path / "a.npz", **arrays))
    as_nchw = load_dataset("npz", save(tmp_path / "b.npz", layout=np.array("NCHW"), **arrays))
    as_nhwc = load_dataset("npz", save(tmp_path / "c.npz", layout=np.array("nhwc"), **arrays))
    assert as_nchw.input_shape == (2, 3, 3) and as_nhwc.input_shape == (3, 2, 3)
    with pytest.raises(UnlearnError, match="layout is 'CHWN'"):
        load_dataset("npz", save(tmp_path / "d.npz", layout=np.array("CHWN"), **arrays))


def test_folder_with_one_npz_is_accepted_and_fingerprint_tracks_content(tmp_path: Path) -> None:
    arrays = {
        "x_train": images_nchw(5, 0),
        "y_train": np.arange(5),
        "x_test": images_nchw(2, 1),
        "y_test": np.array([4, 0]),
    }
    save(tmp_path / "mine.npz", **arrays)
    first = load_dataset("npz", tmp_path)
    assert first.num_classes == 5
    assert load_dataset("npz", str(tmp_path / "mine.npz")).fingerprint == first.fingerprint
    arrays["y_test"] = np.array([4, 1])
    save(tmp_path / "mine.npz", **arrays)
    assert load_dataset("npz", tmp_path).fingerprint != first.fingerprint


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x_train": np.zeros((2, 3)), "y_train": [0, 1]}, "lacks x_test, y_test"),
        ({"y_train": [0.5, 1.0]}, "not whole numbers"),
        ({"y_train": [0, 1, 1]}, "holds 2 samples but 3 labels"),
        ({"y_train": [0, -1]}, r"negative label -1 \(labels range over \[-1, 1\]\)"),
        ({"y_train": [[0, 1]]}, r"shape \(1, 2\)"),
        ({"x_train": np.zeros((2, 4))}, r"training samples have shape \(4,\)"),
        ({"x_train": np.array([[np.nan, 1, 2], [0, 1, 2]])}, "NaN or infinite"),
        ({"x_train": np.zeros((2, 3, 3, 3, 3))}, r"expected \(n, d\), \(n, H, W\)"),
        ({"x_train": np.zeros((0, 3)), "y_train": np.zeros(0, int)}, "are empty"),
        ({"x_train": np.array([["a", "b", "c"]] * 2)}, "store integers or floats"),
    ],
)
def test_bad_contents_are_refused(tmp_path: Path, arrays: dict, message: str) -> None:
    base = {
        "x_train": np.zeros((2, 3)),
        "y_train": [0, 1],
        "x_test": np.zeros((1, 3)),
        "y_test": [1],
    }
    if "lacks" in message:
        base = {}
    path = save(tmp_path / "bad.npz", **{**base, **arrays})
    with pytest.raises(UnlearnError, match=message):
        load_dataset("npz", path)


def test_files_that_cannot_be_found_or_read(tmp_path: Path) -> None:
    with pytest.raises(UnlearnError, match="npz: no data file given"):
        load_dataset("npz")
    with pytest.raises(UnlearnError, match="does not exist"):
        load_dataset("npz", tmp_path / "nothing")
    with pytest.raises(UnlearnError, match=r"holds 0 .npz files \(none\)"):
        load_dataset("npz", tmp_path)
    (tmp_path / "a.npz").write_bytes(b"not a zip")
    with pytest.raises(UnlearnError, match=r"cannot be read as a \.npz file"):
        load_dataset("npz", tmp_path)
    (tmp_path / "b.npz").write_bytes(b"")
    with pytest.raises(UnlearnError, match=r"holds 2 .npz files \(a.npz, b.npz\)"):
        load_dataset("npz", tmp_path)
    objects = np.empty(2, dtype=object)
    path = save(tmp_path / "c.npz", x_train=objects, y_train=[0, 1], x_test=objects, y_test=[0])
    with pytest.raises(UnlearnError, match=r"cannot be read as a \.npz file of plain arrays"):
        load_dataset("npz", path)


MEMORY_CAP = 2 << 30
"""Bytes of data the 1e9-label load may use: before the bound it grew to 22 GB."""


@contextlib.contextmanager
def data_capped(extra: int) -> Iterator[None]:
    """Inside, this process may map at most ``extra`` more bytes of data (RLIMIT_DATA, which
    counts what /proc reports as VmData): an allocation past it fails with a MemoryError
    instead of taking the machine down. The limit is restored on the way out."""
    status = Path("/proc/self/status")
    if not status.is_file():
        pytest.skip("needs Linux's /proc/self/status to cap this process's memory")
    used = next(int(line.split()[1]) * 1024 for line in status.read_text().splitlines()
                if line.startswith("VmData:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def test_the_cap_turns_an_allocation_past_it_into_a_memory_error() -> None:
    with data_capped(MEMORY_CAP), pytest.raises(MemoryError):
        np.empty(2 * MEMORY_CAP, dtype=np.uint8)  # never touched: costs nothing uncapped
    np.empty(2 * MEMORY_CAP, dtype=np.uint8)  # and the limit is gone again


def test_a_label_of_1e9_is_refused_before_any_per_class_allocation(tmp_path: Path) -> None:
    y_train = np.arange(20) % 2
    y_train[7] = 10**9
    path = save(tmp_path / "huge.npz", x_train=np.ones((20, 3), np.float32), y_train=y_train,
                x_test=np.ones((4, 3), np.float32), y_test=np.array([0, 1, 0, 1]))
    with data_capped(MEMORY_CAP), pytest.raises(UnlearnError) as refused:
        load_dataset("npz", path)
    assert "largest label 1000000000 implies 1000000001 classes but only 3 distinct" in str(
        refused.value)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 1, -1, 0], "negative label -1"),
        ([0, 1, 5000, 0], "only 3 distinct labels"),
    ],
)
def test_negative_labels_and_sparse_class_counts_are_refused(tmp_path: Path, labels, message):
    path = save(tmp_path / "d.npz", x_train=np.ones((4, 3), np.float32), y_train=np.array(labels),
                x_test=np.ones((2, 3), np.float32), y_test=np.array([0, 1]))
    with pytest.raises(UnlearnError, match=message):
        load_dataset("npz", path)


def test_a_few_empty_classes_are_accepted(tmp_path: Path) -> None:
    path = save(tmp_path / "d.npz", x_train=np.ones((4, 3), np.float32),
                y_train=np.array([0, 1, 9, 0]), x_test=np.ones((2, 3), np.float32),
                y_test=np.array([0, 1]))
    assert load_dataset("npz", path).num_classes == 10

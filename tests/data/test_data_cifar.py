"""The CIFAR-10/100 loaders on small batches pickled the way the official archives are."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ftunlearn.data import load_dataset
from ftunlearn.errors import UnlearnError

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def batch(n: int, seed: int, label_key: bytes, num_classes: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"testing batch",
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        label_key: [int(v) for v in rng.integers(0, num_classes, size=n)],
    }


def dump(path: Path, content: object) -> None:
    path.write_bytes(pickle.dumps(content, protocol=2))


def write_cifar10(directory: Path, per_batch: int = 3) -> list[dict]:
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = [batch(per_batch, seed, b"labels", 10) for seed in range(len(names))]
    for name, content in zip(names, batches, strict=True):
        dump(directory / name, content)
    return batches


def write_cifar100(directory: Path, n: int = 7) -> list[dict]:
    directory.mkdir(parents=True, exist_ok=True)
    batches = [batch(n, seed, b"fine_labels", 100) for seed in (10, 11)]
    for content in batches:
        content[b"coarse_labels"] = [0] * n
    dump(directory / "train", batches[0])
    dump(directory / "test", batches[1])
    return batches


def test_cifar10_concatenates_batches_in_order_and_keeps_planes(tmp_path: Path) -> None:
    batches = write_cifar10(tmp_path)
    data = load_dataset("cifar10", tmp_path)
    assert data.x_train.shape == (15, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10
    assert data.class_names[1] == "automobile"
    expected_y = [label for content in batches[:5] for label in content[b"labels"]]
    assert data.y_train.tolist() == expected_y and data.y_train.dtype == torch.int64
    # Row layout of the official batches: 1024 red, then 1024 green, then 1024 blue values.
    row = batches[1][b"data"][2].astype(np.float64)
    for channel in range(3):
        plane = row[1024 * channel : 1024 * (channel + 1)].reshape(32, 32)
        expected = (plane / 255 - CIFAR10_MEAN[channel]) / CIFAR10_STD[channel]
        np.testing.assert_allclose(data.x_train[3 + 2, channel].numpy(), expected, atol=2e-6)


def test_cifar10_found_in_the_archive_folder_and_meta_names_used(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    names = [f"c{i}".encode() for i in range(10)]
    dump(folder / "batches.meta", {b"label_names": names, b"num_vis": 3072})
    from_parent = load_dataset("cifar10", tmp_path)
    assert from_parent.class_names == tuple(f"c{i}" for i in range(10))
    assert from_parent.fingerprint == load_dataset("cifar10", folder).fingerprint


def test_cifar100_uses_fine_labels_and_meta(tmp_path: Path) -> None:
    batches = write_cifar100(tmp_path / "cifar-100-python")
    fine_names = [f"fine{i}".encode() for i in range(100)]
    dump(tmp_path / "cifar-100-python" / "meta", {b"fine_label_names": fine_names})
    data = load_dataset("cifar100", tmp_path)
    assert data.num_classes == 100 and data.class_names[42] == "fine42"
    assert data.y_test.tolist() == batches[1][b"fine_labels"]
    means = data.x_train.double().mean(dim=(0, 2, 3))
    raw = batches[0][b"data"].reshape(-1, 3, 1024).astype(np.float64) / 255
    expected = (raw.mean(axis=(0, 2)) - np.array([0.5071, 0.4865, 0.4409])) / np.array(
        [0.2673, 0.2564, 0.2762]
    )
    np.testing.assert_allclose(means.numpy(), expected, atol=1e-5)


def test_cifar100_without_meta_numbers_its_classes(tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    assert load_dataset("cifar100", tmp_path).class_names[:3] == ("0", "1", "2")


def test_python3_string_keys_are_accepted(tmp_path: Path) -> None:
    batches = write_cifar10(tmp_path)
    reference = load_dataset("cifar10", tmp_path).fingerprint
    dump(tmp_path / "test_batch", {k.decode(): v for k, v in batches[5].items()})
    assert load_dataset("cifar10", tmp_path).fingerprint == reference


def test_pickles_with_other_globals_are_refused(tmp_path: Path) -> None:
    class Smuggled:
        def __reduce__(self) -> tuple:
            return (print, ("this must never run",))

    write_cifar10(tmp_path)
    dump(tmp_path / "data_batch_3", {b"data": Smuggled(), b"labels": [0]})
    with pytest.raises(UnlearnError, match=r"data_batch_3 is not a CIFAR python batch.*print"):
        load_dataset("cifar10", tmp_path)


def test_missing_label_key_is_reported(tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    content = batch(4, 0, b"coarse_labels", 20)
    dump(tmp_path / "test", content)
    with pytest.raises(UnlearnError, match=r"keys b'data' and b'fine_labels'"):
        load_dataset("cifar100", tmp_path)


def test_wrong_row_length_is_reported(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    dump(tmp_path / "test_batch", {b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]})
    with pytest.raises(UnlearnError, match=r"shape \(2, 3000\); expected uint8 of shape"):
        load_dataset("cifar10", tmp_path)


def test_not_a_pickle_is_reported(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(b"plain text, not a pickle")
    with pytest.raises(UnlearnError, match="data_batch_1 is not a CIFAR python batch"):
        load_dataset("cifar10", tmp_path)


def test_missing_batches_are_listed(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(UnlearnError, match=r"data_batch_1, .*test_batch .*missing: data_batch_4\."):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(UnlearnError, match=r"no data directory was given.*cifar-100-python"):
        load_dataset("cifar100")

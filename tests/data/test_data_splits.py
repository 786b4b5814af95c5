"""Forget specs and splits: each spec kind, seed determinism and every validation error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ftunlearn.data import (
    ClassSpec,
    Dataset,
    IndicesSpec,
    RandomSpec,
    Split,
    describe_forget_spec,
    make_split,
    parse_forget_spec,
)
from ftunlearn.errors import UnlearnError


def dataset(labels: list[int], num_classes: int) -> Dataset:
    y = torch.tensor(labels, dtype=torch.int64)
    x = torch.zeros(len(labels), 2)
    return Dataset("toy", x, y, x[:1], y[:1], num_classes, (2,), "toy-fingerprint")


# 100 samples: class c has 10 * (c + 1) samples for c = 0..3, class 4 has none.
LABELS = [c for c in range(4) for _ in range(10 * (c + 1))]
TOY = dataset(LABELS, num_classes=5)


def check_partition(split: Split, n: int) -> None:
    forget, retain = split.forget.numpy(), split.retain.numpy()
    assert split.forget.dtype == torch.int64 and split.retain.dtype == torch.int64
    assert np.all(np.diff(forget) > 0) and np.all(np.diff(retain) > 0)
    assert sorted(np.concatenate([forget, retain]).tolist()) == list(range(n))


def test_random_fraction_count_and_nesting() -> None:
    split = make_split(TOY, "random:0.25", seed=4)
    check_partition(split, 100)
    assert split.n_forget == 25 and split.n_retain == 75 and split.forgotten_classes == ()
    assert split.spec == "random:0.25" and split.seed == 4
    larger = make_split(TOY, "random:0.5", seed=4)
    assert set(split.forget.tolist()) < set(larger.forget.tolist())
    counted = make_split(TOY, "random:7", seed=4)
    assert counted.n_forget == 7 and set(counted.forget.tolist()) < set(split.forget.tolist())
    # floor(R * n + 1/2): 0.125 * 100 = 12.5 -> 13, 0.124 * 100 -> 12.
    assert make_split(TOY, "random:0.125").n_forget == 13
    assert make_split(TOY, "random:0.124").n_forget == 12


def test_random_is_seeded() -> None:
    first = make_split(TOY, "random:0.3", seed=1)
    assert torch.equal(first.forget, make_split(TOY, " random: 0.30 ", seed=1).forget)
    assert first.fingerprint == make_split(TOY, "random:.3", seed=1).fingerprint
    other = make_split(TOY, "random:0.3", seed=2)
    assert not torch.equal(first.forget, other.forget)
    assert first.fingerprint != other.fingerprint
    expected = np.sort(np.random.default_rng(1).permutation(100)[:30])
    assert first.forget.tolist() == expected.tolist()


def test_whole_classes() -> None:
    split = make_split(TOY, "class:3,1", seed=9)
    check_partition(split, 100)
    assert split.spec == "class:1,3" and split.forgotten_classes == (1, 3)
    assert split.forget.tolist() == [i for i, c in enumerate(LABELS) if c in (1, 3)]
    again = make_split(TOY, "class:1,3", seed=9)
    assert torch.equal(split.forget, again.forget) and split.fingerprint == again.fingerprint
    # The seed is part of the fingerprint even when it does not change the forget set.
    assert make_split(TOY, "class:1,3", seed=8).fingerprint != split.fingerprint


def test_fraction_of_classes_is_drawn_per_class() -> None:
    split = make_split(TOY, "class:2@0.5", seed=3)
    check_partition(split, 100)
    assert split.n_forget == 15 and split.forgotten_classes == ()
    assert bool((TOY.y_train[split.forget] == 2).all())
    both = make_split(TOY, "class:1,2@0.5", seed=3)
    assert both.n_forget == 10 + 15
    assert set(split.forget.tolist()) < set(both.forget.tolist())  # class 2 drawn the same way
    assert not torch.equal(split.forget, make_split(TOY, "class:2@0.5", seed=4).forget)


@pytest.mark.parametrize("suffix", [".npy", ".txt"])
def test_indices_files(tmp_path: Path, suffix: str) -> None:
    indices = np.array([42, 3, 17, 99, 0])
    path = tmp_path / f"forget{suffix}"
    if suffix == ".npy":
        np.save(path, indices)
    else:
        path.write_text("42\n3  17\n\t99\n0\n")
    split = make_split(TOY, f"indices:{path}")
    check_partition(split, 100)
    assert split.forget.tolist() == [0, 3, 17, 42, 99] and split.spec == f"indices:{path}"
    assert split.forgotten_classes == ()


def test_fingerprint_depends_on_the_indices(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("1 2 3")
    first = make_split(TOY, f"indices:{path}").fingerprint
    path.write_text("1 2 4")
    assert make_split(TOY, f"indices:{path}").fingerprint != first
    assert len(first) == 64 and int(first, 16) >= 0


def test_parse_and_describe() -> None:
    assert parse_forget_spec("random:0.1") == RandomSpec(fraction=0.1)
    assert parse_forget_spec("RANDOM:500") == RandomSpec(count=500)
    assert parse_forget_spec("class:5, 3") == ClassSpec(classes=(3, 5))
    assert parse_forget_spec("class:3@0.5") == ClassSpec(classes=(3,), fraction=0.5)
    assert parse_forget_spec("indices:a:b.txt") == IndicesSpec(path=Path("a:b.txt"))
    assert describe_forget_spec("random:0.1") == (
        "10% of the training set drawn uniformly at random"
    )
    assert describe_forget_spec("class:3,5") == "every training sample of classes 3, 5"
    assert describe_forget_spec("class:3@0.5") == "50% of the training samples of class 3"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("random", "malformed forget spec 'random'"),
        ("forget:0.1", "must start with one of random, class, indices"),
        ("random:", "'' is not a number"),
        ("random:ten", "'ten' is not a number"),
        ("random:nan", "'nan' is not a number"),
        ("class:", "classes must be integers"),
        ("class:3;4", "classes must be integers"),
        ("class:3@", "'' is not a number"),
        ("indices:", "indices needs a file path"),
    ],
)
def test_malformed_specs(spec: str, message: str) -> None:
    with pytest.raises(UnlearnError, match=message):
        make_split(TOY, spec)


@pytest.mark.parametrize(
    "spec",
    ["random:0", "random:0.0", "random:1.0", "random:1.5", "random:-0.2", "class:2@1", "class:2@0"],
)
def test_fractions_out_of_range(spec: str) -> None:
    expected = "selects no training sample" if spec == "random:0" else "is out of range"
    with pytest.raises(UnlearnError, match=expected):
        make_split(TOY, spec)


def test_empty_forget_sets() -> None:
    with pytest.raises(UnlearnError, match="selects no training sample out of 100"):
        make_split(TOY, "random:0.004")
    with pytest.raises(UnlearnError, match="class 4 has no training samples"):
        make_split(TOY, "class:1,4")
    with pytest.raises(UnlearnError, match="selects no training sample"):
        make_split(TOY, "class:0@0.04")  # 0.04 * 10 rounds to 0


def test_forgetting_everything_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnlearnError, match="selects all 100 training samples"):
        make_split(TOY, "class:0,1,2,3")
    with pytest.raises(UnlearnError, match="selects all 100 training samples"):
        make_split(TOY, "random:100")
    with pytest.raises(UnlearnError, match="asks for 101 samples but the training set has 100"):
        make_split(TOY, "random:101")
    path = tmp_path / "all.npy"
    np.save(path, np.arange(100))
    with pytest.raises(UnlearnError, match="selects all 100"):
        make_split(TOY, f"indices:{path}")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("class:5", "unknown class 5"),
        ("class:-1", "unknown class -1"),
        ("class:1,2,1", "lists class 1 more than once"),
    ],
)
def test_class_errors(spec: str, message: str) -> None:
    with pytest.raises(UnlearnError, match=message):
        make_split(TOY, spec)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("3 100", "index 100 is out of range; training indices run from 0 to 99"),
        ("-1 4", "index -1 is out of range"),
        ("5 7 5 9 7", r"index 5 is listed more than once \(2 duplicate\(s\)"),
        ("", "selects no training sample"),
        ("1 2.5", "contains '2.5', which is not an integer"),
    ],
)
def test_index_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "f.txt"
    path.write_text(content)
    with pytest.raises(UnlearnError, match=message):
        make_split(TOY, f"indices:{path}")


def test_index_file_format_errors(tmp_path: Path) -> None:
    with pytest.raises(UnlearnError, match="does not exist"):
        make_split(TOY, f"indices:{tmp_path / 'absent.npy'}")
    (tmp_path / "f.csv").write_text("1,2")
    with pytest.raises(UnlearnError, match=r"must end in .npy or .txt, not '.csv'"):
        make_split(TOY, f"indices:{tmp_path / 'f.csv'}")
    np.save(tmp_path / "float.npy", np.array([1.0, 2.0]))
    with pytest.raises(UnlearnError, match="holds float64 values; save integer indices"):
        make_split(TOY, f"indices:{tmp_path / 'float.npy'}")
    (tmp_path / "broken.npy").write_bytes(b"garbage")
    with pytest.raises(UnlearnError, match=r"not a readable \.npy array"):
        make_split(TOY, f"indices:{tmp_path / 'broken.npy'}")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_seed_must_be_a_non_negative_integer(seed: object) -> None:
    with pytest.raises(UnlearnError, match="non-negative integer"):
        make_split(TOY, "random:0.1", seed=seed)  # type: ignore[arg-type]


def test_stratified_subsample_keeps_label_proportions_and_is_seeded():
    from ftunlearn.data.splits import stratified_subsample

    labels = np.repeat(np.arange(4), [400, 300, 200, 100])
    rows = stratified_subsample(labels, 100, seed=3)
    assert rows.size == 100 and np.all(np.diff(rows) > 0)
    assert np.bincount(labels[rows]).tolist() == [40, 30, 20, 10]
    np.testing.assert_array_equal(rows, stratified_subsample(labels, 100, seed=3))
    assert not np.array_equal(rows, stratified_subsample(labels, 100, seed=4))
    np.testing.assert_array_equal(stratified_subsample(labels, None, seed=0), np.arange(1000))
    np.testing.assert_array_equal(stratified_subsample(labels, 1000, seed=0), np.arange(1000))
    # a label seen once cannot be stratified: the draw is uniform, still of the asked size
    assert stratified_subsample(np.r_[labels, 9], 50, seed=0).size == 50
    for bad in (0, -5, 2.5, True):
        with pytest.raises(UnlearnError, match="positive integer"):
            stratified_subsample(labels, bad, seed=0)

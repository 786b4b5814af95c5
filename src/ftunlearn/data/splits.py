"""Forget/retain splits of a dataset's training set, drawn from a forget spec and a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ftunlearn.data.dataset import Dataset, content_fingerprint
from ftunlearn.data.forget_specs import ClassSpec, parse_forget_spec
from ftunlearn.errors import UnlearnError
from ftunlearn.params import check_seed


@dataclass(frozen=True, eq=False)
class Split:
    """The training set cut into a forget set ``D_f`` and its complement, the retain set ``D_r``.

    ``spec`` is the canonical form of the forget spec (e.g. ``"random:0.1"``, ``"class:3,5"``).
    ``forget`` and ``retain`` are sorted int64 indices into the training set, disjoint, and
    together every training index once. ``forgotten_classes`` lists the classes forgotten
    entirely (``class:C`` specs), empty for every other spec, ``class:C@R`` included.
    """

    spec: str
    seed: int
    forget: torch.Tensor
    retain: torch.Tensor
    forgotten_classes: tuple[int, ...] = ()

    @property
    def fingerprint(self) -> str:
        """A sha256 hex digest of the spec, the seed and the forget indices: a cache key."""
        return content_fingerprint(self.forget, extra=f"split|{self.spec}|{self.seed}")

    @property
    def n_forget(self) -> int:
        return int(self.forget.shape[0])

    @property
    def n_retain(self) -> int:
        return int(self.retain.shape[0])


@dataclass(frozen=True)
class SplitSizes:
    """How many samples a split forgets and retains, and the dataset's test samples."""

    forget: int
    retain: int
    test: int

    @classmethod
    def of(cls, dataset: Dataset, split: Split) -> SplitSizes:
        return cls(split.n_forget, split.n_retain, dataset.n_test)


def _validated(forget: np.ndarray, n: int, spec: str) -> np.ndarray:
    """``forget`` sorted, after checking it is a proper, non-empty subset of ``range(n)``."""
    if forget.size == 0:
        raise UnlearnError(
            f"forget spec {spec!r} selects no training sample out of {n}; forget at least one "
            "(e.g. a larger fraction)"
        )
    outside = forget[(forget < 0) | (forget >= n)]
    if outside.size:
        raise UnlearnError(
            f"forget spec {spec!r}: index {int(outside[0])} is out of range; training indices "
            f"run from 0 to {n - 1}"
        )
    ordered = np.sort(forget)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size:
        raise UnlearnError(
            f"forget spec {spec!r}: index {int(repeated[0])} is listed more than once "
            f"({repeated.size} duplicate(s) in all); list each index once"
        )
    if ordered.size == n:
        raise UnlearnError(
            f"forget spec {spec!r} selects all {n} training samples, which leaves nothing to "
            "retain; forget a proper subset"
        )
    return ordered


def make_split(dataset: Dataset, spec: str, seed: int = 0) -> Split:
    """Cut ``dataset``'s training set by the forget ``spec``; same seed, same split.

    See ``ftunlearn.data.forget_specs`` for the spec grammar. Raises ``UnlearnError`` for a
    malformed spec, a fraction out of range, an unknown class, an index out of range, a
    duplicate index, an empty forget set or one that is the whole training set.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"make_split: dataset must be an ftunlearn Dataset (from "
                        f"ftunlearn.load_dataset), got {type(dataset).__name__}")
    if not isinstance(spec, str):
        raise TypeError(f"make_split: spec must be a forget spec text such as 'random:0.1' or "
                        f"'class:3', got {type(spec).__name__}")
    seed = check_seed(seed, "the split seed")
    parsed = parse_forget_spec(spec)
    canonical = parsed.canonical()
    labels = dataset.y_train.cpu().numpy()
    n = labels.shape[0]
    forget = _validated(parsed.select(labels, dataset.num_classes, seed), n, canonical)
    keep = np.ones(n, dtype=bool)
    keep[forget] = False
    whole = parsed.whole_classes if isinstance(parsed, ClassSpec) else ()
    return Split(
        spec=canonical,
        seed=seed,
        forget=torch.from_numpy(forget.astype(np.int64)),
        retain=torch.from_numpy(np.flatnonzero(keep).astype(np.int64)),
        forgotten_classes=whole,
    )


def stratified_subsample(labels: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """Sorted positions of at most ``cap`` of ``labels``' rows, drawn by ``seed`` in proportion
    to each label's count (all rows when there are not more than ``cap``, or ``cap`` is None).

    Labels seen only once cannot be stratified; then the draw is uniform."""
    n = len(labels)
    if cap is None or n <= cap:
        return np.arange(n)
    if isinstance(cap, bool) or not isinstance(cap, int | np.integer) or cap < 1:
        raise UnlearnError(f"a subsample size must be a positive integer or None, got {cap!r}")
    from sklearn.model_selection import train_test_split

    counts = np.unique(labels, return_counts=True)[1]
    stratify = labels if counts.min() >= 2 and cap >= counts.size else None
    chosen, _ = train_test_split(np.arange(n), train_size=int(cap), random_state=seed,
                                 stratify=stratify)
    return np.sort(chosen)

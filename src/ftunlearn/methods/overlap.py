"""Exact comparison of labelled samples: which forget samples also sit in the retain set, and
how many samples a set holds twice.

Each row is keyed by a 64-bit hash of its bytes and its label (a random odd multiplier per
8-byte word, summed modulo 2**64: exact integer arithmetic on the bytes, no float rounding); a
key match is confirmed by comparing the rows themselves, so a collision can never report a false
overlap. ``-0.0`` counts as ``0.0`` (the same input); NaN is refused before these checks run.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Protocol

import numpy as np
import torch

from ftunlearn.errors import UnlearnError

CHUNK_ROWS = 1024
"""Rows hashed at a time: keeps the temporary product in cache-sized blocks."""


class LabelledRows(Protocol):
    x: torch.Tensor
    y: torch.Tensor


def _rows(samples: LabelledRows) -> tuple[np.ndarray, np.ndarray]:
    """Each sample as one row of 8-byte words (zero padded), with its int64 label."""
    x = samples.x.detach().reshape(samples.x.shape[0], -1).cpu()
    if x.is_floating_point() and bool((torch.signbit(x) & (x == 0)).any()):
        x = x + 0.0  # IEEE: -0.0 + 0.0 == +0.0, so both zeros get the same bytes
    raw = np.ascontiguousarray(x.numpy()).view(np.uint8).reshape(x.shape[0], -1)
    if raw.shape[1] % 8:
        padded = np.zeros((raw.shape[0], -(-raw.shape[1] // 8) * 8), np.uint8)
        padded[:, :raw.shape[1]] = raw
        raw = padded
    labels = samples.y.detach().cpu().numpy().astype(np.int64)
    return raw.view(np.uint64), labels


def _keys(words: np.ndarray, labels: np.ndarray) -> np.ndarray:
    multipliers = np.random.default_rng(0).integers(
        0, 2**63, size=words.shape[1] + 1, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    keys = np.empty(words.shape[0], np.uint64)
    with np.errstate(over="ignore"):  # the hash is arithmetic modulo 2**64 by design
        for start in range(0, words.shape[0], CHUNK_ROWS):  # bounded temporaries
            block = words[start:start + CHUNK_ROWS]
            keys[start:start + CHUNK_ROWS] = (block * multipliers[:-1]).sum(axis=1,
                                                                           dtype=np.uint64)
        return keys + labels.view(np.uint64) * multipliers[-1]


def _same(rows_a: np.ndarray, labels_a: np.ndarray, i: int, rows_b: np.ndarray,
          labels_b: np.ndarray, j: int) -> bool:
    return bool(labels_a[i] == labels_b[j]) and np.array_equal(rows_a[i], rows_b[j])


def duplicate_samples(samples: LabelledRows) -> int:
    """How many samples repeat (same input bytes and label) an earlier sample of the set."""
    rows, labels = _rows(samples)
    keys = _keys(rows, labels)
    values, counts = np.unique(keys, return_counts=True)
    repeats = 0
    for key in values[counts > 1]:  # confirm each key group exactly
        distinct: list[int] = []
        for index in np.flatnonzero(keys == key):
            if any(_same(rows, labels, index, rows, labels, d) for d in distinct):
                repeats += 1
            else:
                distinct.append(int(index))
    return repeats


def shared_samples(retain: LabelledRows, forget: LabelledRows) -> int:
    """How many forget samples also appear (same input and label) in the retain set."""
    if retain.y.shape[0] == 0 or forget.y.shape[0] == 0:
        return 0
    if retain.x.shape[1:] != forget.x.shape[1:] or retain.x.dtype != forget.x.dtype:
        return 0
    retain_rows, retain_labels = _rows(retain)
    forget_rows, forget_labels = _rows(forget)
    retain_keys, forget_keys = _keys(retain_rows, retain_labels), _keys(forget_rows, forget_labels)
    candidates = np.flatnonzero(np.isin(forget_keys, retain_keys))
    by_key: dict[int, list[int]] = defaultdict(list)
    wanted = set(forget_keys[candidates].tolist())
    for index in np.flatnonzero(np.isin(retain_keys, forget_keys[candidates])):
        if int(retain_keys[index]) in wanted:
            by_key[int(retain_keys[index])].append(int(index))
    return sum(
        any(_same(forget_rows, forget_labels, int(i), retain_rows, retain_labels, j)
            for j in by_key[int(forget_keys[i])])
        for i in candidates
    )


def check_disjoint(retain: LabelledRows, forget: LabelledRows) -> None:
    """Refuse forget samples that also sit in the retain set; warn (once per message) about
    samples a set holds twice, which is allowed."""
    shared = shared_samples(retain, forget)
    if shared:
        raise UnlearnError(
            f"{shared} forget sample(s) also appear in the retain set (same input and label); "
            "the two sets must be disjoint (D_r = D minus D_f): drop those copies from one set"
        )
    for name, samples in (("D_r", retain), ("D_f", forget)):
        repeats = duplicate_samples(samples)
        if repeats:
            warnings.warn(f"{name} holds {repeats} duplicate sample(s) (allowed: each copy "
                          "counts once per epoch)", stacklevel=2)

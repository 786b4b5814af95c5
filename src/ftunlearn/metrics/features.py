"""Per-sample membership-inference features computed from a model's softmax outputs.

All logarithms are natural. Every feature maps ``(logits, labels)`` of ``n`` samples to a
float64 vector of length ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
from scipy.special import log_softmax

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics._validation import ArrayLike, as_logits, logits_and_labels

Feature = Callable[[ArrayLike, ArrayLike], np.ndarray]

# Floor for 1 − p before its logarithm: it only matters when a wrong class holds essentially
# all of the probability mass, where the exact value of log(1 − p) is −∞.
_LOG_FLOOR = 1e-30


def _log_probs(logits: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    z, y = logits_and_labels(logits, labels)
    return log_softmax(z, axis=1), y


def _log_one_minus(log_p: np.ndarray) -> np.ndarray:
    """log(1 − p) from log p, accurate for small p and floored at log(_LOG_FLOOR)."""
    return np.log(np.maximum(-np.expm1(log_p), _LOG_FLOOR))


def softmax_probabilities(logits: ArrayLike) -> np.ndarray:
    """Softmax of each row of ``logits`` (float64)."""
    return np.exp(log_softmax(as_logits(logits), axis=1))


def confidence(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """The softmax probability of the true label, ``p_y``."""
    log_p, y = _log_probs(logits, labels)
    return np.exp(log_p[np.arange(y.shape[0]), y])


def entropy(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """The Shannon entropy ``−Σ_i p_i log p_i`` of the softmax output (labels only checked)."""
    log_p, _ = _log_probs(logits, labels)
    return -np.sum(np.exp(log_p) * log_p, axis=1)


def modified_entropy(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Song & Mittal's modified entropy ``−(1−p_y) log p_y − Σ_{i≠y} p_i log(1−p_i)``.

    Low for confident correct predictions, high for confident wrong ones. Unlike the SalUn
    reference code, the second term uses ``log(1 − p_i)`` of each sample's own wrong classes.
    """
    log_p, y = _log_probs(logits, labels)
    rows = np.arange(y.shape[0])
    p = np.exp(log_p)
    log_p_y = log_p[rows, y]
    one_minus_p_y = -np.expm1(log_p_y)
    true_term = -one_minus_p_y * log_p_y
    wrong_terms = -p * _log_one_minus(log_p)
    wrong_terms[rows, y] = 0.0
    return true_term + np.sum(wrong_terms, axis=1)


def cross_entropy(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """The per-sample cross-entropy loss ``−log p_y``."""
    log_p, y = _log_probs(logits, labels)
    return -log_p[np.arange(y.shape[0]), y]


MIA_FEATURES: Mapping[str, Feature] = MappingProxyType(
    {
        "confidence": confidence,
        "entropy": entropy,
        "modified_entropy": modified_entropy,
        "loss": cross_entropy,
    }
)
"""Membership-inference features by name (read-only)."""


def get_feature(name: str) -> Feature:
    """The feature registered under ``name``."""
    try:
        return MIA_FEATURES[name]
    except KeyError:
        raise UnlearnError(
            f"unknown MIA feature {name!r}; choose one of {', '.join(sorted(MIA_FEATURES))}"
        ) from None

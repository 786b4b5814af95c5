"""Accuracy and the per-sample MIA features against hand-computed softmax outputs."""

import math

import numpy as np
import pytest
import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics import (
    MIA_FEATURES,
    accuracy,
    confidence,
    cross_entropy,
    entropy,
    get_feature,
    modified_entropy,
    softmax_probabilities,
)

LN2 = math.log(2.0)
# Row 0: softmax [1/4, 1/2, 1/4]; row 1: softmax [1/2, 1/4, 1/4].
LOGITS = torch.tensor([[0.0, LN2, 0.0], [LN2, 0.0, 0.0]], dtype=torch.float64)


def test_softmax_of_hand_picked_logits():
    expected = np.array([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]])
    np.testing.assert_allclose(softmax_probabilities(LOGITS), expected, rtol=1e-12)


def test_accuracy_in_percent():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.0, 1.0]], dtype=np.float32)
    assert accuracy(logits, np.array([0, 1, 1, 0])) == pytest.approx(50.0)
    assert accuracy(torch.from_numpy(logits), torch.tensor([0, 1, 0, 1])) == pytest.approx(100.0)


def test_accuracy_breaks_ties_towards_the_lowest_class():
    assert accuracy(np.zeros((2, 3)), np.array([0, 2])) == pytest.approx(50.0)


def test_confidence_is_probability_of_the_label():
    labels = torch.tensor([1, 2])
    np.testing.assert_allclose(confidence(LOGITS, labels), [0.5, 0.25], rtol=1e-12)


def test_entropy_by_hand():
    labels = torch.tensor([1, 0])
    # -(1/4 ln 1/4 + 1/2 ln 1/2 + 1/4 ln 1/4) = 1.5 ln 2 for both rows.
    np.testing.assert_allclose(entropy(LOGITS, labels), [1.5 * LN2, 1.5 * LN2], rtol=1e-12)


def test_modified_entropy_by_hand():
    labels = torch.tensor([1, 0])
    # Row 0, y = 1: -(1 - 1/2) ln(1/2) - 2 * (1/4) ln(3/4).
    row0 = 0.5 * LN2 - 0.5 * math.log(0.75)
    # Row 1 relabelled y = 1 (p_y = 1/4): -(3/4) ln(1/4) - (1/2) ln(1/2) - (1/4) ln(3/4).
    row1 = 1.5 * LN2 + 0.5 * LN2 - 0.25 * math.log(0.75)
    np.testing.assert_allclose(
        modified_entropy(LOGITS, torch.tensor([1, 1])), [row0, row1], rtol=1e-12
    )
    # Row 1 with its arg-max label y = 0 (p_y = 1/2): -(1/2) ln(1/2) - 2 * (1/4) ln(3/4).
    np.testing.assert_allclose(modified_entropy(LOGITS, labels)[1], row0, rtol=1e-12)


def test_modified_entropy_uses_each_samples_own_label():
    # Rows evaluated together must give the same values as rows evaluated one by one.
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4))
    labels = rng.integers(0, 4, size=6)
    together = modified_entropy(logits, labels)
    alone = [modified_entropy(logits[i : i + 1], labels[i : i + 1])[0] for i in range(6)]
    np.testing.assert_allclose(together, alone, rtol=1e-12)


def test_cross_entropy_by_hand():
    np.testing.assert_allclose(
        cross_entropy(LOGITS, torch.tensor([1, 2])), [LN2, 2 * LN2], rtol=1e-12
    )


def test_features_stay_finite_for_extreme_logits():
    logits = np.array([[0.0, 1000.0, 0.0], [1000.0, 0.0, 0.0]], dtype=np.float32)
    labels = np.array([0, 0])
    for feature in MIA_FEATURES.values():
        assert np.all(np.isfinite(feature(logits, labels)))
    np.testing.assert_allclose(cross_entropy(logits, labels), [1000.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(entropy(logits, labels), [0.0, 0.0], atol=1e-9)
    m_entropy = modified_entropy(logits, labels)
    # Confidently wrong: at least the -(1 - p_y) log p_y = 1000 term; confidently right: ~0.
    assert m_entropy[0] >= 1000.0
    assert m_entropy[1] == pytest.approx(0.0, abs=1e-9)


def test_feature_registry():
    assert set(MIA_FEATURES) == {"confidence", "entropy", "modified_entropy", "loss"}
    assert get_feature("loss") is cross_entropy
    with pytest.raises(UnlearnError, match="unknown MIA feature 'margin'"):
        get_feature("margin")
    with pytest.raises(TypeError):
        MIA_FEATURES["margin"] = confidence  # type: ignore[index]


@pytest.mark.parametrize(
    ("logits", "labels", "message"),
    [
        (np.zeros((0, 3)), np.zeros(0, dtype=int), "empty"),
        (np.zeros((2, 3)), np.array([0, 3]), r"must lie in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([-1, 0]), r"must lie in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([0, 1, 2]), "vector of 2 labels"),
        (np.zeros(3), np.array([0]), "shape"),
        (np.zeros((2, 1)), np.array([0, 0]), "at least 2 classes"),
        (np.array([[0.0, np.nan]]), np.array([0]), "NaN"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "integers"),
        (np.zeros((2, 3), dtype=int), np.array([0, 1]), "floating point"),
        ([[0.0, 1.0]], np.array([0]), "torch.Tensor or a numpy array"),
    ],
)
def test_invalid_inputs_raise_unlearn_error(logits, labels, message):
    with pytest.raises(UnlearnError, match=message):
        accuracy(logits, labels)
    with pytest.raises(UnlearnError, match=message):
        modified_entropy(logits, labels)

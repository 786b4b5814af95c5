"""Avg Gap, forget-loss gap and Jensen–Shannon divergence against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics import avg_gap, forget_loss_gap, js_divergence


def test_avg_gap_is_mean_absolute_difference():
    unlearned = {"UA": 5.0, "RA": 100.0, "TA": 90.0, "MIA": 10.0, "extra": 1.0}
    golden = {"UA": 3.0, "RA": 99.0, "TA": 94.0, "MIA": 14.0, "extra": 50.0}
    assert avg_gap(unlearned, golden) == pytest.approx((2 + 1 + 4 + 4) / 4)
    assert avg_gap(golden, golden) == 0.0
    assert avg_gap(unlearned, golden, keys=("extra",)) == pytest.approx(49.0)


def test_avg_gap_validation():
    with pytest.raises(UnlearnError, match="golden_metrics lacks the key"):
        avg_gap({"UA": 1, "RA": 1, "TA": 1, "MIA": 1}, {"UA": 1, "RA": 1, "TA": 1})
    with pytest.raises(UnlearnError, match="at least one"):
        avg_gap({}, {}, keys=())


def test_forget_loss_gap_by_hand():
    unlearned = torch.tensor([1.0, 2.0, 3.0])
    golden = np.array([0.5, 0.5, 0.5])
    assert forget_loss_gap(unlearned, golden) == pytest.approx(1.5)
    assert forget_loss_gap(golden, unlearned) == pytest.approx(1.5)


def test_forget_loss_gap_validation():
    with pytest.raises(UnlearnError, match="same forget samples"):
        forget_loss_gap(np.ones(3), np.ones(4))
    with pytest.raises(UnlearnError, match="empty"):
        forget_loss_gap(np.ones(0), np.ones(0))


def test_js_divergence_of_identical_outputs_is_zero():
    logits = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))
    assert js_divergence(logits, logits) == 0.0
    # Shifting every logit of a row by a constant leaves its softmax unchanged.
    assert js_divergence(logits, logits + 3.0) == pytest.approx(0.0, abs=1e-12)


def test_js_divergence_by_hand():
    # p = softmax(0, 0) = (1/2, 1/2), q = softmax(ln 3, 0) = (3/4, 1/4), m = (5/8, 3/8).
    kl_pm = 0.5 * math.log(0.5 / 0.625) + 0.5 * math.log(0.5 / 0.375)
    kl_qm = 0.75 * math.log(0.75 / 0.625) + 0.25 * math.log(0.25 / 0.375)
    expected = 0.5 * kl_pm + 0.5 * kl_qm
    p = np.array([[0.0, 0.0]])
    q = np.array([[math.log(3.0), 0.0]])
    assert js_divergence(p, q) == pytest.approx(expected, rel=1e-12)
    assert js_divergence(q, p) == pytest.approx(expected, rel=1e-12)
    # The mean over samples: one identical pair of rows halves it.
    both_p = np.vstack([p, p])
    assert js_divergence(both_p, np.vstack([q, p])) == pytest.approx(expected / 2, rel=1e-12)


def test_js_divergence_of_disjoint_outputs_is_ln2():
    p = np.array([[60.0, -60.0]])
    q = np.array([[-60.0, 60.0]])
    assert js_divergence(p, q) == pytest.approx(math.log(2.0), rel=1e-9)


def test_js_divergence_validation():
    with pytest.raises(UnlearnError, match="same samples and classes"):
        js_divergence(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(UnlearnError, match="NaN"):
        js_divergence(np.full((1, 2), np.inf), np.zeros((1, 2)))

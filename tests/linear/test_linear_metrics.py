"""Metric definitions on a hand-computed two-dimensional case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ftunlearn.linear.metrics import METRIC_NAMES, evaluate, mean_squared_loss
from ftunlearn.linear.models import MODEL_NAMES, FittedModels
from ftunlearn.linear.scenarios import Scenario
from ftunlearn.linear.solvers import LeastSquares


def hand_case() -> tuple[Scenario, FittedModels]:
    """D_r uses coordinate 0 (x = e1, y = 1), D_f coordinate 1 (x = e2, y = 2)."""
    scenario = Scenario(
        x_r=np.array([[1.0, 0.0]]),
        y_r=np.array([1.0]),
        x_f=np.array([[0.0, 1.0]]),
        y_f=np.array([2.0]),
        x_test_r=np.array([[1.0, 0.0], [2.0, 0.0]]),
        y_test_r=np.array([1.0, 0.0]),
        x_test_f=np.array([[0.0, 1.0], [0.0, 2.0]]),
        y_test_f=np.array([1.0, 2.0]),
    )
    weights = {name: np.array([1.0, 2.0]) for name in MODEL_NAMES}  # the interpolator w_o
    weights["golden"] = np.array([1.0, 0.0])
    weights["mask_a"] = np.array([2.0, 1.0])
    remain = LeastSquares(scenario.x_r)
    return scenario, FittedModels(weights=weights, remain=remain, lr=None)


def test_hand_computed_metrics() -> None:
    scenario, fitted = hand_case()
    metrics = evaluate(scenario, fitted)
    assert set(metrics) == set(MODEL_NAMES)
    assert all(set(m) == set(METRIC_NAMES) for m in metrics.values())
    ft = metrics["ft"]
    # w = (1, 2): interpolates both sets; golden (1, 0) predicts 0 on D_f, so UL(w_g) = 4.
    assert ft["RL"] == 0.0 and ft["UL"] == 0.0
    assert ft["gap"] == pytest.approx(4.0)
    assert ft["dist_golden"] == pytest.approx(2.0)
    assert ft["retained"] == pytest.approx(2.0)  # (0, 2) is orthogonal to rowspace(X_r) = e1
    # test sets: predictions (1, 2) vs (1, 0) -> (0 + 4)/2; (2, 4) vs (1, 2) -> (1 + 4)/2.
    assert ft["test_remain"] == pytest.approx(2.0)
    assert ft["test_forget"] == pytest.approx(2.5)
    golden = metrics["golden"]
    assert golden["UL"] == pytest.approx(4.0)
    assert golden["test_forget"] == pytest.approx(2.5)  # predictions 0 vs (1, 2)
    assert golden["gap"] == golden["dist_golden"] == golden["retained"] == 0.0
    mask_a = metrics["mask_a"]  # w = (2, 1)
    assert mask_a["RL"] == pytest.approx(1.0)
    assert mask_a["UL"] == pytest.approx(1.0)
    assert mask_a["gap"] == pytest.approx(3.0)
    assert mask_a["dist_golden"] == pytest.approx(math.sqrt(2.0))
    assert mask_a["retained"] == pytest.approx(1.0)


def test_mean_squared_loss_uses_one_over_set_size() -> None:
    x = np.array([[1.0], [1.0], [1.0], [1.0]])
    y = np.array([0.0, 0.0, 0.0, 2.0])
    assert mean_squared_loss(x, y, np.array([0.0])) == pytest.approx(1.0)
    np.testing.assert_allclose(mean_squared_loss(x, y, np.array([[0.0, 2.0]])), [1.0, 3.0])

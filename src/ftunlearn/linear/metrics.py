"""What the lab reports per model (docs/theory.md, last section).

``RL = L(w; D_r)``, ``UL = L(w; D_f)``, ``test_forget`` / ``test_remain`` the same loss on the
test draws of the forgetting / remaining distribution, ``dist_golden = ‖w − w_g‖``,
``gap = |UL(w) − UL(w_g)|`` and ``retained = ‖(I − P_r)(w − w_g)‖`` with ``P_r`` the projection
onto the row space of ``X_r`` (the part of ``w − w_g`` that no training on ``D_r`` can change).
All losses are ``L(w; D) = (1/|D|) ‖X w − y‖²``.
"""

from __future__ import annotations

import numpy as np

from ftunlearn.linear.models import MODEL_NAMES, FittedModels
from ftunlearn.linear.scenarios import Scenario
from ftunlearn.linear.solvers import LeastSquares

METRIC_NAMES: tuple[str, ...] = (
    "RL",
    "UL",
    "test_forget",
    "test_remain",
    "dist_golden",
    "gap",
    "retained",
)


def mean_squared_loss(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(1/n) ‖X w − y‖²``; for ``w`` of shape ``(d, m)`` one loss per column."""
    residual = x @ w - (y[:, None] if w.ndim == 2 else y)
    return np.mean(residual * residual, axis=0)


def retained_component(remain: LeastSquares, diff: np.ndarray) -> np.ndarray:
    """``‖(I − P_r) diff‖`` (per column for a ``(d, m)`` ``diff``)."""
    outside = diff - remain.project_rowspace(diff)
    return np.linalg.norm(outside, axis=0)


def evaluate(scenario: Scenario, fitted: FittedModels) -> dict[str, dict[str, float]]:
    """Every metric of ``METRIC_NAMES`` for every model of ``MODEL_NAMES``."""
    weights = np.column_stack([fitted.weights[name] for name in MODEL_NAMES])
    golden = fitted.weights["golden"]
    unlearning = mean_squared_loss(scenario.x_f, scenario.y_f, weights)
    ul_golden = unlearning[MODEL_NAMES.index("golden")]
    diff = weights - golden[:, None]
    values = {
        "RL": mean_squared_loss(scenario.x_r, scenario.y_r, weights),
        "UL": unlearning,
        "test_forget": mean_squared_loss(scenario.x_test_f, scenario.y_test_f, weights),
        "test_remain": mean_squared_loss(scenario.x_test_r, scenario.y_test_r, weights),
        "dist_golden": np.linalg.norm(diff, axis=0),
        "gap": np.abs(unlearning - ul_golden),
        "retained": retained_component(fitted.remain, diff),
    }
    return {
        model: {metric: float(values[metric][i]) for metric in METRIC_NAMES}
        for i, model in enumerate(MODEL_NAMES)
    }

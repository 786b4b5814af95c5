"""The seven models of the lab, trained in closed form on one scenario.

``pretrained`` (GD from 0 on ``D``), ``golden`` (GD from 0 on ``D_r``), ``ft`` (GD from the
pretrained weights on ``D_r``), ``mask_a`` / ``mask_b`` / ``mask_data`` (mask the pretrained
weights, then fine-tune on ``D_r``) and ``dr`` (fine-tune on ``L(w; D_r) + α L(w; D_f, ỹ_f)``).
Every training follows the convention of ``ftunlearn.linear.solvers``; ``steps=None`` means the
limit of gradient descent. Pretraining and retraining use ``pretrain_steps``, the fine-tunings
``steps``.

Step size: one ``η`` per scenario for every training, ``η = lr_scale / (2 (‖X_r‖²/n_r +
‖X_f‖²/n_f + λ))``. Half the Hessian of each objective (``D``, ``D_r``, and ``D_r`` plus ``α ≤ 1``
times ``D_f``) is bounded by that denominator, so ``lr_scale`` in ``(0, 2)`` keeps every training
stable and ``lr_scale <= 1`` makes it monotone; and ``η`` does not change with ``α``.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Annotated, ClassVar, Literal

import numpy as np
import scipy.linalg

from ftunlearn.errors import UnlearnError
from ftunlearn.linear.scenarios import Scenario
from ftunlearn.linear.solvers import FactorCache, LeastSquares
from ftunlearn.params import Fraction, NonNegative, Params, Range

MODEL_NAMES: tuple[str, ...] = (
    "pretrained",
    "ft",
    "golden",
    "mask_a",
    "mask_b",
    "mask_data",
    "dr",
)
DrTargets = Literal["zero", "random", "permuted"]
MaskRule = Literal["retain", "forget"]
DR_TARGETS: tuple[str, ...] = typing.get_args(DrTargets)
MASK_RULES: tuple[str, ...] = typing.get_args(MaskRule)


@dataclass(frozen=True)
class MethodSpec(Params):
    """How the models are trained.

    ``dr_targets``: the replacement targets ``ỹ_f`` of discriminative regularisation: ``zero``,
    ``random`` (drawn with replacement from the training labels ``y``) or ``permuted`` (a random
    permutation of ``y_f``). ``mask_rule``/``mask_threshold``: the data-driven mask keeps the
    coordinates whose activity ``a_j(D_r) = mean_i x_ij²`` exceeds ``threshold · max_j a_j(D_r)``
    (``retain``), or zeroes those whose ``a_j(D_f)`` exceeds ``threshold · max_j a_j(D_f)``
    (``forget``).
    """

    owner: ClassVar[str] = "theory method"

    steps: Annotated[int, Range(ge=0)] | None = None
    pretrain_steps: Annotated[int, Range(ge=0)] | None = None
    lr_scale: Annotated[float, Range(gt=0, lt=2)] = 1.0
    """The GD step's share of the stable bound; (0, 2) for gradient descent to converge."""
    ridge: NonNegative = 0.0
    alpha: Fraction = 0.5
    """Weight of the forgetting term; at most 1, so the remaining data keeps priority."""
    dr_targets: DrTargets = "zero"
    mask_rule: MaskRule = "retain"
    mask_threshold: Annotated[float, Range(ge=0, lt=1)] = 0.1

    def validate(self) -> None:
        """Every field is checked from its type hint on construction; no rule spans fields."""

    def params(self) -> dict[str, object]:
        """The flat parameters recorded in result rows."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class FittedModels:
    """The weights of every model, and the factorisation of ``D_r`` the metrics project with."""

    weights: Mapping[str, np.ndarray]
    remain: LeastSquares
    lr: float | None


def support(x: np.ndarray) -> np.ndarray:
    """The coordinates a set uses: columns with a nonzero entry."""
    return np.any(x != 0.0, axis=0)


def activity(x: np.ndarray) -> np.ndarray:
    """The feature activity ``a_j = mean_i x_ij²``."""
    return np.mean(x * x, axis=0)


def oracle_masks(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Option A (zero every coordinate ``D_f`` uses) and Option B (keep those ``D_r`` uses)."""
    mask_a = ~support(scenario.x_f)
    mask_b = support(scenario.x_r)
    return mask_a.astype(np.float64), mask_b.astype(np.float64)


def data_mask(scenario: Scenario, rule: MaskRule, threshold: float) -> np.ndarray:
    """The activity-thresholded mask of ``MethodSpec`` (no oracle supports)."""
    if rule == "retain":
        score = activity(scenario.x_r)
        return (score > threshold * score.max()).astype(np.float64)
    score = activity(scenario.x_f)
    return (score <= threshold * score.max()).astype(np.float64)


def replacement_targets(
    scenario: Scenario, kind: DrTargets, rng: np.random.Generator
) -> np.ndarray:
    """The targets ``ỹ_f`` discriminative regularisation fits on ``D_f``."""
    if kind == "zero":
        return np.zeros(scenario.n_f)
    if kind == "random":
        return rng.choice(scenario.y, size=scenario.n_f, replace=True)
    return rng.permutation(scenario.y_f)


def step_size(scenario: Scenario, remain: LeastSquares, method: MethodSpec) -> float:
    """The one step size ``η`` of the module docstring."""
    forget_norm = float(scipy.linalg.svdvals(scenario.x_f, check_finite=False)[0])
    curvature = remain.spectral_norm**2 + forget_norm**2 / scenario.n_f + method.ridge
    return method.lr_scale / (2.0 * curvature)


def fit_models(
    scenario: Scenario,
    method: MethodSpec,
    cache: FactorCache,
    rng: np.random.Generator,
) -> FittedModels:
    """Train all of ``MODEL_NAMES`` on ``scenario``; ``rng`` draws random replacement targets.

    ``cache`` must belong to this scenario: models on the same matrix reuse its SVD, also across
    calls that differ only in the method.
    """
    method.validate()
    root_r, root_f, root_n = np.sqrt(scenario.n_r), np.sqrt(scenario.n_f), np.sqrt(scenario.n)
    remain = cache.get("remain", lambda: scenario.x_r / root_r)
    full = cache.get("full", lambda: scenario.x / root_n)
    if scenario.interpolate and full.rank < scenario.n:
        raise UnlearnError(
            f"X = [X_r; X_f] has rank {full.rank} < n = {scenario.n}: the training set cannot be "
            "interpolated, which this scenario assumes; use fewer samples or more features, or "
            "allow the under-parameterised regime (interpolate=False, --no-interpolate)"
        )
    finite = method.steps is not None or method.pretrain_steps is not None
    lr = step_size(scenario, remain, method) if finite else None
    ridge = method.ridge
    d = scenario.d

    pretrained = full.solve(
        scenario.y / root_n, np.zeros(d), ridge=ridge, steps=method.pretrain_steps, lr=lr
    )
    b_r = scenario.y_r / root_r
    golden = remain.solve(b_r, np.zeros(d), ridge=ridge, steps=method.pretrain_steps, lr=lr)
    mask_a, mask_b = oracle_masks(scenario)
    mask_d = data_mask(scenario, method.mask_rule, method.mask_threshold)
    starts = np.column_stack(
        [pretrained, mask_a * pretrained, mask_b * pretrained, mask_d * pretrained]
    )
    tuned = remain.solve(b_r, starts, ridge=ridge, steps=method.steps, lr=lr)

    weight = np.sqrt(method.alpha) / root_f
    regularised = cache.get(
        ("dr", method.alpha), lambda: np.vstack([scenario.x_r / root_r, weight * scenario.x_f])
    )
    targets = replacement_targets(scenario, method.dr_targets, rng)
    dr = regularised.solve(
        np.concatenate([b_r, weight * targets]), pretrained, ridge=ridge, steps=method.steps, lr=lr
    )
    weights = {
        "pretrained": pretrained,
        "ft": tuned[:, 0],
        "golden": golden,
        "mask_a": tuned[:, 1],
        "mask_b": tuned[:, 2],
        "mask_data": tuned[:, 3],
        "dr": dr,
    }
    return FittedModels(weights=MappingProxyType(weights), remain=remain, lr=lr)

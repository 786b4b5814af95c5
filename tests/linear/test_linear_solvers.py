"""The closed-form solvers against explicit iteration and numpy's pseudo-inverse."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftunlearn.errors import UnlearnError
from ftunlearn.linear.models import MethodSpec, fit_models, step_size
from ftunlearn.linear.scenarios import SyntheticSpec
from ftunlearn.linear.solvers import FactorCache, LeastSquares, gradient_descent

RTOL = 1e-8
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(actual - expected) / max(np.linalg.norm(expected), 1e-300))


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """A random matrix (wide, square or tall; optionally rank-deficient), targets and a start."""
    n, d = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    a = rng.standard_normal((n, d))
    deficient = draw(st.booleans()) and min(n, d) >= 2
    if deficient:  # repeated column and row: rank below min(n, d) whenever n, d >= 2
        a[:, -1] = a[:, 0]
        a[-1] = a[0]
    return a, rng.standard_normal(n), rng.standard_normal(d), deficient


@PROPERTY
@given(
    problem=problems(),
    steps=st.integers(0, 60),
    lr_scale=st.floats(0.05, 1.9),
    ridge=st.sampled_from([0.0, 0.3]),
)
def test_closed_form_gradient_descent_equals_explicit_iteration(problem, steps, lr_scale, ridge):
    a, b, start, _ = problem
    lr = lr_scale / (2.0 * (np.linalg.norm(a, 2) ** 2 + ridge))
    explicit = gradient_descent(a, b, start, steps=steps, lr=lr, ridge=ridge)
    closed = LeastSquares(a).solve(b, start, steps=steps, lr=lr, ridge=ridge)
    assert relative_error(closed, explicit) <= RTOL


@PROPERTY
@given(problem=problems())
def test_limit_is_the_nearest_least_squares_solution(problem) -> None:
    a, b, start, deficient = problem
    factor = LeastSquares(a)
    pinv = np.linalg.pinv(a)
    assert relative_error(factor.solve(b, start), start + pinv @ (b - a @ start)) <= RTOL
    assert relative_error(factor.project_rowspace(start), pinv @ a @ start) <= RTOL
    assert factor.rank == np.linalg.matrix_rank(a)
    assert factor.full_rank == (factor.rank == min(a.shape)) == (not deficient)


@PROPERTY
@given(problem=problems(), ridge=st.floats(1e-3, 10.0))
def test_ridge_limit_solves_the_regularised_normal_equations(problem, ridge) -> None:
    a, b, start, _ = problem
    expected = start + np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ (b - a @ start))
    assert relative_error(LeastSquares(a).solve(b, start, ridge=ridge), expected) <= RTOL


def test_many_steps_reach_the_limit_and_zero_steps_stay_at_the_start() -> None:
    rng = np.random.default_rng(0)
    a, b, start = rng.standard_normal((6, 9)), rng.standard_normal(6), rng.standard_normal(9)
    factor = LeastSquares(a)
    lr = 1.0 / (2.0 * factor.spectral_norm**2)
    np.testing.assert_array_equal(factor.solve(b, start, steps=0, lr=lr), start)
    converged = factor.solve(b, start, steps=10**7, lr=lr)
    assert relative_error(converged, factor.solve(b, start)) <= 1e-10


def test_batched_columns_equal_single_solves() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 8)), rng.standard_normal(5)
    starts = rng.standard_normal((8, 3))
    factor = LeastSquares(a)
    batch = factor.solve(b, starts, steps=7, lr=0.01)
    for j in range(3):
        np.testing.assert_allclose(batch[:, j], factor.solve(b, starts[:, j], steps=7, lr=0.01))


def test_bad_inputs_raise_unlearn_error() -> None:
    with pytest.raises(UnlearnError, match="NaN"):
        LeastSquares(np.array([[1.0, np.nan]]))
    with pytest.raises(UnlearnError, match="shape"):
        LeastSquares(np.zeros((0, 3)))
    factor = LeastSquares(np.eye(2))
    with pytest.raises(UnlearnError, match="step size"):
        factor.solve(np.ones(2), np.zeros(2), steps=3)
    with pytest.raises(UnlearnError, match="ridge"):
        factor.solve(np.ones(2), np.zeros(2), ridge=-1.0)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    steps=st.integers(1, 40),
    pretrain_steps=st.sampled_from([None, 5]),
    ridge=st.sampled_from([0.0, 0.05]),
    interpolate=st.booleans(),
)
def test_every_finite_step_model_equals_its_explicit_iteration(
    seed, steps, pretrain_steps, ridge, interpolate
) -> None:
    n_r = 12 if interpolate else 30  # 30 > d_r + d_lap: under-parameterised remaining set
    spec = SyntheticSpec(
        d_f=6, d_r=8, d_lap=4, n_f=5, n_r=n_r, sigma=0.2, n_test=3, interpolate=interpolate
    )
    method = MethodSpec(steps=steps, pretrain_steps=pretrain_steps, ridge=ridge, alpha=0.3)
    scenario = spec.build(np.random.default_rng(seed))
    fitted = fit_models(scenario, method, FactorCache(), np.random.default_rng(0))
    w = fitted.weights
    lr = step_size(scenario, fitted.remain, method)
    assert fitted.lr == pytest.approx(lr)
    a_full = scenario.x / np.sqrt(scenario.n)
    a_r = scenario.x_r / np.sqrt(scenario.n_r)
    zero = np.zeros(spec.d)
    k0 = pretrain_steps if pretrain_steps is not None else None

    def run(a, b, start, k):
        if k is None:
            return LeastSquares(a).solve(b, start, ridge=ridge)
        return gradient_descent(a, b, start, steps=k, lr=lr, ridge=ridge)

    pretrained = run(a_full, scenario.y / np.sqrt(scenario.n), zero, k0)
    b_r = scenario.y_r / np.sqrt(scenario.n_r)
    assert relative_error(w["pretrained"], pretrained) <= RTOL
    assert relative_error(w["golden"], run(a_r, b_r, zero, k0)) <= RTOL
    assert relative_error(w["ft"], run(a_r, b_r, pretrained, steps)) <= RTOL
    weight = np.sqrt(0.3 / scenario.n_f)
    a_dr = np.vstack([a_r, weight * scenario.x_f])
    b_dr = np.concatenate([b_r, np.zeros(scenario.n_f)])
    assert relative_error(w["dr"], run(a_dr, b_dr, pretrained, steps)) <= RTOL


def test_models_on_one_matrix_share_one_factorisation() -> None:
    scenario = SyntheticSpec(d_f=5, d_r=5, d_lap=3, n_f=3, n_r=4, n_test=2).build(
        np.random.default_rng(0)
    )
    cache = FactorCache()
    for steps in (None, 3, 30):
        fit_models(scenario, MethodSpec(steps=steps), cache, np.random.default_rng(0))
    assert len(cache.matrices) == 3  # X, X_r, and the regularised stack for α = 0.5
    fit_models(scenario, MethodSpec(alpha=1.0), cache, np.random.default_rng(0))
    assert len(cache.matrices) == 4

"""Property tests of docs/theory.md's exact claims R1–R5 over random shapes, to 1e-8 relative.

References (``w_o``, ``w_g``, ``X⁺[y_r; 0]``) come from ``numpy.linalg.pinv``, independently of
the lab's QR/SVD solver.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ftunlearn.linear.models import MethodSpec, fit_models
from ftunlearn.linear.scenarios import Scenario, SyntheticSpec
from ftunlearn.linear.solvers import FactorCache

RTOL = 1e-8
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)


@st.composite
def interpolable_specs(draw: st.DrawFn, overlap: bool) -> SyntheticSpec:
    """Random sizes in the interpolation regime, distinct (d_lap = 0) or overlapping."""
    d_f = draw(st.integers(1, 25))
    d_r = draw(st.integers(1, 25))
    d_lap = draw(st.integers(1, 20)) if overlap else 0
    n_r = draw(st.integers(1, d_r + d_lap))
    n_f = draw(st.integers(1, min(d_f + d_lap, d_f + d_r + d_lap - n_r)))
    return SyntheticSpec(
        d_f=d_f,
        d_r=d_r,
        d_lap=d_lap,
        d_extra=draw(st.integers(0, 5)),
        n_f=n_f,
        n_r=n_r,
        sigma=draw(st.sampled_from([0.0, 0.3])),
        n_test=5,
    )


def draw_models(spec: SyntheticSpec, seed: int, method: MethodSpec | None = None):
    scenario = spec.build(np.random.default_rng(seed))
    fitted = fit_models(scenario, method or MethodSpec(), FactorCache(), np.random.default_rng(1))
    return scenario, fitted.weights


def assert_close(actual: np.ndarray, expected: np.ndarray, scale: float | None = None) -> None:
    reference = max(np.linalg.norm(expected), np.linalg.norm(actual)) if scale is None else scale
    assert np.linalg.norm(actual - expected) <= RTOL * max(reference, 1e-300)


def pinv_references(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    return np.linalg.pinv(scenario.x) @ scenario.y, np.linalg.pinv(scenario.x_r) @ scenario.y_r


seeds = st.integers(0, 2**31 - 1)


@PROPERTY
@given(spec=st.one_of(interpolable_specs(False), interpolable_specs(True)), seed=seeds)
def test_r1_fine_tuning_retains_everything(spec: SyntheticSpec, seed: int) -> None:
    scenario, w = draw_models(spec, seed)
    w_o, w_g = pinv_references(scenario)
    assert_close(w["pretrained"], w_o)
    assert_close(w["golden"], w_g)
    assert_close(w["ft"], w["pretrained"])
    # RL(w_t) = 0 and UL(w_t) = UL(w_o) = 0: the residuals vanish relative to the labels.
    assert_close(scenario.x_r @ w["ft"], scenario.y_r)
    assert_close(scenario.x_f @ w["ft"], scenario.y_f)
    # FT's gradient at w_o is zero, so any number of steps leaves w_o where it is.
    _, stepped = draw_models(spec, seed, MethodSpec(steps=25))
    assert_close(stepped["ft"], stepped["pretrained"])


@PROPERTY
@given(spec=interpolable_specs(False), seed=seeds)
def test_r2_distinct_golden_forgets_and_fine_tuning_does_not(spec: SyntheticSpec, seed: int):
    scenario, w = draw_models(spec, seed)
    scale = np.linalg.norm(scenario.x_f) * np.linalg.norm(w["golden"])
    assert_close(scenario.x_f @ w["golden"], np.zeros(scenario.n_f), scale=scale)
    ul_golden = np.mean((scenario.x_f @ w["golden"] - scenario.y_f) ** 2)
    np.testing.assert_allclose(ul_golden, np.sum(scenario.y_f**2) / scenario.n_f, rtol=RTOL)
    ul_ft = np.mean((scenario.x_f @ w["ft"] - scenario.y_f) ** 2)
    assert ul_ft <= RTOL**2 * np.mean(scenario.y_f**2)


@PROPERTY
@given(spec=interpolable_specs(True), seed=seeds)
def test_r3_overlap_golden_predicts_through_shared_coordinates(spec: SyntheticSpec, seed: int):
    scenario, w = draw_models(spec, seed)
    blocks = spec.blocks()
    golden = w["golden"]
    # w_g lies in rowspace(X_r), which is zero on F and Z.
    outside = np.concatenate([blocks["F"], blocks["Z"]])
    assert np.linalg.norm(golden[outside]) <= RTOL * np.linalg.norm(golden)
    through_o = scenario.x_f[:, blocks["O"]] @ golden[blocks["O"]]
    assert_close(scenario.x_f @ golden, through_o)
    assert np.mean((scenario.x_f @ golden - scenario.y_f) ** 2) > 0.0
    assert_close(scenario.x_f @ w["ft"], scenario.y_f)


@PROPERTY
@given(spec=interpolable_specs(False), seed=seeds)
def test_r4_distinct_masks_give_exactly_the_golden_model(spec: SyntheticSpec, seed: int):
    _, w = draw_models(spec, seed)
    assert_close(w["mask_a"], w["golden"])
    assert_close(w["mask_b"], w["golden"])


@PROPERTY
@given(spec=interpolable_specs(True), seed=seeds)
def test_r4_overlap_masks_follow_the_formula_and_keep_rl_zero(spec: SyntheticSpec, seed: int):
    scenario, w = draw_models(spec, seed)
    w_o, w_g = pinv_references(scenario)
    blocks = spec.blocks()
    projector = np.linalg.pinv(scenario.x_r) @ scenario.x_r
    complement = np.eye(spec.d) - projector
    mask_a = np.ones(spec.d)
    mask_a[np.concatenate([blocks["F"], blocks["O"]])] = 0.0
    mask_b = np.zeros(spec.d)
    mask_b[np.concatenate([blocks["R"], blocks["O"]])] = 1.0
    for name, mask in (("mask_a", mask_a), ("mask_b", mask_b)):
        assert_close(w[name], complement @ (mask * w_o) + w_g)
        assert_close(scenario.x_r @ w[name], scenario.y_r)


@PROPERTY
@given(
    spec=st.one_of(interpolable_specs(False), interpolable_specs(True)),
    seed=seeds,
    alpha=st.sampled_from([0.05, 0.5, 1.0]),
)
def test_r5_zero_targets_converge_to_the_interpolator_of_zeroed_labels(
    spec: SyntheticSpec, seed: int, alpha: float
) -> None:
    scenario, w = draw_models(spec, seed, MethodSpec(alpha=alpha, dr_targets="zero"))
    expected = np.linalg.pinv(scenario.x) @ np.concatenate([scenario.y_r, np.zeros(spec.n_f)])
    assert_close(w["dr"], expected)
    if spec.d_lap == 0:
        assert_close(w["dr"], w["golden"])
    scale = np.linalg.norm(scenario.x_f) * np.linalg.norm(w["dr"])
    assert_close(scenario.x_f @ w["dr"], np.zeros(spec.n_f), scale=scale)
    ul = np.mean((scenario.x_f @ w["dr"] - scenario.y_f) ** 2)
    np.testing.assert_allclose(ul, np.sum(scenario.y_f**2) / spec.n_f, rtol=RTOL)

"""Scenario generators: feature blocks, labels, validation, determinism; real-feature scenarios."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftunlearn.data.dataset import Dataset
from ftunlearn.errors import UnlearnError
from ftunlearn.linear.models import MethodSpec, data_mask, fit_models, oracle_masks
from ftunlearn.linear.real import RealFeatureSpec
from ftunlearn.linear.scenarios import Scenario, SyntheticSpec
from ftunlearn.linear.solvers import FactorCache


def test_blocks_partition_coordinates_and_sets_use_only_their_own() -> None:
    spec = SyntheticSpec(d_f=3, d_r=4, d_lap=2, d_extra=1, n_f=2, n_r=5, n_test=7)
    blocks = spec.blocks()
    np.testing.assert_array_equal(np.concatenate(list(blocks.values())), np.arange(10))
    scenario = spec.build(np.random.default_rng(0))
    used_f = np.flatnonzero(np.any(scenario.x_f != 0, axis=0))
    used_r = np.flatnonzero(np.any(scenario.x_r != 0, axis=0))
    np.testing.assert_array_equal(used_f, np.concatenate([blocks["F"], blocks["O"]]))
    np.testing.assert_array_equal(used_r, np.concatenate([blocks["R"], blocks["O"]]))
    assert not np.any(scenario.x_test_f[:, blocks["R"]]) and not np.any(scenario.x_test_r[:, :3])
    assert scenario.x_test_f.shape == scenario.x_test_r.shape == (7, 10)
    np.testing.assert_allclose(scenario.y_r, scenario.x_r @ scenario.w_star)  # sigma = 0


def test_given_w_star_is_used_and_noise_is_added() -> None:
    w_star = tuple(float(i) for i in range(6))
    spec = SyntheticSpec(d_f=2, d_r=2, d_lap=2, n_f=2, n_r=3, sigma=0.5, w_star=w_star)
    scenario = spec.build(np.random.default_rng(3))
    np.testing.assert_array_equal(scenario.w_star, w_star)
    noise = scenario.y_f - scenario.x_f @ scenario.w_star
    assert np.all(noise != 0.0)
    assert scenario.params["w_star"] == "given" and scenario.params["overlap"] == 0.5


def test_same_seed_same_draw_and_other_seed_other_draw() -> None:
    spec = SyntheticSpec(d_f=4, d_r=4, d_lap=2, n_f=2, n_r=3)
    first, again = spec.build(np.random.default_rng(5)), spec.build(np.random.default_rng(5))
    other = spec.build(np.random.default_rng(6))
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y_test_f, again.y_test_f)
    assert not np.array_equal(first.x, other.x)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"d_f": -1}, "d_f must be >= 0"),
        ({"n_f": 0}, "n_f must be >= 1"),
        ({"n_r": 2.5}, "n_r must be >= 1 \\(a whole number\\), got 2.5"),
        ({"sigma": -0.1}, "sigma"),
        ({"n_r": 200}, "n_r = 200 exceeds d_r \\+ d_lap"),
        ({"n_f": 150, "n_r": 140, "d_lap": 60}, "n_r \\+ n_f = 290 exceeds"),
        ({"w_star": (1.0, 2.0)}, "w_star has 2 entries"),
        ({"d_f": 0, "d_lap": 0}, "at least one feature"),
    ],
)
def test_bad_synthetic_configurations_raise_one_clear_error(changes, message) -> None:
    with pytest.raises(UnlearnError, match=message):  # single fields fail on construction
        SyntheticSpec(**{"d_f": 100, "d_r": 100, "n_f": 30, "n_r": 60, **changes}).validate()


def test_under_parameterised_regime_is_allowed_on_request() -> None:
    spec = SyntheticSpec(d_f=3, d_r=3, d_lap=1, n_f=5, n_r=20, interpolate=False, n_test=3)
    scenario = spec.build(np.random.default_rng(0))
    fitted = fit_models(scenario, MethodSpec(), FactorCache(), np.random.default_rng(0))
    assert fitted.remain.rank == 4
    with pytest.raises(UnlearnError, match="cannot be interpolated"):
        SyntheticSpec(d_f=3, d_r=3, d_lap=1, n_f=5, n_r=20).validate()


def test_rank_deficient_real_data_refused_in_the_interpolation_regime() -> None:
    x = np.ones((3, 4))
    scenario = Scenario(x[:2], np.ones(2), x[2:], np.ones(1), x, np.ones(3), x, np.ones(3))
    with pytest.raises(UnlearnError, match="rank 1 < n = 3"):
        fit_models(scenario, MethodSpec(), FactorCache(), np.random.default_rng(0))


def test_scenario_shapes_are_checked() -> None:
    with pytest.raises(UnlearnError, match="forgetting set has 3 features"):
        Scenario(
            np.ones((2, 4)), np.ones(2), np.ones((1, 3)), np.ones(1),
            np.ones((2, 4)), np.ones(2), np.ones((2, 4)), np.ones(2),
        )  # fmt: skip


def test_data_driven_mask_recovers_option_b_on_synthetic_features() -> None:
    scenario = SyntheticSpec(d_f=5, d_r=6, d_lap=3, d_extra=2, n_f=4, n_r=8).build(
        np.random.default_rng(2)
    )
    mask_a, mask_b = oracle_masks(scenario)
    np.testing.assert_array_equal(data_mask(scenario, "retain", 0.0), mask_b)
    np.testing.assert_array_equal(data_mask(scenario, "forget", 0.0), mask_a)
    strict = data_mask(scenario, "retain", 0.9)  # keeps only the most active coordinates
    assert 1 <= strict.sum() < mask_b.sum() and np.all(strict <= mask_b)


def tiny_dataset() -> Dataset:
    """Three classes of 4x4 images; pixels normalised affinely so blank pixels are negative."""
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 3, size=(90, 1, 4, 4)).astype(np.float32)
    labels = np.repeat(np.arange(3), 30)
    raw[labels == 0, :, 0, :] = 0.0  # class 0 never uses the first image row
    x = torch.from_numpy((raw - 1.0) / 2.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return Dataset(
        name="tiny",
        x_train=x[::2],
        y_train=y[::2],
        x_test=x[1::2],
        y_test=y[1::2],
        num_classes=3,
        input_shape=(1, 4, 4),
        fingerprint="tiny",
    )


def test_real_pixels_forget_one_class_with_documented_targets() -> None:
    spec = RealFeatureSpec(dataset="tiny", features="pixels", forget_class=0, n_f=5, n_r=9)
    scenario = spec.build(np.random.default_rng(1), tiny_dataset())
    assert scenario.d == 16 and scenario.n_f == 5 and scenario.n_r == 9
    np.testing.assert_allclose(scenario.y_f, 1.0 - 1.0 / 3.0)  # all of the forgotten class
    np.testing.assert_allclose(scenario.y_r, -1.0 / 3.0)
    np.testing.assert_allclose(scenario.y_test_f, 2.0 / 3.0)
    assert scenario.x_test_f.shape[0] == 15 and scenario.x_test_r.shape[0] == 30
    assert scenario.x_r.min() == 0.0  # shifted: the darkest pixel is 0 again
    assert not np.any(scenario.x_f[:, :4])  # class 0's blank first row is exactly 0
    fitted = fit_models(scenario, MethodSpec(), FactorCache(), np.random.default_rng(0))
    np.testing.assert_allclose(scenario.x_f @ fitted.weights["ft"], scenario.y_f, atol=1e-9)


@pytest.mark.parametrize("features", ["relu", "cos"])
def test_real_random_features_random_subset_and_determinism(features: str) -> None:
    spec = RealFeatureSpec(
        dataset="tiny", features=features, n_features=40, forget="random", n_f=6, n_r=20,
        target_class=2,
    )  # fmt: skip
    data = tiny_dataset()
    scenario = spec.build(np.random.default_rng(4), data)
    again = spec.build(np.random.default_rng(4), data)
    assert scenario.d == 40
    np.testing.assert_array_equal(scenario.x, again.x)
    np.testing.assert_array_equal(scenario.x_test_f, scenario.x_test_r)  # same distribution
    assert set(np.round(scenario.y, 6)) <= {round(2 / 3, 6), round(-1 / 3, 6)}
    if features == "relu":
        assert scenario.x.min() >= 0.0
    assert scenario.params["target_class"] == 2 and scenario.params["d"] == 40


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"forget_class": 3}, "forget_class = 3 is not a class"),
        ({"n_f": 16}, "n_f = 16 exceeds the 15 training images"),
        ({"features": "sigmoid"}, "features must be one of 'pixels', 'relu', 'cos'"),
        ({"n_features": 10}, "exceeds n_features = 10"),
        ({"features": "pixels"}, "exceeds the 16 pixels features"),
    ],
)
def test_bad_real_configurations_raise_one_clear_error(changes, message) -> None:
    with pytest.raises(UnlearnError, match=message):  # single fields fail on construction
        spec = RealFeatureSpec(**{"dataset": "tiny", "n_f": 5, "n_r": 20, **changes})
        spec.build(np.random.default_rng(0), tiny_dataset())

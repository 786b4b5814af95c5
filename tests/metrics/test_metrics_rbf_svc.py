"""The exact explicit-feature RBF SVC against scikit-learn's libsvm SVC, and its fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.svm import SVC

from ftunlearn.metrics.rbf_svc import KERNEL_TOLERANCE, RBFSVC, kernel_features, series_terms


def _overlapping(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Members' confidences pushed towards 1, non-members' spread: an attack near chance."""
    rng = np.random.default_rng(seed)
    members = rng.beta(6.0, 1.5, n)
    non_members = rng.beta(5.0, 1.8, n)
    return np.r_[members, non_members][:, None], np.r_[np.ones(n, int), np.zeros(n, int)]


def test_the_feature_map_reproduces_the_kernel_to_the_tolerance():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, 200), rng.uniform(0, 1, 300)
    terms = series_terms(0.5, 1.0)
    assert terms is not None and terms <= 12
    approx = kernel_features(a, 0.5, 1.0, terms) @ kernel_features(b, 0.5, 1.0, terms).T
    exact = np.exp(-((a[:, None] - b[None, :]) ** 2))
    assert np.abs(approx - exact).max() <= KERNEL_TOLERANCE
    # one term fewer is not enough somewhere: the count is the smallest that works
    short = kernel_features(a, 0.5, 1.0, terms - 2) @ kernel_features(b, 0.5, 1.0, terms - 2).T
    assert np.abs(short - exact).max() > KERNEL_TOLERANCE


def test_series_terms_grows_with_the_spread_and_gives_up_beyond_the_cap():
    counts = [series_terms(spread, 1.0) for spread in (0.1, 0.5, 1.0, 2.0)]
    assert counts == sorted(counts) and counts[0] < counts[-1]
    assert series_terms(0.0, 1.0) == 0
    assert series_terms(30.0, 1.0) is None  # e.g. an unbounded loss feature


@pytest.mark.parametrize("seed", [0, 1])
def test_it_is_the_same_svc_as_libsvm_solved_tightly(seed):
    x, y = _overlapping(800, seed)
    targets = np.random.default_rng(seed + 10).uniform(0, 1, (500, 1))
    reference = SVC(kernel="rbf", C=3.0, gamma=1.0, tol=1e-7).fit(x, y)
    mine = RBFSVC(C=3.0, gamma=1.0).fit(x, y)
    assert mine.fast_path
    expected = reference.decision_function(targets)
    got = mine.decision_function(targets)
    assert np.abs(got - expected).max() < 1e-4
    assert mine.intercept_ == pytest.approx(reference.intercept_[0], abs=1e-4)
    clear = np.abs(expected) > 1e-3  # predictions agree wherever the sign is not a tie
    np.testing.assert_array_equal(mine.predict(targets)[clear], reference.predict(targets)[clear])


def test_targets_outside_the_training_range_use_the_exact_kernel_sum():
    x, y = _overlapping(300, 3)
    mine = RBFSVC(C=3.0, gamma=1.0).fit(x, y)
    reference = SVC(kernel="rbf", C=3.0, gamma=1.0, tol=1e-7).fit(x, y)
    far = np.array([[-4.0], [3.5], [12.0]])
    np.testing.assert_allclose(mine.decision_function(far), reference.decision_function(far),
                               atol=1e-4)


def test_wide_or_several_features_fall_back_to_libsvm():
    rng = np.random.default_rng(4)
    wide = np.r_[rng.exponential(8.0, 200), rng.exponential(10.0, 200)][:, None]
    y = np.r_[np.ones(200, int), np.zeros(200, int)]
    for x, gamma in ((wide, 1.0), (np.c_[wide, wide], 0.5)):
        mine = RBFSVC(C=3.0, gamma=gamma).fit(x, y)
        assert not mine.fast_path
        reference = SVC(kernel="rbf", C=3.0, gamma=gamma).fit(x, y)
        np.testing.assert_array_equal(mine.decision_function(x), reference.decision_function(x))


def test_it_is_a_scikit_learn_estimator_with_the_label_values_given():
    x, y = _overlapping(100, 5)
    labels = np.where(y == 1, 7, 2)
    fitted = clone(RBFSVC(C=3.0, gamma=1.0, random_state=1)).fit(x, labels)
    assert set(np.unique(fitted.predict(x))) <= {2, 7}
    assert fitted.score(x, labels) == pytest.approx(np.mean(fitted.predict(x) == labels))
    assert math.isfinite(float(fitted.decision_function(x[:1])[0]))


@pytest.mark.parametrize("case", ["constant", "two a side", "separable", "imbalanced"])
def test_degenerate_training_sets_match_libsvm(case):
    rng = np.random.default_rng(6)
    x, y = {
        "constant": (np.full((20, 1), 0.7), np.r_[np.ones(10, int), np.zeros(10, int)]),
        "two a side": (np.array([[0.1], [0.2], [0.8], [0.9]]), np.array([0, 0, 1, 1])),
        "separable": (np.r_[np.linspace(0, 0.3, 50), np.linspace(0.7, 1, 50)][:, None],
                      np.r_[np.zeros(50, int), np.ones(50, int)]),
        "imbalanced": (rng.uniform(0, 1, (300, 1)), np.r_[np.ones(30, int), np.zeros(270, int)]),
    }[case]
    targets = np.linspace(-0.5, 1.5, 41)[:, None]
    mine = RBFSVC(C=3.0, gamma=1.0).fit(x, y)
    reference = SVC(kernel="rbf", C=3.0, gamma=1.0, tol=1e-7).fit(x, y)
    assert mine.fast_path
    np.testing.assert_allclose(mine.decision_function(targets),
                               reference.decision_function(targets), atol=1e-3)
    # the primal objective is at least as low as libsvm's, which stops at its tolerance
    signs = np.where(y == 1, 1.0, -1.0)
    gram = np.exp(-((x - x.T) ** 2))
    coef = reference.dual_coef_[0]
    theirs = 0.5 * coef @ gram[np.ix_(reference.support_, reference.support_)] @ coef + 3.0 * \
        np.maximum(0, 1 - signs * reference.decision_function(x)).sum()
    ours = 0.5 * mine.coef_ @ mine.coef_ + 3.0 * \
        np.maximum(0, 1 - signs * mine.decision_function(x)).sum()
    assert ours <= theirs + 1e-6

"""Membership-inference attacks on a model's per-sample outputs: MIA-efficacy and loss-MIA."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics._validation import ArrayLike, as_values, logits_and_labels
from ftunlearn.metrics.features import get_feature

AttackFactory = Callable[[int, int], ClassifierMixin]
"""Builds an unfitted binary classifier from ``(n_features, seed)``."""

_MEMBER = 1
_NON_MEMBER = 0


def _svc_attack(n_features: int, seed: int) -> ClassifierMixin:
    # The reference code's attack: SVC(C=3, gamma="auto", kernel="rbf") on the raw feature.
    return SVC(kernel="rbf", C=3.0, gamma=1.0 / n_features, random_state=seed)


def _logreg_attack(n_features: int, seed: int) -> ClassifierMixin:
    del n_features  # a linear model needs no kernel width
    return make_pipeline(StandardScaler(), LogisticRegression(random_state=seed))


MIA_ATTACKS: Mapping[str, AttackFactory] = MappingProxyType(
    {"svc": _svc_attack, "logreg": _logreg_attack}
)
"""Membership-inference attack classifiers by name (read-only)."""


def get_attack(name: str) -> AttackFactory:
    """The attack factory registered under ``name``."""
    try:
        return MIA_ATTACKS[name]
    except KeyError:
        raise UnlearnError(
            f"unknown MIA attack {name!r}; choose one of {', '.join(sorted(MIA_ATTACKS))}"
        ) from None


def _as_feature_matrix(values: ArrayLike, name: str) -> np.ndarray:
    return as_values(values, name)[:, None]


def mia_efficacy_from_features(
    member_features: ArrayLike,
    non_member_features: ArrayLike,
    target_features: ArrayLike,
    *,
    attack: str = "svc",
    seed: int = 0,
) -> float:
    """Percent of targets that an attack trained on members vs non-members calls non-member.

    Each argument holds one scalar feature per sample.
    """
    members = _as_feature_matrix(member_features, "member_features")
    non_members = _as_feature_matrix(non_member_features, "non_member_features")
    targets = _as_feature_matrix(target_features, "target_features")
    x = np.concatenate([members, non_members])
    y = np.concatenate([np.full(len(members), _MEMBER), np.full(len(non_members), _NON_MEMBER)])
    classifier = get_attack(attack)(x.shape[1], seed)
    classifier.fit(x, y)
    return float(100.0 * np.mean(classifier.predict(targets) == _NON_MEMBER))


def member_sample(n_retain: int, n_test: int, seed: int) -> np.ndarray:
    """Sorted indices of the retain samples used as members: ``n_test`` of them drawn
    without replacement by ``seed``, or all ``n_retain`` when there are not more than that."""
    if n_retain <= n_test:
        return np.arange(n_retain)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_retain, size=n_test, replace=False))


def mia_efficacy(
    retain_logits: ArrayLike,
    retain_labels: ArrayLike,
    test_logits: ArrayLike,
    test_labels: ArrayLike,
    forget_logits: ArrayLike,
    forget_labels: ArrayLike,
    *,
    feature: str = "confidence",
    attack: str = "svc",
    seed: int = 0,
) -> float:
    """MIA-efficacy in percent: the share of the forget set predicted *non-member*.

    The attack is trained on members (a ``seed``-drawn subset of the retain set as large as the
    test set, or all of it if smaller) against non-members (the test set), using the per-sample
    ``feature`` (see ``MIA_FEATURES``) of the softmax outputs, then applied to the forget set.
    """
    feature_of = get_feature(feature)
    get_attack(attack)  # reject an unknown attack before any work
    retain = logits_and_labels(retain_logits, retain_labels, "retain")
    test = logits_and_labels(test_logits, test_labels, "test")
    forget = logits_and_labels(forget_logits, forget_labels, "forget")
    n_classes = {retain[0].shape[1], test[0].shape[1], forget[0].shape[1]}
    if len(n_classes) != 1:
        raise UnlearnError(
            "retain_logits, test_logits and forget_logits must have the same number of "
            f"classes (columns), got {retain[0].shape[1]}, {test[0].shape[1]} and "
            f"{forget[0].shape[1]}"
        )
    members = member_sample(len(retain[1]), len(test[1]), seed)
    return mia_efficacy_from_features(
        feature_of(retain[0][members], retain[1][members]),
        feature_of(*test),
        feature_of(*forget),
        attack=attack,
        seed=seed,
    )


def loss_mia(
    forget_losses: ArrayLike, test_losses: ArrayLike, *, seed: int = 0, folds: int = 10
) -> float:
    """Loss-MIA in percent: cross-validated accuracy of telling forget from test samples by loss.

    The larger of the two sets is subsampled (by ``seed``) to the size ``n`` of the smaller;
    a standardised logistic regression on the per-sample loss is scored by stratified,
    shuffled (``seed``) ``folds``-fold cross-validation. 50 means the forget set looks like
    unseen data. With fewer than ``folds`` samples per side, ``n`` folds are used instead
    (at least 2 samples per side are required).
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise UnlearnError(f"folds must be an integer of at least 2, got {folds!r}")
    forget = as_values(forget_losses, "forget_losses")
    test = as_values(test_losses, "test_losses")
    n = min(len(forget), len(test))
    if n < 2:
        raise UnlearnError(
            "loss_mia needs at least 2 forget and 2 test samples to cross-validate, "
            f"got {len(forget)} forget and {len(test)} test samples"
        )
    rng = np.random.default_rng(seed)
    forget = forget[np.sort(rng.choice(len(forget), size=n, replace=False))]
    test = test[np.sort(rng.choice(len(test), size=n, replace=False))]
    x = np.concatenate([forget, test])[:, None]
    y = np.concatenate([np.full(n, _MEMBER), np.full(n, _NON_MEMBER)])
    cv = StratifiedKFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    scores = cross_val_score(
        make_pipeline(StandardScaler(), LogisticRegression()), x, y, cv=cv, scoring="accuracy"
    )
    return float(100.0 * np.mean(scores))

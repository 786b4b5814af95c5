"""Membership-inference attacks on a model's per-sample outputs: MIA-efficacy and loss-MIA."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import numpy as np

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics._validation import ArrayLike, as_values, logits_and_labels
from ftunlearn.metrics.features import get_feature

# scikit-learn is imported where an attack is built: it costs a second at every command's
# start-up, and most commands (report, help, the linear lab) never fit an attack.
if TYPE_CHECKING:
    from sklearn.base import ClassifierMixin

AttackFactory = Callable[[int, int], "ClassifierMixin"]
"""Builds an unfitted binary classifier from ``(n_features, seed)``."""

_MEMBER = 1
_NON_MEMBER = 0

ATTACK_SAMPLES = 5000
"""Most members and most non-members an SVC attack that libsvm must fit is fitted on (each
side drawn by the seed), under ``attack_samples="auto"``: features too wide for the exact
solver (``rbf_svc``), such as the loss. libsvm's fit grows about quadratically with its
training set: on Fashion-MNIST 10 000 + 10 000 took about 5 s, 5000 + 5000 about 1.5 s."""

AttackSamples = int | None | Literal["auto"]
"""How many members and non-members an attack is fitted on: at most that many a side, all
(``None``), or ``"auto"``: all when the SVC is solved exactly, else ``ATTACK_SAMPLES``."""

QUALITY_SAMPLES = 2000
"""Most members and non-members the attack accuracy cross-validates on: it estimates a rate,
for which 2000 + 2000 gives a standard error under 1.2 points, and 5 fits of a 5000 + 5000
attack would cost more than the efficacy itself."""

ATTACK_FOLDS = 5
"""Folds of the cross-validated attack accuracy (``mia_attack_accuracy``)."""


def _svc_attack(n_features: int, seed: int) -> ClassifierMixin:
    # The reference code's attack: SVC(C=3, gamma="auto", kernel="rbf") on the raw feature,
    # solved exactly in explicit kernel features when that feature is one bounded scalar.
    from ftunlearn.metrics.rbf_svc import RBFSVC

    return RBFSVC(C=3.0, gamma=1.0 / n_features, random_state=seed)


def _libsvm_attack(n_features: int, seed: int) -> ClassifierMixin:
    # The same SVC through scikit-learn's libsvm whatever the feature: a check of the above.
    from sklearn.svm import SVC

    return SVC(kernel="rbf", C=3.0, gamma=1.0 / n_features, random_state=seed)


def _logreg_attack(n_features: int, seed: int) -> ClassifierMixin:
    del n_features  # a linear model needs no kernel width
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(random_state=seed))


def loss_attack() -> ClassifierMixin:
    """Loss-MIA's classifier: a logistic regression on the standardised per-sample loss."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression())


MIA_ATTACKS: Mapping[str, AttackFactory] = MappingProxyType(
    {"svc": _svc_attack, "libsvm": _libsvm_attack, "logreg": _logreg_attack}
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


def cross_validated_accuracy(new_classifier: Callable[[], ClassifierMixin], x: np.ndarray,
                             y: np.ndarray, folds: int, seed: int) -> float:
    """Mean accuracy over stratified, shuffled (``seed``) ``folds``-fold splits, a fresh
    ``new_classifier()`` fitted on each training part: ``cross_val_score``'s number (a test
    holds them equal) without its per-fold cloning and scoring machinery, which cost as much as
    the fits of these one-feature attacks. ``x`` must be finite: the callers check it."""
    import sklearn
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = []
    # the callers validated x and y once; scikit-learn need not re-check them in every fold
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for train, test in cv.split(x, y):
            fitted = new_classifier().fit(x[train], y[train])
            scores.append(np.mean(fitted.predict(x[test]) == y[test]))
    return float(100.0 * np.mean(scores))


def _capped(values: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` rows of ``values``, drawn without replacement (order kept)."""
    if limit is None or len(values) <= limit:
        return values
    return values[np.sort(rng.choice(len(values), size=limit, replace=False))]


def _check_attack_samples(attack_samples: AttackSamples) -> None:
    if attack_samples is None or attack_samples == "auto":
        return
    if isinstance(attack_samples, bool) or not isinstance(attack_samples, int) or (
        attack_samples < 2
    ):
        raise UnlearnError(f"attack_samples must be an integer >= 2, None or 'auto', got "
                           f"{attack_samples!r}")


def fit_size(attack: str, member_features: ArrayLike, non_member_features: ArrayLike,
             attack_samples: AttackSamples) -> int | None:
    """``attack_samples`` with ``"auto"`` resolved: every sample when the attack is the SVC
    and its exact solver takes these features, else ``ATTACK_SAMPLES`` a side."""
    _check_attack_samples(attack_samples)
    if attack_samples != "auto":
        return attack_samples
    from ftunlearn.metrics.rbf_svc import solvable_exactly

    both = np.concatenate([as_values(member_features, "member_features"),
                           as_values(non_member_features, "non_member_features")])
    return None if attack == "svc" and solvable_exactly(both[:, None], 1.0) else ATTACK_SAMPLES


def attack_training_set(
    member_features: ArrayLike,
    non_member_features: ArrayLike,
    *,
    seed: int = 0,
    attack_samples: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The attack's ``(x, y)``: at most ``attack_samples`` members and as many non-members,
    each side drawn separately by ``seed`` (stratified by membership), members labelled 1."""
    if attack_samples == "auto":
        raise UnlearnError("attack_training_set needs a number or None; resolve 'auto' with "
                           "fit_size first")
    _check_attack_samples(attack_samples)
    rng = np.random.default_rng([seed, attack_samples or 0])
    members = _capped(_as_feature_matrix(member_features, "member_features"), attack_samples,
                      rng)
    non_members = _capped(_as_feature_matrix(non_member_features, "non_member_features"),
                          attack_samples, rng)
    x = np.concatenate([members, non_members])
    y = np.concatenate([np.full(len(members), _MEMBER), np.full(len(non_members), _NON_MEMBER)])
    return x, y


def mia_efficacy_from_features(
    member_features: ArrayLike,
    non_member_features: ArrayLike,
    target_features: ArrayLike,
    *,
    attack: str = "svc",
    seed: int = 0,
    attack_samples: AttackSamples = "auto",
) -> float:
    """Percent of targets that an attack trained on members vs non-members calls non-member.

    Each argument holds one scalar feature per sample. The attack is fitted on
    :func:`attack_training_set` (``attack_samples`` per side, see :func:`fit_size`); every
    target is scored.
    """
    size = fit_size(attack, member_features, non_member_features, attack_samples)
    x, y = attack_training_set(member_features, non_member_features, seed=seed,
                               attack_samples=size)
    targets = _as_feature_matrix(target_features, "target_features")
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
    attack_samples: AttackSamples = "auto",
) -> float:
    """MIA-efficacy in percent: the share of the forget set predicted *non-member*.

    The attack is trained on members (a ``seed``-drawn subset of the retain set as large as the
    test set, or all of it if smaller) against non-members (the test set), using the per-sample
    ``feature`` (see ``MIA_FEATURES``) of the softmax outputs, then applied to the forget set.
    The fit uses ``attack_samples`` of each side (:func:`fit_size`; ``None``: all).
    """
    forget = logits_and_labels(forget_logits, forget_labels, "forget")
    members, non_members = _population_features(
        retain_logits, retain_labels, test_logits, test_labels, feature, attack, seed,
        forget[0].shape[1],
    )
    return mia_efficacy_from_features(
        members, non_members, get_feature(feature)(*forget), attack=attack, seed=seed,
        attack_samples=attack_samples,
    )


def _population_features(
    retain_logits: ArrayLike,
    retain_labels: ArrayLike,
    test_logits: ArrayLike,
    test_labels: ArrayLike,
    feature: str,
    attack: str,
    seed: int,
    forget_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The member (retain sample) and non-member (test) features of the population attack."""
    feature_of = get_feature(feature)
    get_attack(attack)  # reject an unknown attack before any work
    retain = logits_and_labels(retain_logits, retain_labels, "retain")
    test = logits_and_labels(test_logits, test_labels, "test")
    widths = [retain[0].shape[1], test[0].shape[1]]
    if forget_classes is not None:
        widths.append(forget_classes)
    if len(set(widths)) != 1:
        names = "retain_logits, test_logits and forget_logits"
        raise UnlearnError(
            f"{names if forget_classes is not None else 'retain_logits and test_logits'} must "
            f"have the same number of classes (columns), got {' and '.join(map(str, widths))}"
        )
    members = member_sample(len(retain[1]), len(test[1]), seed)
    return feature_of(retain[0][members], retain[1][members]), feature_of(*test)


def attack_accuracy_from_features(
    member_features: ArrayLike,
    non_member_features: ArrayLike,
    *,
    attack: str = "svc",
    seed: int = 0,
    attack_samples: int | None = QUALITY_SAMPLES,
    folds: int = ATTACK_FOLDS,
) -> float:
    """Cross-validated accuracy in percent of the attack on its own training set.

    The set is :func:`attack_training_set`'s, capped at ``QUALITY_SAMPLES`` a side by default
    (the efficacy's attack uses ``ATTACK_SAMPLES``); folds are stratified and shuffled by
    ``seed``. 50 means the attack cannot tell members
    from non-members, so the efficacy it gives carries no information.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise UnlearnError(f"folds must be an integer of at least 2, got {folds!r}")
    x, y = attack_training_set(member_features, non_member_features, seed=seed,
                               attack_samples=attack_samples)
    smaller = int(min((y == _MEMBER).sum(), (y == _NON_MEMBER).sum()))
    if smaller < 2:
        raise UnlearnError("the attack accuracy needs at least 2 members and 2 non-members, "
                           f"got {int((y == _MEMBER).sum())} and {int((y == _NON_MEMBER).sum())}")
    factory = get_attack(attack)
    return cross_validated_accuracy(lambda: factory(x.shape[1], seed), x, y,
                                    min(folds, smaller), seed)


def mia_attack_accuracy(
    retain_logits: ArrayLike,
    retain_labels: ArrayLike,
    test_logits: ArrayLike,
    test_labels: ArrayLike,
    *,
    feature: str = "confidence",
    attack: str = "svc",
    seed: int = 0,
    attack_samples: int | None = QUALITY_SAMPLES,
    folds: int = ATTACK_FOLDS,
) -> float:
    """``MIA_attack_acc``: the quality of :func:`mia_efficacy`'s attack, in percent.

    The ``folds``-fold (stratified, shuffled by ``seed``) cross-validated accuracy with which
    the same attack, on a seeded subsample (``QUALITY_SAMPLES`` a side) of the same members and
    non-members, tells the two apart. Below about 55
    the attack is at chance and the MIA-efficacy it gives is noise.
    """
    members, non_members = _population_features(
        retain_logits, retain_labels, test_logits, test_labels, feature, attack, seed
    )
    return attack_accuracy_from_features(members, non_members, attack=attack, seed=seed,
                                         attack_samples=attack_samples, folds=folds)


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
    return cross_validated_accuracy(loss_attack, x, y, min(folds, n), seed)

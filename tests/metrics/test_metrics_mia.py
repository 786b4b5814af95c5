"""MIA-efficacy and loss-MIA on constructed members, non-members and forget sets."""

import numpy as np
import pytest
import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics import (
    MIA_ATTACKS,
    MIA_FEATURES,
    confidence,
    get_attack,
    loss_mia,
    member_sample,
    mia_efficacy,
    mia_efficacy_from_features,
)
from ftunlearn.metrics.mia import (
    attack_accuracy_from_features,
    attack_training_set,
    mia_attack_accuracy,
)

N_CLASSES = 4


def margin_logits(rng: np.random.Generator, n: int, low: float, high: float):
    """Logits whose true class leads every other class (all 0) by a margin in [low, high)."""
    labels = rng.integers(0, N_CLASSES, size=n)
    logits = np.zeros((n, N_CLASSES), dtype=np.float32)
    logits[np.arange(n), labels] = rng.uniform(low, high, size=n)
    return logits, labels


def constructed_sets(forget_like: str, seed: int = 0):
    """Members are confident (margin 6..8), non-members are not (margin -1..1)."""
    rng = np.random.default_rng(seed)
    retain = margin_logits(rng, 150, 6.0, 8.0)
    test = margin_logits(rng, 60, -1.0, 1.0)
    low, high = (6.0, 8.0) if forget_like == "members" else (-1.0, 1.0)
    forget = margin_logits(rng, 40, low, high)
    return (*retain, *test, *forget)


@pytest.mark.parametrize("attack", sorted(MIA_ATTACKS))
@pytest.mark.parametrize("feature", sorted(MIA_FEATURES))
def test_mia_efficacy_on_separable_sets(feature, attack):
    unseen = mia_efficacy(*constructed_sets("non-members"), feature=feature, attack=attack)
    seen = mia_efficacy(*constructed_sets("members"), feature=feature, attack=attack)
    assert unseen == 100.0
    assert seen == 0.0


def test_mia_efficacy_is_deterministic_by_seed():
    rng = np.random.default_rng(1)
    # Overlapping members and non-members so that the member sample matters.
    sets = (
        *margin_logits(rng, 300, 0.0, 4.0),
        *margin_logits(rng, 80, -1.0, 3.0),
        *margin_logits(rng, 50, -1.0, 4.0),
    )
    runs = [mia_efficacy(*sets, seed=seed) for seed in (0, 0, 1, 2, 3)]
    assert runs[0] == runs[1]
    assert len(set(runs)) > 1


def test_mia_efficacy_trains_on_a_member_sample_as_large_as_the_test_set():
    retain_logits, retain_labels, test_logits, test_labels, forget_logits, forget_labels = (
        constructed_sets("non-members")
    )
    members = member_sample(len(retain_labels), len(test_labels), seed=5)
    expected = mia_efficacy_from_features(
        confidence(retain_logits[members], retain_labels[members]),
        confidence(test_logits, test_labels),
        confidence(forget_logits, forget_labels),
        seed=5,
    )
    got = mia_efficacy(
        torch.from_numpy(retain_logits),
        torch.from_numpy(retain_labels),
        test_logits,
        test_labels,
        forget_logits,
        forget_labels,
        seed=5,
    )
    assert got == expected


def test_member_sample():
    first = member_sample(100, 30, seed=0)
    assert len(first) == 30
    assert len(np.unique(first)) == 30
    assert np.all(np.diff(first) > 0)
    assert first.min() >= 0
    assert first.max() < 100
    np.testing.assert_array_equal(first, member_sample(100, 30, seed=0))
    assert not np.array_equal(first, member_sample(100, 30, seed=1))
    np.testing.assert_array_equal(member_sample(20, 30, seed=0), np.arange(20))


def test_mia_efficacy_from_features_labels_targets_non_member():
    members = np.array([0.9, 0.95, 0.99, 0.97])
    non_members = np.array([0.1, 0.2, 0.15, 0.3])
    targets = np.array([0.12, 0.96, 0.25, 0.98])
    assert mia_efficacy_from_features(members, non_members, targets) == 50.0


def test_mia_efficacy_validation():
    retain_logits, retain_labels, test_logits, test_labels, forget_logits, forget_labels = (
        constructed_sets("members")
    )
    with pytest.raises(UnlearnError, match="forget_logits is empty"):
        mia_efficacy(
            retain_logits,
            retain_labels,
            test_logits,
            test_labels,
            forget_logits[:0],
            forget_labels[:0],
        )
    with pytest.raises(UnlearnError, match="test_labels must lie in"):
        mia_efficacy(
            retain_logits,
            retain_labels,
            test_logits,
            test_labels + N_CLASSES,
            forget_logits,
            forget_labels,
        )
    with pytest.raises(UnlearnError, match="retain_labels must be a vector of 150"):
        mia_efficacy(
            retain_logits,
            retain_labels[:-1],
            test_logits,
            test_labels,
            forget_logits,
            forget_labels,
        )
    with pytest.raises(UnlearnError, match="same number of classes"):
        mia_efficacy(
            retain_logits,
            retain_labels,
            test_logits[:, :3],
            test_labels % 3,
            forget_logits,
            forget_labels,
        )
    with pytest.raises(UnlearnError, match="unknown MIA attack 'mlp'"):
        mia_efficacy(*constructed_sets("members"), attack="mlp")
    with pytest.raises(UnlearnError, match="unknown MIA feature"):
        mia_efficacy(*constructed_sets("members"), feature="margin")
    assert set(MIA_ATTACKS) == {"svc", "libsvm", "logreg"}
    with pytest.raises(UnlearnError, match="unknown MIA attack"):
        get_attack("forest")


def test_loss_mia_near_chance_for_identically_distributed_losses():
    rng = np.random.default_rng(0)
    losses = rng.exponential(size=1200)
    score = loss_mia(losses[:400], losses[400:])
    assert 40.0 <= score <= 60.0


def test_loss_mia_perfect_for_separable_losses():
    rng = np.random.default_rng(0)
    forget = rng.uniform(0.0, 0.1, size=200)
    test = rng.uniform(2.0, 3.0, size=500)
    assert loss_mia(forget, torch.from_numpy(test)) == 100.0


def test_loss_mia_deterministic_by_seed():
    rng = np.random.default_rng(3)
    forget = rng.exponential(0.5, size=150)
    test = rng.exponential(1.0, size=300)
    runs = [loss_mia(forget, test, seed=seed) for seed in (7, 7, 8, 9)]
    assert runs[0] == runs[1]
    assert len(set(runs)) > 1


def test_loss_mia_reduces_folds_for_tiny_sets():
    # 3 samples a side: 3 folds instead of 10, still a well-defined score.
    assert loss_mia(np.array([0.0, 0.1, 0.2]), np.array([5.0, 5.5, 6.0, 7.0])) == 100.0


def test_loss_mia_validation():
    with pytest.raises(UnlearnError, match="at least 2 forget and 2 test"):
        loss_mia(np.array([0.1]), np.array([1.0, 2.0]))
    with pytest.raises(UnlearnError, match="forget_losses is empty"):
        loss_mia(np.array([]), np.array([1.0, 2.0]))
    with pytest.raises(UnlearnError, match="NaN"):
        loss_mia(np.array([0.1, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(UnlearnError, match="folds"):
        loss_mia(np.ones(5), np.ones(5), folds=1)


def test_attack_training_set_caps_each_side_by_seed():
    members, non_members = np.arange(50.0), np.arange(100.0, 130.0)
    x, y = attack_training_set(members, non_members, seed=3, attack_samples=20)
    assert (y == 1).sum() == 20 and (y == 0).sum() == 20
    assert set(x[y == 1, 0]) <= set(members) and set(x[y == 0, 0]) <= set(non_members)
    again, _ = attack_training_set(members, non_members, seed=3, attack_samples=20)
    other, _ = attack_training_set(members, non_members, seed=4, attack_samples=20)
    assert np.array_equal(x, again) and not np.array_equal(x, other)
    everything, labels = attack_training_set(members, non_members, attack_samples=None)
    assert len(everything) == 80 and labels.sum() == 50
    with pytest.raises(UnlearnError, match="attack_samples"):
        attack_training_set(members, non_members, attack_samples=1)


def test_mia_efficacy_fits_on_the_capped_subsample():
    rng = np.random.default_rng(2)
    members = rng.normal(1.0, 1.0, size=300)
    non_members = rng.normal(0.0, 1.0, size=300)
    targets = rng.normal(0.5, 1.0, size=100)
    capped = mia_efficacy_from_features(members, non_members, targets, attack_samples=40)
    full = mia_efficacy_from_features(members, non_members, targets, attack_samples=None)
    assert capped != full  # the cap binds: a different training set, another decision boundary
    # A cap above both sides' sizes changes nothing.
    assert mia_efficacy_from_features(members, non_members, targets, attack_samples=300) == full


def test_mia_attack_accuracy_tells_separable_from_identical_populations():
    retain_logits, retain_labels, test_logits, test_labels, *_ = constructed_sets("members")
    assert mia_attack_accuracy(retain_logits, retain_labels, test_logits, test_labels) == 100.0
    rng = np.random.default_rng(0)
    same = attack_accuracy_from_features(rng.normal(size=400), rng.normal(size=400))
    assert 40.0 < same < 60.0
    with pytest.raises(UnlearnError, match="folds"):
        attack_accuracy_from_features(np.ones(5), np.zeros(5), folds=1)


def test_auto_fits_every_sample_where_the_svc_is_solved_exactly():
    from ftunlearn.metrics.mia import ATTACK_SAMPLES, fit_size

    rng = np.random.default_rng(0)
    confidences = rng.uniform(0, 1, 7000), rng.uniform(0, 1, 7000)
    losses = rng.exponential(5.0, 7000), rng.exponential(6.0, 7000)
    assert fit_size("svc", *confidences, "auto") is None
    assert fit_size("svc", *losses, "auto") == ATTACK_SAMPLES  # libsvm: capped for its cost
    assert fit_size("logreg", *confidences, "auto") == ATTACK_SAMPLES
    assert fit_size("svc", *confidences, 300) == 300
    assert fit_size("svc", *confidences, None) is None
    with pytest.raises(UnlearnError, match="None or 'auto'"):
        fit_size("svc", *confidences, "most")
    targets = rng.uniform(0, 1, 500)
    assert mia_efficacy_from_features(*confidences, targets, seed=1) == \
        mia_efficacy_from_features(*confidences, targets, seed=1, attack_samples=None)


def test_the_exact_svc_and_libsvm_give_the_same_mia_efficacy():
    rng = np.random.default_rng(5)
    members, non_members = rng.beta(6.0, 1.5, 1500), rng.beta(5.0, 1.8, 1500)
    targets = rng.beta(5.5, 1.6, 2000)
    exact = mia_efficacy_from_features(members, non_members, targets, attack="svc")
    reference = mia_efficacy_from_features(members, non_members, targets, attack="libsvm",
                                           attack_samples=None)
    assert abs(exact - reference) <= 0.1  # libsvm stops at its tolerance of 1e-3


@pytest.mark.parametrize("attack", ["svc", "logreg", "loss"])
def test_the_fold_loop_gives_cross_val_scores_number_exactly(attack):
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from ftunlearn.metrics.mia import cross_validated_accuracy, loss_attack

    def new_classifier():
        return loss_attack() if attack == "loss" else get_attack(attack)(1, seed)

    rng = np.random.default_rng(5)
    for seed, n, folds in ((0, 40, 5), (3, 97, 10), (8, 300, 5)):
        # confidence-like features in [0, 1], members slightly higher: folds disagree
        x = np.concatenate([rng.beta(3, 2, size=n), rng.beta(2, 2, size=n + 7)])[:, None]
        y = np.concatenate([np.ones(n, dtype=int), np.zeros(n + 7, dtype=int)])
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        expected = 100.0 * np.mean(cross_val_score(new_classifier(), x, y, cv=cv,
                                                   scoring="accuracy"))
        assert cross_validated_accuracy(new_classifier, x, y, folds, seed) == expected
        assert 0.0 < expected < 100.0  # neither trivial end: the folds make mistakes

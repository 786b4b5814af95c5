"""The protocol's metrics (docs/protocol.md), each one registered function.

Registration order is the order reports list them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics.accuracy import accuracy
from ftunlearn.metrics.evaluate import MIA_KEYS
from ftunlearn.metrics.gaps import avg_gap, forget_loss_gap, js_divergence
from ftunlearn.metrics.mia import loss_mia, mia_attack_accuracy, mia_efficacy
from ftunlearn.metrics.registry import MetricInputs, avg_gap_keys, metric

if TYPE_CHECKING:
    from ftunlearn.metrics.evaluate import ModelOutputs


@metric("UA", "UA", primary=True, in_avg_gap=True,
        definition="unlearning accuracy: 100 − accuracy on the forget set D_f")
def unlearning_accuracy(inputs: MetricInputs) -> float:
    return 100.0 - accuracy(inputs.forget.logits, inputs.forget.labels)


@metric("RA", "RA", primary=True, in_avg_gap=True,
        definition="remaining accuracy: accuracy on the retain set D_r (or on a seeded, "
                   "label-stratified subsample of it, when asked)")
def remaining_accuracy(inputs: MetricInputs) -> float:
    return accuracy(inputs.retain.logits, inputs.retain.labels)


def _forgotten_test_rows(inputs: MetricInputs) -> torch.Tensor | None:
    """Which test samples belong to a forgotten class (``None`` on a random split)."""
    if not inputs.forgotten_classes:
        return None
    rows = torch.isin(inputs.test.labels, torch.tensor(inputs.forgotten_classes))
    if bool(rows.all()):
        raise UnlearnError(
            "every test sample belongs to a forgotten class, so there is no kept-class test "
            "set to measure TA on"
        )
    return rows


@metric("TA", "TA", primary=True, in_avg_gap=True,
        definition="test accuracy on D_test (class-wise forgetting: on the kept classes only)")
def test_accuracy(inputs: MetricInputs) -> float:
    rows = _forgotten_test_rows(inputs)
    test = inputs.test
    if rows is None:
        return accuracy(test.logits, test.labels)
    return accuracy(test.logits[~rows], test.labels[~rows])


@metric("TA_forgotten", "TA (forgotten classes)", direction="golden",
        definition="class-wise forgetting only: test accuracy on the forgotten classes "
                   "(NaN when the test set has none)")
def forgotten_class_accuracy(inputs: MetricInputs) -> float | None:
    rows = _forgotten_test_rows(inputs)
    if rows is None:
        return None
    if not bool(rows.any()):
        return float("nan")
    return accuracy(inputs.test.logits[rows], inputs.test.labels[rows])


def _non_members(inputs: MetricInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """The attacks' non-member logits and labels (see ``MetricInputs.mia_non_members``)."""
    test = inputs.test
    rows = _forgotten_test_rows(inputs) if inputs.mia_non_members == "kept-classes" else None
    if rows is None:
        return test.logits, test.labels
    return test.logits[~rows], test.labels[~rows]


def _mia(feature: str, inputs: MetricInputs) -> float:
    return mia_efficacy(
        inputs.retain.logits, inputs.retain.labels, *_non_members(inputs),
        inputs.forget.logits, inputs.forget.labels, feature=feature, seed=inputs.seed,
        attack=inputs.mia_attack, attack_samples=inputs.attack_samples,
    )


@metric("MIA", "MIA", primary=True, in_avg_gap=True,
        definition="MIA-efficacy: share of D_f an RBF-SVC attack on the confidence p_y, "
                   "trained on D_r members vs D_test non-members, calls non-member")
def mia_confidence(inputs: MetricInputs) -> float:
    return _mia("confidence", inputs)


@metric("MIA_attack_acc", "MIA attack acc.", direction="higher",
        definition="the MIA attack's own 5-fold cross-validated accuracy on D_r members vs "
                   "non-members (50 is chance; below 55 its MIA-efficacy is noise)")
def mia_attack_quality(inputs: MetricInputs) -> float:
    return mia_attack_accuracy(inputs.retain.logits, inputs.retain.labels,
                               *_non_members(inputs), attack=inputs.mia_attack, seed=inputs.seed)


def _extra_mia(feature: str, label: str) -> None:
    @metric(MIA_KEYS[feature], label,
            definition=f"MIA-efficacy as MIA, with the {feature.replace('_', ' ')} feature")
    def compute(inputs: MetricInputs) -> float | None:
        return _mia(feature, inputs) if feature in inputs.mia_features else None


_extra_mia("entropy", "MIA (entropy)")
_extra_mia("modified_entropy", "MIA (modified entropy)")
_extra_mia("loss", "MIA (loss)")


@metric("loss_MIA", "Loss-MIA",
        definition="10-fold cross-validated accuracy of a logistic regression telling D_f "
                   "from an equal-size D_test sample by the loss (50 is ideal)")
def loss_attack(inputs: MetricInputs) -> float:
    return loss_mia(inputs.forget.losses, inputs.test.losses, seed=inputs.seed)


@metric("forget_CE", "Forget CE", unit="nats",
        definition="mean cross-entropy on D_f")
def forget_cross_entropy(inputs: MetricInputs) -> float:
    return float(inputs.forget.losses.double().mean())


DIVERGED_LOGIT = 1e3
"""A |logit| above this means the model diverged (trained models here stay under about 50)."""
DIVERGED_LOSS = 50.0
"""A mean forget cross-entropy above this (nats) means the model diverged (chance is ln C)."""


@metric("max_logit", "Max |logit|", direction="none", unit="",
        definition=f"the largest absolute logit over D_f, D_r and D_test; above "
                   f"{DIVERGED_LOGIT:g} (or a forget CE above {DIVERGED_LOSS:g} nats) the model "
                   f"has diverged and its other numbers do not compare")
def largest_logit(inputs: MetricInputs) -> float:
    sets = (inputs.forget, inputs.retain, inputs.test)
    return max((float(s.logits.abs().max()) for s in sets if s.logits.numel()), default=0.0)


def _golden(inputs: MetricInputs) -> ModelOutputs:
    if inputs.golden is None:
        raise UnlearnError("a golden-relative metric was asked for without golden outputs")
    return inputs.golden


@metric("avg_gap", "Avg Gap", stage="golden", primary=True, direction="lower",
        definition="mean |m − m_golden| over the metrics marked for it (UA, RA, TA, MIA)")
def average_gap(inputs: MetricInputs) -> float:
    return avg_gap(inputs.own, _golden(inputs).metrics, avg_gap_keys())


@metric("forget_loss_gap", "Forget-loss gap", stage="golden", primary=True, direction="lower",
        unit="nats", definition="|CE(θ_u; D_f) − CE(θ_g; D_f)|")
def forget_loss_difference(inputs: MetricInputs) -> float:
    return forget_loss_gap(inputs.forget.losses, _golden(inputs).forget.losses)


@metric("JS_forget", "JS (D_f)", stage="golden", direction="lower", unit="nats",
        definition="mean Jensen–Shannon divergence to the golden model's softmax on D_f")
def js_forget(inputs: MetricInputs) -> float:
    return js_divergence(inputs.forget.logits, _golden(inputs).forget.logits)


@metric("JS_test", "JS (D_test)", stage="golden", direction="lower", unit="nats",
        definition="mean Jensen–Shannon divergence to the golden model's softmax on D_test")
def js_test(inputs: MetricInputs) -> float:
    return js_divergence(inputs.test.logits, _golden(inputs).test.logits)


@metric("rte_seconds", "RTE (s)", stage="timing", primary=True, direction="lower", unit="s",
        definition="wall-clock seconds of the unlearning procedure alone")
def run_time(inputs: MetricInputs) -> float | None:
    seconds = inputs.rte_seconds
    if seconds is None:
        return None
    if not seconds >= 0 or seconds == float("inf"):
        raise UnlearnError(f"rte_seconds must be a finite number >= 0, got {seconds}")
    return float(seconds)


@metric("weights_changed", "Weights changed", stage="timing", direction="none", unit="",
        definition="how many weight entries differ from the model before unlearning (0: the "
                   "method did nothing, its output is bit-identical to its input)")
def changed_weights(inputs: MetricInputs) -> float | None:
    return None if inputs.weights_changed is None else float(inputs.weights_changed)


@metric("rte_ratio", "RTE / retrain", stage="timing", direction="lower", unit="×",
        definition="RTE divided by the golden retrain's seconds")
def run_time_ratio(inputs: MetricInputs) -> float | None:
    if inputs.rte_seconds is None or inputs.retrain_seconds is None:
        return None
    retrain = inputs.retrain_seconds
    if not retrain > 0 or retrain == float("inf"):
        raise UnlearnError(f"retrain_seconds must be a finite number > 0, got {retrain}")
    return float(inputs.rte_seconds) / float(retrain)

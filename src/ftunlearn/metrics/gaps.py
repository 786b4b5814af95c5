"""Distances between an unlearned model and the golden (retrained) model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import rel_entr

from ftunlearn.errors import UnlearnError
from ftunlearn.metrics._validation import ArrayLike, as_logits, as_values
from ftunlearn.metrics.features import softmax_probabilities
from ftunlearn.metrics.registry import avg_gap_keys


def avg_gap(
    metrics: Mapping[str, float],
    golden_metrics: Mapping[str, float],
    keys: Sequence[str] | None = None,
) -> float:
    """Mean of ``|metrics[k] − golden_metrics[k]|`` over ``keys`` (same unit as the metrics);
    by default the metrics the registry marks ``in_avg_gap`` (UA, RA, TA, MIA)."""
    if keys is None:
        keys = avg_gap_keys()
    if len(keys) == 0:
        raise UnlearnError("avg_gap needs at least one metric key")
    for name, values in (("metrics", metrics), ("golden_metrics", golden_metrics)):
        missing = [key for key in keys if key not in values]
        if missing:
            raise UnlearnError(f"{name} lacks the key(s) {', '.join(missing)} that avg_gap uses")
    gaps = [abs(float(metrics[key]) - float(golden_metrics[key])) for key in keys]
    return float(np.mean(gaps))


def forget_loss_gap(forget_losses_u: ArrayLike, forget_losses_g: ArrayLike) -> float:
    """``|mean CE_u − mean CE_g|`` on the forget set: both vectors hold per-sample losses of
    the same forget samples, from the unlearned and the golden model."""
    unlearned = as_values(forget_losses_u, "forget_losses_u")
    golden = as_values(forget_losses_g, "forget_losses_g")
    if unlearned.shape != golden.shape:
        raise UnlearnError(
            "forget_losses_u and forget_losses_g must hold losses of the same forget samples, "
            f"got {unlearned.shape[0]} and {golden.shape[0]} values"
        )
    return float(abs(unlearned.mean() - golden.mean()))


def js_divergence(logits_p: ArrayLike, logits_q: ArrayLike) -> float:
    """Mean Jensen–Shannon divergence, in nats (natural log, so within [0, ln 2]), between the
    softmax outputs of two models on the same samples (row ``i`` of each is sample ``i``)."""
    p = as_logits(logits_p, "logits_p")
    q = as_logits(logits_q, "logits_q")
    if p.shape != q.shape:
        raise UnlearnError(
            "logits_p and logits_q must come from the same samples and classes, got shapes "
            f"{p.shape} and {q.shape}"
        )
    p, q = softmax_probabilities(p), softmax_probabilities(q)
    m = 0.5 * (p + q)
    per_sample = 0.5 * np.sum(rel_entr(p, m), axis=1) + 0.5 * np.sum(rel_entr(q, m), axis=1)
    # Rounding can leave a divergence of (nearly) equal rows a hair below zero.
    return float(np.mean(np.maximum(per_sample, 0.0)))

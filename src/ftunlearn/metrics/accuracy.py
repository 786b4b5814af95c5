"""Classification accuracy from logits."""

from __future__ import annotations

import numpy as np

from ftunlearn.metrics._validation import ArrayLike, logits_and_labels


def accuracy(logits: ArrayLike, labels: ArrayLike) -> float:
    """Percent of samples whose arg-max logit is the label (ties go to the lowest class)."""
    z, y = logits_and_labels(logits, labels)
    return float(100.0 * np.mean(np.argmax(z, axis=1) == y))

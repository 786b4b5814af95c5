"""Metrics of the evaluation protocol: accuracy, membership inference, gaps and divergences.

The metric functions are pure functions of per-sample outputs (logits as float tensors or
numpy arrays, integer labels); ``evaluate`` applies them to a model on a dataset split.
The metric registry (``registry``) never imports a metric: ``definitions`` registers them and
this package's ``__init__`` imports it.

Layer ``metrics`` (docs/architecture.md): owns the metric registry and definitions, the
outputs they read, MIA, gaps and the audit's statistics. May import the foundation,
``training``, ``data``, ``models`` and ``methods`` (``evaluate_sets`` accepts the sets
``unlearn`` accepts); never runs, reporting or anything above.
"""

from ftunlearn.metrics import definitions as _definitions  # noqa: F401  (registers the metrics)
from ftunlearn.metrics.accuracy import accuracy
from ftunlearn.metrics.evaluate import (
    EXTRA_MIA_FEATURES,
    MIA_KEYS,
    SplitLike,
    evaluate,
    golden_metrics,
    model_outputs,
    standalone_metrics,
    timing_metrics,
)
from ftunlearn.metrics.features import (
    MIA_FEATURES,
    confidence,
    cross_entropy,
    entropy,
    get_feature,
    modified_entropy,
    softmax_probabilities,
)
from ftunlearn.metrics.gaps import avg_gap, forget_loss_gap, js_divergence
from ftunlearn.metrics.mia import (
    MIA_ATTACKS,
    get_attack,
    loss_mia,
    member_sample,
    mia_efficacy,
    mia_efficacy_from_features,
)
from ftunlearn.metrics.outputs import ModelOutputs, SetOutputs

__all__ = [
    "EXTRA_MIA_FEATURES",
    "MIA_ATTACKS",
    "MIA_FEATURES",
    "MIA_KEYS",
    "ModelOutputs",
    "SetOutputs",
    "SplitLike",
    "accuracy",
    "avg_gap",
    "confidence",
    "cross_entropy",
    "entropy",
    "evaluate",
    "forget_loss_gap",
    "get_attack",
    "get_feature",
    "golden_metrics",
    "js_divergence",
    "loss_mia",
    "member_sample",
    "mia_efficacy",
    "mia_efficacy_from_features",
    "model_outputs",
    "modified_entropy",
    "softmax_probabilities",
    "standalone_metrics",
    "timing_metrics",
]

"""The metric registry: every metric of the protocol declared once, with its metadata.

A metric is one function of :class:`MetricInputs` registered with :func:`metric`; it returns a
float, or ``None`` where it does not apply (``TA_forgotten`` on a random split, ``rte_ratio``
without the retrain's time). Everything that lists metrics (evaluation, Avg Gap, reports,
definitions blocks) reads this registry; adding a metric is adding one decorated function to
:mod:`ftunlearn.metrics.definitions`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ftunlearn.metrics.mia import AttackSamples
from ftunlearn.metrics.outputs import ModelOutputs, SetOutputs
from ftunlearn.registry import Registry

Direction = Literal["golden", "lower", "higher", "none"]
"""How to read a metric: closer to the golden model's value is better, lower, higher, or no
direction (a descriptive number)."""

Stage = Literal["model", "golden", "timing"]
"""What a metric needs: the model's own outputs, also the golden model's outputs, or the
procedure's record (its timing, how many weights it changed)."""

MetricSelection = Literal["all", "primary"]
"""Which metrics an evaluation computes: every one, or only the main table's (``primary``, and
what Avg Gap averages), which is all a tuning trial reads."""

NonMembers = Literal["test", "kept-classes"]
"""The population attacks' non-members on a class-wise split (``MetricInputs``)."""


@dataclass(frozen=True)
class MetricInputs:
    """Everything a metric function may read for one model on one split."""

    forget: SetOutputs
    retain: SetOutputs
    test: SetOutputs
    forgotten_classes: tuple[int, ...]
    seed: int = 0
    mia_features: tuple[str, ...] = ()
    """The extra MIA features asked for (the confidence feature is always computed)."""
    mia_non_members: NonMembers = "test"
    """The population attacks' non-members on a class-wise split: the whole test set, or only
    its kept classes (the reference code's choice); a random split always uses the whole."""
    attack_samples: AttackSamples = "auto"
    mia_attack: str = "svc"
    """The population attacks' classifier (``mia.MIA_ATTACKS``)."""
    """How many members and non-members each MIA attack is fitted on (``mia.fit_size``)."""
    own: Mapping[str, float] = field(default_factory=dict)
    """This model's values of the model-stage metrics (filled before the golden stage)."""
    golden: ModelOutputs | None = None
    rte_seconds: float | None = None
    retrain_seconds: float | None = None
    weights_changed: int | None = None
    """How many weight entries the procedure changed (``None``: not measured)."""


MetricFunction = Callable[[MetricInputs], float | None]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric and how reports should show it."""

    name: str
    compute: MetricFunction
    label: str
    stage: Stage = "model"
    primary: bool = False
    """Shown in the main results table."""
    in_avg_gap: bool = False
    """Averaged into Avg Gap (as |value − golden value|)."""
    direction: Direction = "golden"
    unit: str = "%"
    definition: str = ""

    @property
    def needs_golden(self) -> bool:
        return self.stage == "golden"


METRICS: Registry[MetricSpec] = Registry("metric")


def metric(
    name: str, label: str, *, stage: Stage = "model", primary: bool = False,
    in_avg_gap: bool = False, direction: Direction = "golden", unit: str = "%",
    definition: str = "",
) -> Callable[[MetricFunction], MetricFunction]:
    """Decorator: register a metric function under ``name`` with its metadata."""

    def decorate(function: MetricFunction) -> MetricFunction:
        METRICS.add(MetricSpec(name, function, label, stage, primary, in_avg_gap, direction,
                               unit, definition))
        return function

    return decorate


def avg_gap_keys() -> tuple[str, ...]:
    """The metrics averaged into Avg Gap, in registry order."""
    return METRICS.names(lambda m: m.in_avg_gap)


def primary_metrics() -> tuple[str, ...]:
    """The main table's metrics, in registry order."""
    return METRICS.names(lambda m: m.primary)


def selected(spec: MetricSpec, selection: MetricSelection) -> bool:
    """Whether ``selection`` includes the metric ``spec``."""
    return selection == "all" or spec.primary or spec.in_avg_gap


def compute_stage(stage: Stage, inputs: MetricInputs,
                  selection: MetricSelection = "all") -> dict[str, float]:
    """The values of every metric of ``stage`` in ``selection`` that applies to ``inputs``."""
    values = {}
    for spec in METRICS:
        if spec.stage == stage and selected(spec, selection):
            value = spec.compute(inputs)
            if value is not None:
                values[spec.name] = float(value)
    return values

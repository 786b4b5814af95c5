"""What reports need to know about methods and metrics, read from their registries.

Method order and the ``reference`` flag come from ``ftunlearn.methods.base.METHODS``; metric
labels, directions, units and definitions from ``ftunlearn.metrics.registry.METRICS``. A name
neither registry knows (a plug-in's method, an ad-hoc metric) still gets a row: it sorts after
the registered ones and its definition says it is not documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ftunlearn.errors import UnlearnError
from ftunlearn.experiments.pseudo import pseudo_method

DIRECTION_WORDS = {
    "golden": "closer to golden is better",
    "lower": "lower is better",
    "higher": "higher is better",
    "none": "no better direction",
}


@dataclass(frozen=True)
class MetricInfo:
    """The report's view of a metric (a registry ``MetricSpec`` or a fallback)."""

    name: str
    label: str
    direction: str
    unit: str
    definition: str
    registered: bool


@cache
def method_order() -> tuple[str, ...]:
    """Registered method names in registration order (the order of colours and rows)."""
    from ftunlearn.methods.base import METHODS

    return METHODS.names()


def is_reference(method: str) -> bool:
    """A retraining reference (the golden row or a method registered ``reference=True``)."""
    pseudo = pseudo_method(method)
    if pseudo is not None:
        return pseudo.reference
    from ftunlearn.methods.base import METHODS

    try:
        return bool(METHODS.get(method).reference)
    except UnlearnError:
        return False


def metric_info(name: str) -> MetricInfo:
    """The metric's registry entry, or a fallback naming it as undocumented."""
    try:
        import ftunlearn.metrics.definitions  # noqa: F401  (registers the protocol's metrics)
        from ftunlearn.metrics.registry import METRICS

        spec = METRICS.get(name)
    except (ImportError, UnlearnError):
        return MetricInfo(name, name, "none", "", "not documented in the metric registry", False)
    return MetricInfo(
        name=spec.name, label=spec.label, direction=spec.direction, unit=spec.unit or "",
        definition=spec.definition, registered=True,
    )


def metric_label(name: str) -> str:
    return metric_info(name).label

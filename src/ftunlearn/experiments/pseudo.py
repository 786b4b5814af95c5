"""The run's own models that get a row beside the methods: the golden and the original model.

Each is declared once here with everything that treats it specially (which model of a seed it
is, whether it is the retraining reference, its label and plot style); cells, identities,
reports and plots read these entries instead of comparing names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ftunlearn.registry import Registry


@dataclass(frozen=True)
class PseudoMethod:
    """A model of the run reported as if it were a method."""

    name: str
    role: Literal["golden", "original"]
    """Which model of a seed's reference it is (``Workspace.reference(seed).<role>``)."""
    label: str
    """How legends and tables name it."""
    reference: bool
    """The retraining reference: it carries the reference method's version and its seconds
    are the retraining time."""
    style: Mapping[str, object] = field(default_factory=dict)
    """Its matplotlib colour and marker, distinct from every method's."""


PSEUDO_METHODS: Registry[PseudoMethod] = Registry("pseudo-method")
"""In the order reports list them, before the methods."""

GOLDEN = PSEUDO_METHODS.add(PseudoMethod(
    "golden", "golden", "golden (retrained on D_r)", True,
    MappingProxyType({"color": "black", "marker": "*", "markersize": 13}),
)).name
ORIGINAL = PSEUDO_METHODS.add(PseudoMethod(
    "original", "original", "original (before unlearning)", False,
    MappingProxyType({"color": "dimgray", "marker": "X", "markersize": 9}),
)).name


def pseudo_method(name: str) -> PseudoMethod | None:
    """The entry of ``name`` when it is a model of the run, else ``None``."""
    return PSEUDO_METHODS.get(name) if name in PSEUDO_METHODS else None

"""Unlearning methods behind one contract (:class:`Unlearner`) and one registry.

Each module registers its methods on import; adding a method means adding one module here.
"""

from ftunlearn.methods import (  # noqa: F401  (register the built-in methods)
    ascent,
    dampening,
    finetune,
    influence,
    masking,
    regularised,
    relabel,
    salun,
    scrub,
    sparse,
)
from ftunlearn.methods.base import (
    Context,
    Hyperparameters,
    Samples,
    Unlearner,
    UnlearnError,
    UnlearnResult,
    available_methods,
    make_config,
    method_class,
    register,
    unlearn,
)

__all__ = [
    "Context",
    "Hyperparameters",
    "Samples",
    "UnlearnError",
    "UnlearnResult",
    "Unlearner",
    "available_methods",
    "make_config",
    "method_class",
    "register",
    "unlearn",
]

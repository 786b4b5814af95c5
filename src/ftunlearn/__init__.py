"""ftunlearn: machine unlearning by fine-tuning.

The public interface::

    import ftunlearn
    data = ftunlearn.load_dataset("digits")
    split = ftunlearn.make_split(data, "random:0.1", seed=0)
    result = ftunlearn.unlearn(model, (x_r, y_r), (x_f, y_f), method="dr-ft", alpha=0.5)

Submodules are imported lazily so that ``ftunlearn.linear`` (numpy only) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from ftunlearn.errors import UnlearnError

__version__ = "0.1.0"

_LAZY = {
    "load_dataset": "ftunlearn.data",
    "available_datasets": "ftunlearn.data",
    "make_split": "ftunlearn.data",
    "Dataset": "ftunlearn.data",
    "Split": "ftunlearn.data",
    "build_model": "ftunlearn.models",
    "available_models": "ftunlearn.models",
    "Recipe": "ftunlearn.training",
    "fit": "ftunlearn.training",
    "predict": "ftunlearn.training",
    "unlearn": "ftunlearn.methods",
    "available_methods": "ftunlearn.methods",
    "evaluate": "ftunlearn.metrics",
    "evaluate_sets": "ftunlearn.metrics.sets",
    "save": "ftunlearn.checkpoints",
    "load": "ftunlearn.checkpoints",
    "load_run": "ftunlearn.unlearn_outputs",
    "Run": "ftunlearn.unlearn_outputs",
}

__all__ = ["UnlearnError", "__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ftunlearn' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

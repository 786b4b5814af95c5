"""Hand-written models (no torchvision) and user models by import path.

Layer ``models`` (docs/architecture.md), with ``ftunlearn.checkpoints``: owns architectures,
the model registry, the checks a model must pass and model files. May import the foundation,
``training`` and ``data``; nothing above.
"""

from ftunlearn.models import resnet, simple  # noqa: F401  (register the built-in models)
from ftunlearn.models.registry import (
    Architecture,
    ModelSpec,
    architecture_of,
    available_models,
    build_model,
    register_model,
)

__all__ = ["Architecture", "ModelSpec", "architecture_of", "available_models", "build_model",
           "register_model"]

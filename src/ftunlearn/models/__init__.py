"""Hand-written models (no torchvision) and user models by import path."""

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

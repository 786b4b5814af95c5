"""Small hand-written models: a multi-layer perceptron and a small convolutional net."""

from __future__ import annotations

import math

from torch import nn

from ftunlearn.errors import UnlearnError
from ftunlearn.models.registry import register_model


@register_model("mlp", "multi-layer perceptron on the flattened input: depth hidden ReLU "
                        "layers of hidden units (defaults hidden=256, depth=2)")
def mlp(
    input_shape: tuple[int, ...], num_classes: int, *, hidden: int = 256, depth: int = 2
) -> nn.Module:
    """``depth`` hidden ReLU layers of ``hidden`` units on the flattened input."""
    if hidden < 1 or depth < 0:
        raise UnlearnError(f"mlp needs hidden >= 1 and depth >= 0, got {hidden=} {depth=}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


@register_model("cnn", "two 3x3 conv-ReLU-maxpool stages (width, 2·width channels) and a "
                        "2-layer head of hidden units (defaults width=16, hidden=64)")
def cnn(
    input_shape: tuple[int, ...], num_classes: int, *, width: int = 16, hidden: int = 64
) -> nn.Module:
    """Two 3x3 conv-ReLU-maxpool stages (``width``, ``2*width`` channels) and a 2-layer head."""
    if len(input_shape) != 3:
        raise UnlearnError(f"cnn needs image inputs (C, H, W), got shape {input_shape}")
    channels, height, breadth = input_shape
    if min(height, breadth) < 4:
        raise UnlearnError(f"cnn needs images of at least 4x4 pixels, got {height}x{breadth}")
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * (height // 4) * (breadth // 4), hidden),
        nn.ReLU(),
        nn.Linear(hidden, num_classes),
    )

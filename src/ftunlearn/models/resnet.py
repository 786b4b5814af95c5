"""ResNet-18 with the CIFAR stem (one 3x3 convolution, no max-pool), written by hand."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ftunlearn.errors import UnlearnError
from ftunlearn.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Four stages of basic blocks; stage ``i`` has ``width * 2**i`` channels."""

    def __init__(
        self, in_channels: int, num_classes: int, blocks: tuple[int, ...], width: int
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        stages: list[nn.Module] = []
        channels = width
        for index, count in enumerate(blocks):
            out_channels = width * 2**index
            stride = 1 if index == 0 else 2
            for block in range(count):
                stages.append(BasicBlock(channels, out_channels, stride if block == 0 else 1))
                channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(features, 1), 1))


RESNET18_DESCRIPTION = (
    "ResNet-18 with the CIFAR stem (one 3x3 convolution, stride 1, no max-pool), as SalUn "
    "and l1-sparse use for CIFAR-10, not the ImageNet stem (7x7 stride 2 + max-pool); "
    "2-2-2-2 basic blocks, first stage width channels (default 64, 11.2 M parameters at "
    "10 classes)")


@register_model("resnet18", RESNET18_DESCRIPTION)
def resnet18(input_shape: tuple[int, ...], num_classes: int, *, width: int = 64) -> nn.Module:
    """ResNet-18 (2-2-2-2 basic blocks) with a 3x3 stem; ``width`` is the first stage's channels."""
    if len(input_shape) != 3:
        raise UnlearnError(f"resnet18 needs image inputs (C, H, W), got shape {input_shape}")
    if width < 1:
        raise UnlearnError(f"resnet18 needs width >= 1, got {width}")
    return ResNet(input_shape[0], num_classes, (2, 2, 2, 2), width)

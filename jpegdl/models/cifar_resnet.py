"""CIFAR-style ResNets (He et al. 2016, section 4.2) as in the RepDistiller model zoo."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """Depth ``6n + 2``: a 3x3 stem of ``widths[0]`` channels and three stages of ``n`` blocks."""

    def __init__(self, depth: int, widths: tuple[int, int, int, int], num_classes: int, in_chans: int) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth: expected 6n + 2, got {depth}")
        blocks = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        layers, in_planes = [], widths[0]
        for stage, planes in enumerate(widths[1:]):
            for index in range(blocks):
                layers.append(BasicBlock(in_planes, planes, stride=2 if stage > 0 and index == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def cifar_resnet(depth: int, width_multiplier: int = 1):
    """Factory ``(num_classes, in_chans) -> CifarResNet`` (x4: the RepDistiller 'resnet8x4' widths)."""
    widths = (32, 64, 128, 256) if width_multiplier == 4 else (16, 16, 32, 64)
    return lambda num_classes, in_chans: CifarResNet(depth, widths, num_classes, in_chans)

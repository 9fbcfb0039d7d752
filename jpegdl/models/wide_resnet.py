"""Wide ResNets (Zagoruyko & Komodakis 2016) for small images: wrn_16_2, wrn_40_2."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WideBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut = (
            None if in_planes == planes and stride == 1 else nn.Conv2d(in_planes, planes, 1, stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        return out + shortcut


class WideResNet(nn.Module):
    """WRN-depth-k: three stages of ``(depth - 4) / 6`` pre-activation blocks, widths 16k, 32k, 64k."""

    def __init__(self, depth: int, widen: int, num_classes: int, in_chans: int) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"depth: expected 6n + 4, got {depth}")
        blocks = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.stem = nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False)
        layers, in_planes = [], widths[0]
        for stage, planes in enumerate(widths[1:]):
            for index in range(blocks):
                layers.append(WideBlock(in_planes, planes, 2 if stage > 0 and index == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers, nn.BatchNorm2d(in_planes), nn.ReLU())
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1), 1))

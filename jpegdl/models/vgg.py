"""VGG with batch normalisation for small images (vgg8 is RepDistiller's shallow variant)."""

from __future__ import annotations

import torch
from torch import nn

CONFIGS = {
    8: ((64,), (128,), (256,), (512,), (512,)),
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
}


class VGG(nn.Module):
    """Five conv stages, max-pooling between them (skipped once the map is 1x1), global pool, linear head."""

    def __init__(self, depth: int, num_classes: int, in_chans: int) -> None:
        super().__init__()
        if depth not in CONFIGS:
            raise ValueError(f"depth: expected one of {sorted(CONFIGS)}, got {depth}")
        layers: list[nn.Module] = []
        channels = in_chans
        for index, stage in enumerate(CONFIGS[depth]):
            for width in stage:
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
            if index < len(CONFIGS[depth]) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))

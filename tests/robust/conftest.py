"""A tiny classifier trained on a synthetic two-class task, shared by the robustness tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def halves_data(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(count, 1, 8, 8)`` images in [0, 1]; the label says which half (left/right) is brighter."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (count,), generator=generator)
    images = 0.5 + 0.1 * torch.randn(count, 1, 8, 8, generator=generator)
    brighter = torch.where(labels[:, None] == 0, torch.arange(8) < 4, torch.arange(8) >= 4)
    images = images + 0.15 * brighter[:, None, None, :].float()
    return images.clamp(0, 1), labels


@pytest.fixture(scope="package")
def tiny_model() -> nn.Module:
    """A small conv net, accurate on ``halves_data`` (trained for 150 Adam steps)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                          nn.Linear(16, 2))  # fmt: skip
    images, labels = halves_data(512, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="package")
def test_batch() -> tuple[torch.Tensor, torch.Tensor]:
    return halves_data(256, seed=1)

"""Top-1 accuracy over a loader, summed across DDP processes."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from jpegdl.utils import DistContext, all_reduce_sum


@torch.no_grad()
def top1_accuracy(
    model: nn.Module, loader: DataLoader, device: torch.device, context: DistContext | None = None
) -> float:
    """Fraction of correctly classified images, summed over DDP processes when ``context`` is given.

    ``loader`` yields ``(images, labels)``; the model runs in eval mode (its mode is restored).
    """
    was_training = model.training
    model.eval()
    counts = torch.zeros(2, dtype=torch.float64, device=device)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        counts[0] += (model(images).argmax(1) == labels).sum()
        counts[1] += labels.numel()
    all_reduce_sum(counts, context)
    model.train(was_training)
    return float(counts[0] / counts[1].clamp(min=1))

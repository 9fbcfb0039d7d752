"""Top-1 accuracy over a loader, summed across DDP processes."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader, device: torch.device, context: object | None = None) -> float:
    """Fraction of correctly classified images (model in eval mode; its mode is restored)."""
    from jpegdl.train.distributed import DistContext, all_reduce_sum

    was_training = model.training
    model.eval()
    counts = torch.zeros(2, dtype=torch.float64, device=device)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        counts[0] += (model(images).argmax(1) == labels).sum()
        counts[1] += labels.numel()
    all_reduce_sum(counts, context if context is not None else DistContext())
    model.train(was_training)
    return float(counts[0] / counts[1].clamp(min=1))

"""The weighting interface used by training loops, the weighted loss, and the two simple baselines.

A weighting turns a batch's per-example losses into non-negative weights ``(B,)``; the batch loss
is ``sum_i w_i * loss_i / sum_i w_i`` (:func:`weighted_mean`), so only relative weights matter.
Weights are computed without gradient: they steer the model, they are not trained through.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from jpegdl.utils import DistContext, all_reduce_sum


class ExampleWeighting(nn.Module):
    """Base class. A loop calls :meth:`start` once with the run's total step count, then
    ``weights(losses, logits, step, lr)`` for every batch (``step`` counts from 0).

    Subclasses return float weights ``(B,)``, finite and >= 0, on ``losses``' device.
    """

    total_steps: int = 1

    def start(self, total_steps: int) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps: expected an integer >= 1, got {total_steps}")
        self.total_steps = total_steps

    def weights(self, losses: torch.Tensor, logits: torch.Tensor, step: int, lr: float) -> torch.Tensor:
        raise NotImplementedError


class UniformWeighting(ExampleWeighting):
    """Every weight is 1 (mean exactly 1): plain cross-entropy."""

    def weights(self, losses: torch.Tensor, logits: torch.Tensor, step: int, lr: float) -> torch.Tensor:
        return torch.ones_like(losses, dtype=torch.float32)


class SmallLossWeighting(ExampleWeighting):
    """Drop each batch's largest losses (Co-teaching's small-loss rule for one network).

    The dropped share rises linearly from 0 to ``drop`` over the first ``ramp`` of training (the
    early, clean-fitting phase keeps everything). Weights are 0 for the ``floor(share * B)``
    largest losses and 1 elsewhere, so their mean is ``1 - floor(share * B) / B``.

    Args:
        drop: final dropped share, in [0, 1).
        ramp: share of the run's steps over which the dropped share grows, in [0, 1].
    """

    def __init__(self, drop: float = 0.2, ramp: float = 0.25) -> None:
        super().__init__()
        if not 0 <= drop < 1:
            raise ValueError(f"drop: expected a share in [0, 1), got {drop!r}")
        if not 0 <= ramp <= 1:
            raise ValueError(f"ramp: expected a share in [0, 1], got {ramp!r}")
        self.drop, self.ramp = drop, ramp

    def share(self, step: int) -> float:
        """The dropped share at ``step``."""
        if self.ramp == 0:
            return self.drop
        return self.drop * min(1.0, step / (self.ramp * self.total_steps))

    def weights(self, losses: torch.Tensor, logits: torch.Tensor, step: int, lr: float) -> torch.Tensor:
        dropped = math.floor(self.share(step) * losses.numel())
        weights = torch.ones_like(losses, dtype=torch.float32)
        if dropped:
            weights[losses.detach().topk(dropped).indices] = 0.0
        return weights


def weighted_mean(losses: torch.Tensor, weights: torch.Tensor, context: DistContext | None = None) -> torch.Tensor:
    """``sum(w * loss) / sum(w)``, with the sums taken over every DDP process.

    DDP averages gradients over ``world_size`` processes, so each process returns
    ``world_size * local sum(w * loss) / global sum(w)``; the averaged gradient is then that of the
    global weighted mean. A batch whose weights are all 0 gives a zero loss (no update).

    Args:
        losses: per-example losses ``(B,)`` (with gradient).
        weights: ``(B,)`` finite, >= 0 (their gradient is ignored).
    """
    weights = weights.detach().to(losses.dtype)
    total = all_reduce_sum(weights.sum().reshape(1).clone(), context)[0]
    world_size = context.world_size if context is not None else 1
    return world_size * (weights * losses).sum() / total.clamp_min(torch.finfo(losses.dtype).tiny)

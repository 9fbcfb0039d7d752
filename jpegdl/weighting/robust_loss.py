"""A published noise-robust loss, as a baseline for the weightings: generalized cross-entropy.

Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy
Labels" (NeurIPS 2018): ``L_q(p_y) = (1 - p_y ** q) / q`` with ``p_y`` the softmax probability of the
given label. ``q -> 0`` gives cross-entropy ``-log p_y``; ``q = 1`` gives the (noise-robust but slowly
training) mean absolute error ``1 - p_y``; the paper uses ``q = 0.7``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def generalized_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, q: float = 0.7) -> torch.Tensor:
    """Per-example GCE ``(B,)`` float, in ``[0, 1/q]``, from logits ``(B, K)`` and int64 labels ``(B,)``.

    Computed from the log-probability (``p_y ** q = exp(q log p_y)``), so it stays finite for any logits.

    Raises:
        ValueError: ``q`` outside (0, 1], or shapes that do not match.
    """
    if not (isinstance(q, (int, float)) and math.isfinite(q) and 0 < q <= 1):
        raise ValueError(f"q: expected a value in (0, 1], got {q!r}")
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"logits, labels: expected shapes (B, K) and (B,), got {tuple(logits.shape)} and"
                         f" {tuple(labels.shape)}")  # fmt: skip
    log_p = logits.float().log_softmax(-1).gather(1, labels.long().unsqueeze(1)).squeeze(1)
    return (1 - torch.exp(q * log_p)) / q


def gce_criterion(q: float = 0.7) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``criterion(logits, labels) -> (B,)`` for :func:`~jpegdl.weighting.loop.train_weighted`."""
    generalized_cross_entropy(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), q)  # validates q now

    def criterion(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return generalized_cross_entropy(logits, labels, q)

    return criterion

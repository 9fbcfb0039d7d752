"""How well example weights separate corrupted from clean labels."""

from __future__ import annotations

import torch


def separation_auc(weights: torch.Tensor, flipped: torch.Tensor) -> float:
    """ROC AUC of "clean examples get higher weights than flipped ones": the probability that a random
    clean example's weight exceeds a random flipped one's (ties count 1/2). 0.5: no separation; 1: perfect.

    Args:
        weights: float ``(N,)``; NaN entries (examples without a weight) are ignored.
        flipped: bool ``(N,)``.

    Raises:
        ValueError: mismatched shapes, or no clean or no flipped example with a weight.
    """
    weights, flipped = torch.as_tensor(weights, dtype=torch.float64), torch.as_tensor(flipped, dtype=torch.bool)
    if weights.shape != flipped.shape or weights.dim() != 1:
        raise ValueError(f"weights, flipped: expected equal (N,) shapes, got {tuple(weights.shape)},"
                         f" {tuple(flipped.shape)}")  # fmt: skip
    seen = ~torch.isnan(weights)
    weights, flipped = weights[seen], flipped[seen]
    clean_count, flipped_count = int((~flipped).sum()), int(flipped.sum())
    if clean_count == 0 or flipped_count == 0:
        raise ValueError("flipped: need both clean and flipped examples to measure separation")
    values, inverse = torch.unique(weights, return_inverse=True)
    counts = torch.bincount(inverse, minlength=len(values)).double()
    # average (1-based) rank of each distinct value, ties shared
    average_rank = torch.cumsum(counts, 0) - (counts - 1) / 2
    clean_rank_sum = float(average_rank[inverse][~flipped].sum())
    return (clean_rank_sum - clean_count * (clean_count + 1) / 2) / (clean_count * flipped_count)


def moving_average(values: list[float], window: int) -> list[float]:
    """The mean of each value and up to ``window - 1`` values before it (a search's learning curve)."""
    if window < 1:
        raise ValueError(f"window: expected an integer >= 1, got {window!r}")
    return [sum(values[max(0, i + 1 - window):i + 1]) / len(values[max(0, i + 1 - window):i + 1])
            for i in range(len(values))]  # fmt: skip

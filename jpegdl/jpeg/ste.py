"""Straight-through composition: the exact value forward, a smooth surrogate's gradient backward."""

from __future__ import annotations

import torch


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, smooth: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
        return exact.view_as(exact)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def straight_through(smooth: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """Return ``exact`` bit for bit, with the gradient of ``smooth``.

    Unlike ``smooth + (exact - smooth).detach()``, the forward value is not perturbed
    by float rounding, which matters when later steps floor integer-valued results.
    Both tensors must have the same shape; ``exact`` is never differentiated.
    """
    if not (torch.is_grad_enabled() and smooth.requires_grad):
        return exact
    return _StraightThrough.apply(smooth, exact.detach())


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer, ties away from zero (libjpeg's rule; ``torch.round`` ties to even)."""
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)

"""libjpeg's integer stages as autograd functions: exact forward, the float transform's gradient.

Each stage here is a linear map in float (DCT, IDCT) that libjpeg computes with fixed-point
arithmetic and rounding. Forward returns libjpeg's integers; backward applies the adjoint
of the float map, i.e. the straight-through gradient through every rounding and clamp.
Computing only the exact forward (not the float one as well) halves the forward cost.
"""

from __future__ import annotations

import torch

from jpegdl.jpeg.dct import plane_dct, plane_idct
from jpegdl.jpeg.islow import plane_fdct_islow, plane_idct_islow, range_limit
from jpegdl.jpeg.ste import straight_through

LEVEL_SHIFT = 128.0


class _ExactForwardDCT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, plane: torch.Tensor) -> torch.Tensor:
        return plane_fdct_islow(plane - LEVEL_SHIFT).mul_(1 / 8).to(plane.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return plane_idct(grad)  # adjoint of the orthonormal DCT; the level shift has unit gradient


def _integral(values: torch.Tensor) -> bool:
    """Whether every value is an integer; soft values usually fail on the first few, so those are
    checked before the whole tensor."""
    head = values.reshape(-1)[:64]
    return torch.equal(head, head.round()) and torch.equal(values, values.round())


class _ExactInverseDCT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, dequantized: torch.Tensor) -> torch.Tensor:
        if _integral(dequantized):
            samples = range_limit(plane_idct_islow(dequantized))
        else:  # fractional steps or soft indices: no file can hold these; round the float IDCT
            samples = plane_idct(dequantized).add_(LEVEL_SHIFT + 0.5).floor_().clamp_(0, 255)
        return samples.to(dequantized.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return plane_dct(grad)


def forward_dct(plane: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """Samples 0..255 ``(B, 8h, 8w)`` -> level-shifted DCT coefficients ``(B, h, w, 8, 8)``.

    ``exact``: libjpeg's ISLOW integer DCT divided by 8 (orthonormal scale), float gradient.
    """
    if exact:
        return _ExactForwardDCT.apply(plane)
    return plane_dct(plane - LEVEL_SHIFT)


def inverse_dct(dequantized: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """Dequantized coefficients ``(B, h, w, 8, 8)`` -> samples 0..255 ``(B, 8h, 8w)``, clamped.

    ``exact``: libjpeg's ISLOW IDCT and range limit when the values are integers (what a real
    file holds), else the float IDCT rounded to integers; straight-through gradient. Otherwise
    the float IDCT with a straight-through clamp (saturated samples still pass gradients).
    """
    if exact:
        return _ExactInverseDCT.apply(dequantized)
    samples = plane_idct(dequantized) + LEVEL_SHIFT
    return straight_through(samples, samples.detach().clamp(0, 255))

"""The 8x8 orthonormal DCT-II and its inverse, as JPEG defines them (F = D S D^T)."""

from __future__ import annotations

import math
from functools import cache

import torch


@cache
def _dct_matrix_f64() -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64).view(8, 1)
    n = torch.arange(8, dtype=torch.float64).view(1, 8)
    matrix = torch.cos((2 * n + 1) * k * math.pi / 16) * math.sqrt(2 / 8)
    matrix[0] /= math.sqrt(2)
    return matrix


def dct_matrix(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """``(8, 8)`` orthonormal DCT-II basis ``D[k, n] = c(k) cos((2n + 1) k pi / 16)``."""
    return _dct_matrix_f64().to(device=device, dtype=dtype)


def block_dct(blocks: torch.Tensor) -> torch.Tensor:
    """Forward DCT of ``(..., 8, 8)`` level-shifted samples -> coefficients, natural order.

    With samples in -128..127 the DC lies in [-1024, 1016]; this is libjpeg's
    coefficient scale (its ISLOW output divided by 8).
    """
    basis = dct_matrix(blocks.dtype, blocks.device)
    return basis @ blocks @ basis.T


def block_idct(coefficients: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`block_dct` for ``(..., 8, 8)`` coefficients."""
    basis = dct_matrix(coefficients.dtype, coefficients.device)
    return basis.T @ coefficients @ basis

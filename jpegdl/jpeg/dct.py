"""The 8x8 orthonormal DCT-II and its inverse, as JPEG defines them (F = D S D^T).

``block_dct`` / ``block_idct`` work on ``(..., 8, 8)`` blocks. ``plane_dct`` / ``plane_idct``
transform whole ``(B, 8h, 8w)`` planes to and from jpeglib's ``(B, h, w, 8, 8)`` block
layout without gathering blocks first: each 1-D pass is one large matrix product, which
is several times faster than many tiny 8x8 products. The same separable routine runs
libjpeg's ISLOW integer transforms (see ``islow.py``), which round between the passes.
"""

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


def descale(x: torch.Tensor, bits: int | None) -> torch.Tensor:
    """libjpeg's rounding shift ``floor((x + 2**(bits-1)) / 2**bits)``, in place; identity when ``bits`` is None."""
    if bits is None:
        return x
    # In place on the fresh product (allocating large temporaries costs more than the
    # arithmetic); exact, as scaling by a power of two is.
    return x.add_(2.0 ** (bits - 1)).mul_(2.0**-bits).floor_()


def separable_plane_to_blocks(
    plane: torch.Tensor,
    row_matrix: torch.Tensor,
    column_matrix: torch.Tensor,
    bits: tuple[int | None, int | None] = (None, None),
) -> torch.Tensor:
    """Transform every 8x8 block of a ``(B, 8h, 8w)`` plane, rows first, then columns.

    Each block ``S`` becomes ``descale2(column_matrix^T @ descale1(S @ row_matrix))``.

    Returns:
        ``(B, h, w, 8, 8)`` (a permuted view; no copy beyond the products).
    """
    batch, height, width = plane.shape
    rows = descale(plane.reshape(batch, height, width // 8, 8) @ row_matrix, bits[0])
    grid = rows.reshape(batch, height // 8, 8, width)
    columns = descale(column_matrix.T @ grid, bits[1])
    return columns.reshape(batch, height // 8, 8, width // 8, 8).permute(0, 1, 3, 2, 4)


def separable_blocks_to_plane(
    blocks: torch.Tensor,
    column_matrix: torch.Tensor,
    row_matrix: torch.Tensor,
    bits: tuple[int | None, int | None] = (None, None),
) -> torch.Tensor:
    """Inverse-direction counterpart: ``(B, h, w, 8, 8)`` -> ``(B, 8h, 8w)``, columns first, then rows.

    Each block ``C`` becomes ``descale2(descale1(column_matrix^T @ C) @ row_matrix)``.
    """
    batch, block_rows, block_cols = blocks.shape[:3]
    grid = blocks.permute(0, 1, 3, 2, 4).reshape(batch, block_rows, 8, block_cols * 8)
    columns = descale(column_matrix.T @ grid, bits[0])
    rows = columns.reshape(batch, block_rows * 8, block_cols, 8) @ row_matrix
    return descale(rows, bits[1]).reshape(batch, block_rows * 8, block_cols * 8)


def plane_dct(plane: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT of every block of a ``(B, 8h, 8w)`` plane -> ``(B, h, w, 8, 8)``."""
    basis = dct_matrix(plane.dtype, plane.device)
    return separable_plane_to_blocks(plane, basis.T, basis.T)


def plane_idct(coefficients: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`plane_dct`: ``(B, h, w, 8, 8)`` -> ``(B, 8h, 8w)``."""
    basis = dct_matrix(coefficients.dtype, coefficients.device)
    return separable_blocks_to_plane(coefficients, basis, basis)

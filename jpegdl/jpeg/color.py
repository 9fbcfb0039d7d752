"""RGB <-> YCbCr colour conversion: float JFIF and libjpeg's fixed-point arithmetic.

All functions take and return ``(B, 3, H, W)`` float tensors on the 0..255 scale
(not level-shifted). The ``exact`` variants reproduce ``jccolor.c`` / ``jdcolor.c``
bit for bit on integer inputs and carry the float transform's gradient.
"""

from __future__ import annotations

import torch

from jpegdl.jpeg.ste import straight_through

_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ],
    dtype=torch.float64,
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_CHROMA_OFFSET = torch.tensor([0.0, 128.0, 128.0], dtype=torch.float64)

# jccolor.c: FIX(x) = round(x * 2^16); rows give Y, Cb, Cr as (R, G, B, rounding/offset term).
_FIXED_RGB_TO_YCBCR = (
    (19595, 38470, 7471, 32768),
    (-11059, -21709, 32768, 128 * 65536 + 32767),
    (32768, -27439, -5329, 128 * 65536 + 32767),
)
# jdcolor.c: FIX(1.402), FIX(0.34414), FIX(0.71414), FIX(1.772).
_FIX_1_402, _FIX_0_344, _FIX_0_714, _FIX_1_772 = 91881, 22554, 46802, 116130


def _apply_matrix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(device=x.device, dtype=x.dtype), x)


def rgb_to_ycbcr_float(rgb: torch.Tensor) -> torch.Tensor:
    """Full-range JFIF RGB -> YCbCr in float (Cb, Cr centred on 128)."""
    offset = _CHROMA_OFFSET.to(device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
    return _apply_matrix(rgb, _RGB_TO_YCBCR) + offset


def ycbcr_to_rgb_float(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr_float` (no clamping)."""
    offset = _CHROMA_OFFSET.to(device=ycbcr.device, dtype=ycbcr.dtype).view(1, 3, 1, 1)
    return _apply_matrix(ycbcr - offset, _YCBCR_TO_RGB)


def rgb_to_ycbcr_exact(rgb: torch.Tensor) -> torch.Tensor:
    """libjpeg's ``rgb_ycc_convert`` on integer RGB 0..255; returns integer YCbCr 0..255.

    ``rgb`` must hold integer values (e.g. straight-through rounded pixels). The
    gradient is that of :func:`rgb_to_ycbcr_float`.
    """
    red, green, blue = rgb.detach().to(torch.int32).unbind(1)
    exact = torch.stack(
        [(wr * red + wg * green + wb * blue + offset) >> 16 for wr, wg, wb, offset in _FIXED_RGB_TO_YCBCR],
        dim=1,
    )
    return straight_through(rgb_to_ycbcr_float(rgb), exact.to(rgb.dtype))


def ycbcr_to_rgb_exact(ycbcr: torch.Tensor) -> torch.Tensor:
    """libjpeg's ``ycc_rgb_convert`` on integer YCbCr 0..255, clamped to 0..255.

    The gradient is that of :func:`ycbcr_to_rgb_float` (the clamp passes gradients
    straight through, so saturated pixels still learn).
    """
    y, cb, cr = ycbcr.detach().to(torch.int32).unbind(1)
    cb, cr = cb - 128, cr - 128
    red = y + ((_FIX_1_402 * cr + 32768) >> 16)
    green = y + ((-_FIX_0_344 * cb - _FIX_0_714 * cr + 32768) >> 16)
    blue = y + ((_FIX_1_772 * cb + 32768) >> 16)
    exact = torch.stack([red, green, blue], dim=1).clamp(0, 255)
    return straight_through(ycbcr_to_rgb_float(ycbcr), exact.to(ycbcr.dtype))


def rgb_to_ycbcr(rgb: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """RGB -> YCbCr on the 0..255 scale; ``exact`` selects libjpeg's integer arithmetic."""
    return rgb_to_ycbcr_exact(rgb) if exact else rgb_to_ycbcr_float(rgb)


def ycbcr_to_rgb(ycbcr: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """YCbCr -> RGB on the 0..255 scale; ``exact`` selects libjpeg's integer arithmetic and clamp."""
    return ycbcr_to_rgb_exact(ycbcr) if exact else ycbcr_to_rgb_float(ycbcr)

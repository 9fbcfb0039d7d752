"""RGB <-> YCbCr colour conversion: float JFIF and libjpeg's fixed-point arithmetic.

All functions take and return ``(B, 3, H, W)`` float tensors on the 0..255 scale
(not level-shifted). The ``exact`` variants reproduce ``jccolor.c`` / ``jdcolor.c``
bit for bit on integer inputs and carry the float transform's gradient.

libjpeg computes ``(sum_c FIX(w_c) * x_c + offset) >> 16`` in integers. Every product and
partial sum here is an integer below 2**24 in magnitude, so float32 holds them exactly
and a 3x3 matrix product followed by a floor gives libjpeg's result bit for bit, fast.
"""

from __future__ import annotations

import torch

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

# jccolor.c: FIX(x) = round(x * 2^16); rows give Y, Cb, Cr; the bias holds rounding and offset.
_FIXED_RGB_TO_YCBCR = torch.tensor(
    [[19595, 38470, 7471], [-11059, -21709, 32768], [32768, -27439, -5329]], dtype=torch.float64
)
_FIXED_RGB_TO_YCBCR_BIAS = torch.tensor([32768, 128 * 65536 + 32767, 128 * 65536 + 32767], dtype=torch.float64)
# jdcolor.c on (Y, Cb - 128, Cr - 128): FIX(1.402), FIX(0.34414), FIX(0.71414), FIX(1.772); Y is added after.
_FIXED_YCBCR_TO_RGB = torch.tensor([[0, 0, 91881], [0, -22554, -46802], [0, 116130, 0]], dtype=torch.float64)
_FIXED_YCBCR_TO_RGB_BIAS = torch.tensor([32768.0] * 3, dtype=torch.float64)


def _pointwise(x: torch.Tensor, matrix: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``out[:, i] = sum_j matrix[i, j] * x[:, j] + bias[i]`` for ``(B, 3, H, W)`` ``x``."""
    out = matrix.to(device=x.device, dtype=x.dtype) @ x.flatten(2)
    if bias is not None:
        out.add_(bias.to(device=x.device, dtype=x.dtype).view(1, 3, 1))
    return out.view(x.shape)


def _exact_dtype(x: torch.Tensor) -> torch.dtype:
    # float64 off the CPU: GPU float32 matmuls may run in TF32, which is not exact on integers.
    return torch.promote_types(x.dtype, torch.float32 if x.device.type == "cpu" else torch.float64)


def rgb_to_ycbcr_float(rgb: torch.Tensor) -> torch.Tensor:
    """Full-range JFIF RGB -> YCbCr in float (Cb, Cr centred on 128)."""
    return _pointwise(rgb, _RGB_TO_YCBCR, _CHROMA_OFFSET)


def ycbcr_to_rgb_float(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr_float` (no clamping)."""
    return _pointwise(ycbcr, _YCBCR_TO_RGB, -(_YCBCR_TO_RGB @ _CHROMA_OFFSET))


class _ExactRgbToYcbcr(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rgb: torch.Tensor) -> torch.Tensor:
        x = rgb.to(_exact_dtype(rgb))
        fixed = _pointwise(x, _FIXED_RGB_TO_YCBCR, _FIXED_RGB_TO_YCBCR_BIAS)
        return fixed.mul_(2.0**-16).floor_().to(rgb.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _pointwise(grad, _RGB_TO_YCBCR.T)


class _ExactYcbcrToRgb(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ycbcr: torch.Tensor) -> torch.Tensor:
        x = ycbcr.to(_exact_dtype(ycbcr))
        centred = x - _CHROMA_OFFSET.to(device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        offsets = _pointwise(centred, _FIXED_YCBCR_TO_RGB, _FIXED_YCBCR_TO_RGB_BIAS).mul_(2.0**-16).floor_()
        return offsets.add_(x[:, :1]).clamp_(0, 255).to(ycbcr.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _pointwise(grad, _YCBCR_TO_RGB.T)


def rgb_to_ycbcr_exact(rgb: torch.Tensor) -> torch.Tensor:
    """libjpeg's ``rgb_ycc_convert`` on integer RGB 0..255; returns integer YCbCr 0..255.

    ``rgb`` must hold integer values (e.g. straight-through rounded pixels). The
    gradient is that of :func:`rgb_to_ycbcr_float`.
    """
    return _ExactRgbToYcbcr.apply(rgb)


def ycbcr_to_rgb_exact(ycbcr: torch.Tensor) -> torch.Tensor:
    """libjpeg's ``ycc_rgb_convert`` on integer YCbCr 0..255, clamped to 0..255.

    The gradient is that of :func:`ycbcr_to_rgb_float` (the clamp passes gradients
    straight through, so saturated pixels still learn).
    """
    return _ExactYcbcrToRgb.apply(ycbcr)


def rgb_to_ycbcr(rgb: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """RGB -> YCbCr on the 0..255 scale; ``exact`` selects libjpeg's integer arithmetic."""
    return rgb_to_ycbcr_exact(rgb) if exact else rgb_to_ycbcr_float(rgb)


def ycbcr_to_rgb(ycbcr: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """YCbCr -> RGB on the 0..255 scale; ``exact`` selects libjpeg's integer arithmetic and clamp."""
    return ycbcr_to_rgb_exact(ycbcr) if exact else ycbcr_to_rgb_float(ycbcr)

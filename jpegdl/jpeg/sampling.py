"""Chroma sampling as libjpeg-turbo performs it: 4:2:0 box downsampling with its
alternating bias, edge extension in libjpeg's order, and 'fancy' triangle upsampling.

Planes are ``(B, H, W)`` float tensors on the 0..255 scale. ``exact=True`` gives
libjpeg's integer results (inputs must be integer-valued) with the gradient of the
corresponding linear filter; ``exact=False`` gives the linear filter alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jpegdl.jpeg.blocks import BLOCK, blocks_for, pad_replicate
from jpegdl.jpeg.ste import straight_through

SUBSAMPLINGS = ("4:4:4", "4:2:0")


def check_subsampling(subsampling: str) -> str:
    """Return ``subsampling`` if supported, else raise ``ValueError`` listing the choices."""
    if subsampling not in SUBSAMPLINGS:
        raise ValueError(f"subsampling: expected one of {SUBSAMPLINGS}, got {subsampling!r}")
    return subsampling


def chroma_size(height: int, width: int, subsampling: str) -> tuple[int, int]:
    """Real (unpadded) chroma plane size for an ``height x width`` image."""
    if check_subsampling(subsampling) == "4:2:0":
        return blocks_for(height, 2), blocks_for(width, 2)
    return height, width


def downsample_420(plane: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """libjpeg's ``h2v2_downsample`` with its edge extension, ready for 8x8 blocking.

    Args:
        plane: ``(B, H, W)`` full-resolution chroma plane, 0..255.

    Returns:
        ``(B, 8 * ceil(H / 16), 8 * ceil(W / 16))``: the downsampled plane, padded the way
        libjpeg pads it (columns are replicated at full resolution *before* averaging,
        rows are replicated *after*), so every block matches libjpeg's.
    """
    height, width = plane.shape[-2:]
    rows_out, cols_out = BLOCK * blocks_for(height, 2 * BLOCK), BLOCK * blocks_for(width, 2 * BLOCK)
    full = pad_replicate(plane, 2 * blocks_for(height, 2), 2 * cols_out)
    smooth = F.avg_pool2d(full.unsqueeze(1), 2).squeeze(1)
    if exact:
        # Ordered dither: bias 1, 2, 1, 2, ... along each output row (jcsample.c). The 2x2 sum
        # of integers is recovered exactly as 4 * mean (quarters are exact in binary floats).
        bias = 1.0 + (torch.arange(cols_out, device=plane.device) % 2).to(plane.dtype)
        smooth = straight_through(smooth, (smooth.detach() * 4).add_(bias).mul_(0.25).floor_())
    return pad_replicate(smooth, rows_out, cols_out)


def upsample_420(plane: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """libjpeg-turbo's ``h2v2_fancy_upsample``: 2x triangle filter (9/16, 3/16, 3/16, 1/16).

    Args:
        plane: ``(B, h, w)`` *real* (cropped) chroma plane, 0..255.

    Returns:
        ``(B, 2h, 2w)``; crop to the image size afterwards. Edges are replicated, as
        libjpeg's context rows and end columns do. Planes 1 or 2 samples wide are
        upsampled by replication, as libjpeg does for them.
    """
    if plane.shape[-1] <= 2:
        return plane.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    padded = F.pad(plane.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    centre = padded[:, 1:-1, :]
    # Vertical pass: output row 2i uses the row above, row 2i+1 the row below.
    upper = 3 * centre + padded[:, :-2, :]
    lower = 3 * centre + padded[:, 2:, :]
    columns = torch.stack([upper, lower], dim=2).flatten(1, 2)  # (B, 2h, w + 2)
    middle = columns[..., 1:-1]
    left = 3 * middle + columns[..., :-2]
    right = 3 * middle + columns[..., 2:]
    smooth = torch.stack([left, right], dim=-1).flatten(-2) / 16
    if not exact:
        return smooth
    rounding = torch.tensor([8.0, 7.0], dtype=plane.dtype, device=plane.device)
    exact_values = smooth.detach().mul(16).view(*smooth.shape[:-1], -1, 2)
    exact_values = exact_values.add_(rounding).mul_(1 / 16).floor_().flatten(-2)
    return straight_through(smooth, exact_values)

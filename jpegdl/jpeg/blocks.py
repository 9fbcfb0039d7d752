"""Edge padding and 8x8 block (un)folding of image planes, any height and width."""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 8


def blocks_for(length: int, multiple: int = BLOCK) -> int:
    """Number of ``multiple``-sized units needed to cover ``length`` samples (ceil division)."""
    return -(-length // multiple)


def pad_replicate(plane: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Extend a ``(B, H, W)`` plane to ``(B, height, width)`` by repeating its last row and column.

    This is libjpeg's edge extension (never zeros). ``height >= H`` and ``width >= W``.
    """
    pad_bottom, pad_right = height - plane.shape[-2], width - plane.shape[-1]
    if pad_bottom < 0 or pad_right < 0:
        raise ValueError(f"plane: cannot pad shape {tuple(plane.shape)} down to ({height}, {width})")
    if pad_bottom == 0 and pad_right == 0:
        return plane
    return F.pad(plane.unsqueeze(1), (0, pad_right, 0, pad_bottom), mode="replicate").squeeze(1)


def to_blocks(plane: torch.Tensor) -> torch.Tensor:
    """Split a ``(B, 8h, 8w)`` plane into ``(B, h, w, 8, 8)`` blocks (jpeglib's layout)."""
    batch, height, width = plane.shape
    if height % BLOCK or width % BLOCK:
        raise ValueError(f"plane: height and width must be multiples of 8, got {height}x{width}")
    grid = plane.reshape(batch, height // BLOCK, BLOCK, width // BLOCK, BLOCK)
    return grid.permute(0, 1, 3, 2, 4)


def from_blocks(blocks: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_blocks`: ``(B, h, w, 8, 8)`` -> ``(B, 8h, 8w)``."""
    batch, rows, cols = blocks.shape[:3]
    return blocks.permute(0, 1, 3, 2, 4).reshape(batch, rows * BLOCK, cols * BLOCK)

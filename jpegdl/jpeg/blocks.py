"""Edge padding of image planes to whole blocks, as libjpeg does it (any height and width)."""

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

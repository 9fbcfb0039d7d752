"""Chroma sampling as libjpeg-turbo performs it, for any sampling factors libjpeg accepts.

A *subsampling* is a named mode (``"4:4:4"``, ``"4:2:2"``, ``"4:4:0"``, ``"4:2:0"``,
``"4:1:1"``, ``"4:1:0"``) or per-component factors ``"HxV,HxV,..."`` as cjpeg's ``-sample``
writes them (e.g. ``"2x2,1x2,1x1"``). Factors are 1..4 and every maximum factor must be a
multiple of each component's (libjpeg refuses fractional sampling).

Encoder (``jcsample.c``): ratio 1x1 copies; 2x1 averages pairs with the bias 0, 1, 0, 1, ...;
2x2 averages 2x2 with the bias 1, 2, 1, 2, ...; any other integral ratio averages its box
rounding half up. Decoder (``jdsample.c``, libjpeg-turbo): 2x1 and 2x2 use the 'fancy' triangle
filters (replication for planes 1 or 2 samples wide), 1x2 the fancy vertical filter, every other
ratio replication.

Planes are ``(B, H, W)`` float tensors on the 0..255 scale. ``exact=True`` gives libjpeg's
integer results (inputs must be integer-valued) with the gradient of the corresponding linear
filter; ``exact=False`` gives the linear filter alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from jpegdl.jpeg.blocks import BLOCK, blocks_for, pad_replicate
from jpegdl.jpeg.ste import straight_through

# Luma factors of the named modes (chroma is 1x1); libjpeg gives a 4th (K) component luma's.
_NAMED = {"4:4:4": (1, 1), "4:2:2": (2, 1), "4:4:0": (1, 2), "4:2:0": (2, 2), "4:1:1": (4, 1), "4:1:0": (4, 2)}
SUBSAMPLINGS = tuple(_NAMED)
MAX_BLOCKS_IN_MCU = 10
_FACTORS = re.compile(r"^[1-4]x[1-4](,[1-4]x[1-4]){0,3}$")
Factors = tuple[tuple[int, int], ...]


def _parse(subsampling: object) -> Factors | None:
    if not isinstance(subsampling, str):
        return None
    if subsampling in _NAMED:
        return (_NAMED[subsampling], (1, 1), (1, 1))
    text = subsampling.replace(" ", "").lower()
    if not _FACTORS.match(text):
        return None
    factors = tuple((int(part[0]), int(part[2])) for part in text.split(","))
    max_h, max_v = max(h for h, _ in factors), max(v for _, v in factors)
    if any(max_h % h or max_v % v for h, v in factors):
        return None  # libjpeg: "Fractional sampling not implemented yet"
    if len(factors) > 1 and sum(h * v for h, v in factors) > MAX_BLOCKS_IN_MCU:
        return None  # libjpeg: "Sampling factors too large for interleaved scan"
    return factors


def check_subsampling(subsampling: str) -> str:
    """Return ``subsampling`` (named modes by name, e.g. ``"2x2,1x1,1x1"`` becomes ``"4:2:0"``).

    Raises:
        ValueError: not a named mode nor valid per-component factors.
    """
    factors = _parse(subsampling)
    if factors is None:
        raise ValueError(f"subsampling: expected one of {', '.join(SUBSAMPLINGS)} or per-component factors"
                         f" like '2x2,1x2,1x1' (each 1..4, every maximum a multiple of each factor,"
                         " at most 10 blocks per MCU),"
                         f" got {subsampling!r}")  # fmt: skip
    return describe(factors)


def describe(factors: Factors) -> str:
    """The name of these factors if they form a named mode, else ``"HxV,HxV,..."``."""
    factors = tuple(factors)
    if len(factors) in (3, 4) and factors[1] == factors[2] == (1, 1):
        for name, luma in _NAMED.items():
            if factors[0] == luma and (len(factors) == 3 or factors[3] == luma):
                return name
    if len(set(factors)) == 1:
        return "4:4:4"
    return ",".join(f"{h}x{v}" for h, v in factors)


def sampling_factors(subsampling: str, components: int) -> Factors:
    """``(h, v)`` per component for ``components`` = 1, 3 or 4 (grayscale is always 1x1)."""
    if components == 1:
        return ((1, 1),)
    factors = _parse(subsampling)
    if factors is None:
        raise ValueError(f"subsampling: invalid {subsampling!r}")
    if subsampling in _NAMED and components == 4:
        factors = (*factors, factors[0])
    if len(factors) != components:
        raise ValueError(f"subsampling: {subsampling!r} gives {len(factors)} components' factors, the image has"
                         f" {components}")  # fmt: skip
    return factors


@dataclass(frozen=True)
class ComponentGeometry:
    """One component's sizes in libjpeg's terms, for an image of ``height x width`` pixels.

    Attributes:
        height, width: the real (unpadded) downsampled plane, ``ceil(H * v / max_v)`` etc.
        rows, cols: its size in blocks (``ceil(height / 8)`` etc.; dummy blocks excluded).
        expand: ``(max_h // h, max_v // v)``, the upsampling ratio.
    """

    height: int
    width: int
    rows: int
    cols: int
    expand: tuple[int, int]


def geometry(size: tuple[int, int], factors: Factors) -> tuple[ComponentGeometry, ...]:
    """:class:`ComponentGeometry` of every component."""
    image_height, image_width = size
    max_h, max_v = max(h for h, _ in factors), max(v for _, v in factors)
    out = []
    for h, v in factors:
        height, width = blocks_for(image_height * v, max_v), blocks_for(image_width * h, max_h)
        out.append(ComponentGeometry(height, width, blocks_for(height), blocks_for(width), (max_h // h, max_v // v)))
    return tuple(out)


def chroma_size(height: int, width: int, subsampling: str) -> tuple[int, int]:
    """Real (unpadded) size of the second component's plane for an ``height x width`` image."""
    second = geometry((height, width), sampling_factors(check_subsampling(subsampling), 3))[1]
    return second.height, second.width


def downsample(plane: torch.Tensor, component: ComponentGeometry, max_v: int, exact: bool = True) -> torch.Tensor:
    """libjpeg's downsampling of one full-resolution plane, with its edge extension, to whole blocks.

    Args:
        plane: ``(B, H, W)`` full-resolution plane, 0..255.
        component: the component's geometry; ``max_v`` the frame's largest vertical factor.

    Returns:
        ``(B, 8 * rows, 8 * cols)``: columns are replicated at full resolution *before*
        averaging, rows to a whole row group before and to whole blocks *after* it, as libjpeg does.
    """
    h_expand, v_expand = component.expand
    rows_out, cols_out = BLOCK * component.rows, BLOCK * component.cols
    if (h_expand, v_expand) == (1, 1):
        return pad_replicate(plane, rows_out, cols_out)
    full = pad_replicate(plane, max_v * blocks_for(plane.shape[-2], max_v), h_expand * cols_out)
    full = full[:, : v_expand * blocks_for(full.shape[-2], v_expand)]
    count = h_expand * v_expand
    sums = F.avg_pool2d(full.unsqueeze(1), (v_expand, h_expand), divisor_override=1).squeeze(1)
    smooth = sums / count
    if exact:
        if (h_expand, v_expand) in ((2, 1), (2, 2)):
            # Ordered dither along each output row: bias 0, 1, ... (h2v1) or 1, 2, ... (h2v2).
            bias = (torch.arange(cols_out, device=plane.device) % 2).to(plane.dtype) + (v_expand - 1)
        else:
            bias = torch.tensor(float(count // 2), dtype=plane.dtype, device=plane.device)
        smooth = straight_through(smooth, (sums.detach() + bias).mul_(1 / count).floor_())
    rows = smooth[:, :rows_out]
    return pad_replicate(rows, rows_out, cols_out)


def downsample_420(plane: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """``h2v2_downsample`` of a ``(B, H, W)`` plane to ``(B, 8 * ceil(H / 16), 8 * ceil(W / 16))``."""
    component = geometry(tuple(plane.shape[-2:]), ((2, 2), (1, 1)))[1]
    return downsample(plane, component, 2, exact)


def _round_pairs(sums: torch.Tensor, biases: tuple[float, float], divisor: float) -> torch.Tensor:
    """``floor((sums + bias) / divisor)`` with the bias alternating along the last dimension."""
    rounding = torch.tensor(biases, dtype=sums.dtype, device=sums.device)
    values = sums.detach().reshape(*sums.shape[:-1], -1, 2).add(rounding)
    return values.mul_(1 / divisor).floor_().flatten(-2)


def upsample_h2v1(plane: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """libjpeg-turbo's ``h2v1_fancy_upsample`` ``(B, h, w) -> (B, h, 2w)``: (3 x + neighbour) / 4.

    Planes 1 or 2 samples wide are replicated, as libjpeg-turbo does.
    """
    if plane.shape[-1] <= 2:
        return plane.repeat_interleave(2, dim=-1)
    sums = _pairs(plane, -1)
    smooth = sums / 4
    return straight_through(smooth, _round_pairs(sums, (1.0, 2.0), 4)) if exact else smooth


def upsample_h1v2(plane: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """libjpeg-turbo's ``h1v2_fancy_upsample`` ``(B, h, w) -> (B, 2h, w)``: (3 x + row above/below) / 4."""
    sums = _pairs(plane, -2)
    smooth = sums / 4
    if not exact:
        return smooth
    rounding = torch.tensor([1.0, 2.0], dtype=plane.dtype, device=plane.device).repeat(plane.shape[-2])
    values = (sums.detach() + rounding[:, None]).mul_(0.25).floor_()
    return straight_through(smooth, values)


def _pairs(plane: torch.Tensor, dim: int) -> torch.Tensor:
    """``3 x + previous`` and ``3 x + next`` interleaved along ``dim`` (-1 or -2), edges replicated."""
    length = plane.shape[dim]
    padded = torch.cat([plane.narrow(dim, 0, 1), plane, plane.narrow(dim, length - 1, 1)], dim=dim)
    centre = 3 * plane
    first, second = centre + padded.narrow(dim, 0, length), centre + padded.narrow(dim, 2, length)
    if dim == -1:
        return torch.stack([first, second], dim=-1).flatten(-2)
    return torch.stack([first, second], dim=-2).flatten(-3, -2)


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
    return straight_through(smooth, _round_pairs(smooth.detach() * 16, (8.0, 7.0), 16))


def upsample(plane: torch.Tensor, expand: tuple[int, int], exact: bool = True) -> torch.Tensor:
    """libjpeg-turbo's upsampling of a real (cropped) ``(B, h, w)`` plane by ``expand = (h, v)`` ratios."""
    if expand == (1, 1):
        return plane
    if expand == (2, 2):
        return upsample_420(plane, exact)
    if expand == (2, 1):
        return upsample_h2v1(plane, exact)
    if expand == (1, 2):
        return upsample_h1v2(plane, exact)
    h_expand, v_expand = expand  # int_upsample: plain replication
    return plane.repeat_interleave(v_expand, dim=-2).repeat_interleave(h_expand, dim=-1)

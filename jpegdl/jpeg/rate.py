"""Analytic rate of the soft/probabilistic quantizer: entropy of its indices, in bits per pixel.

For every component and frequency the conditional PMFs ``P(i | z)`` of all blocks in a batch
are averaged into one marginal PMF over indices (a histogram with fractional counts); the
entropy of that marginal, times the number of blocks per image, is the memoryless estimate of
the bits an entropy coder spends on that frequency (J4D's "analytic entropy of the coded
source"). It is differentiable with respect to the steps (and alpha) through ``P(i | z)``.

Two refinements follow the way baseline JPEG codes indices:

- ``dc="difference"`` (default): DC indices are coded as differences from the previous block
  in coding order (raster order per component; 2 x 2 block groups for luma at 4:2:0), the
  predictor starting at 0 in each image. The difference of two independent indices has PMF
  ``P(d) = sum_i P_b(i) P_{b-1}(i - d)``; ``dc="index"`` uses the DC index itself.
- ``chroma="separate"`` (default) gives Cb and Cr their own marginals; ``"pooled"`` shares one,
  as libjpeg shares one pair of chroma Huffman tables.

Headers, run-length / EOB coding and Huffman's integer code lengths are not modelled; the
benchmark ``benchmarks/j4d_rate_calibration.py`` measures how the estimate tracks real files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from jpegdl.jpeg.quantize import SoftQuantizer
from jpegdl.jpeg.sampling import check_subsampling

DC_MODES = ("difference", "index")
CHROMA_MODES = ("separate", "pooled")


@dataclass(frozen=True)
class RateEstimate:
    """The analytic rate of one batch.

    Attributes:
        bpp: scalar tensor, estimated bits per pixel of one image (differentiable).
        bits: ``(C, 8, 8)`` estimated bits per block for each component and frequency (for
            pooled chroma, Cb and Cr both hold the pooled value).
    """

    bpp: torch.Tensor
    bits: torch.Tensor


def entropy_bits(histogram: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits of each row of non-negative (fractional) counts ``(..., N)``."""
    total = histogram.sum(-1, keepdim=True).clamp_min(torch.finfo(histogram.dtype).tiny)
    p = histogram / total
    positive = p > 0
    logs = torch.where(positive, p, torch.ones_like(p)).log2()  # no -inf * 0 in the backward pass
    return -(p * logs).sum(-1)


def _histogram(indices: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum ``weights`` ``(F, N)`` into integer bins given by ``indices`` ``(F, N)``: ``(F, span)``."""
    low = indices.min()
    bins = (indices - low).long()
    span = int(bins.max().item()) + 1
    histogram = torch.zeros(indices.shape[0], span, dtype=weights.dtype, device=weights.device)
    return histogram.scatter_add(1, bins, weights)


def _frequency_histograms(indices: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Marginal histograms ``(64, span)`` from per-block candidates ``(..., 8, 8, K)``."""
    window = indices.shape[-1]
    flat_i = indices.reshape(-1, 64, window).transpose(0, 1).reshape(64, -1)
    flat_p = probs.reshape(-1, 64, window).transpose(0, 1).reshape(64, -1)
    return _histogram(flat_i, flat_p)


def coding_order(rows: int, cols: int, mcu: int = 1) -> torch.Tensor:
    """Permutation of a component's ``rows x cols`` blocks (raster-flattened) into coding order.

    ``mcu = 1``: raster order. ``mcu = 2``: 2 x 2 groups in raster order of groups (luma at
    4:2:0 in an interleaved scan); blocks past the last row or column are skipped.
    """
    r = torch.arange(rows).view(-1, 1).expand(rows, cols)
    c = torch.arange(cols).view(1, -1).expand(rows, cols)
    groups_per_row = -(-cols // mcu)
    key = ((r // mcu) * groups_per_row + c // mcu) * mcu * mcu + (r % mcu) * mcu + (c % mcu)
    return torch.argsort(key.flatten())


def _dc_differences(indices: torch.Tensor, probs: torch.Tensor, mcu: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate DC differences and their probabilities, flat, from DC candidates ``(B, rows, cols, K)``."""
    batch, rows, cols, window = indices.shape
    order = coding_order(rows, cols, mcu).to(indices.device)
    i = indices.reshape(batch, rows * cols, window)[:, order]
    p = probs.reshape(batch, rows * cols, window)[:, order]
    # The predictor of each image's first block is 0: a virtual previous block at index 0.
    zero_i = torch.zeros(batch, 1, window, dtype=i.dtype, device=i.device)
    zero_p = torch.zeros(batch, 1, window, dtype=p.dtype, device=p.device)
    zero_p[..., 0] = 1
    previous_i, previous_p = torch.cat([zero_i, i[:, :-1]], 1), torch.cat([zero_p, p[:, :-1]], 1)
    differences = i.unsqueeze(-1) - previous_i.unsqueeze(-2)  # (B, n, K, K)
    joint = p.unsqueeze(-1) * previous_p.unsqueeze(-2)
    return differences.reshape(-1), joint.reshape(-1)


def estimate_rate(
    coefficients: tuple[torch.Tensor, ...],
    steps: tuple[torch.Tensor, ...],
    quantizer: SoftQuantizer | Sequence[SoftQuantizer],
    size: tuple[int, int],
    subsampling: str = "4:2:0",
    dc: str = "difference",
    chroma: str = "separate",
) -> RateEstimate:
    """Estimated bits per pixel of coding ``coefficients`` with ``steps`` and ``quantizer``'s PMF.

    Args:
        coefficients: ``(Y,)`` or ``(Y, Cb, Cr)`` unquantized DCT coefficients, each
            ``(B, rows, cols, 8, 8)`` (``jpegdl.jpeg.codec.analyze``'s output).
        steps: one step tensor per component broadcasting to its blocks (``(1, 1, 1, 8, 8)``
            or per-sample ``(B, 1, 1, 8, 8)``: ``jpegdl.jpeg.codec.component_steps``).
        quantizer: the soft quantizer whose conditional PMF is coded (its ``alpha``, window
            and index range), or one per component (e.g. alpha = hardness / q^2 per table).
        size: the images' ``(H, W)``; bits are divided by ``H * W``.
        subsampling: any mode ``encode`` accepts; 4:2:0 sets the DC coding order of luma (2 blocks
            per MCU row), the others are estimated in raster order.
        dc: ``"difference"`` or ``"index"`` (see the module docstring).
        chroma: ``"separate"`` or ``"pooled"``.
    """
    if dc not in DC_MODES:
        raise ValueError(f"dc: expected one of {DC_MODES}, got {dc!r}")
    if chroma not in CHROMA_MODES:
        raise ValueError(f"chroma: expected one of {CHROMA_MODES}, got {chroma!r}")
    if len(coefficients) not in (1, 3) or len(steps) != len(coefficients):
        raise ValueError(f"coefficients, steps: expected 1 or 3 components each, got {len(coefficients)}, {len(steps)}")
    quantizers = [quantizer] * len(coefficients) if isinstance(quantizer, SoftQuantizer) else list(quantizer)
    if len(quantizers) != len(coefficients) or not all(isinstance(q, SoftQuantizer) for q in quantizers):
        raise ValueError(
            f"quantizer: expected a SoftQuantizer (its PMF is coded) or one per component ({len(coefficients)})"
        )
    check_subsampling(subsampling)
    height, width = size
    candidates = [quant.pmf(z, q) for quant, z, q in zip(quantizers, coefficients, steps, strict=True)]
    interleaved_420 = len(coefficients) == 3 and subsampling == "4:2:0"

    def component_bits(parts: list[tuple[torch.Tensor, torch.Tensor]], mcu: int) -> torch.Tensor:
        """Bits per block ``(8, 8)`` of the components in ``parts`` coded with one marginal."""
        indices = torch.cat([i.reshape(-1, 8, 8, i.shape[-1]) for i, _ in parts])
        probs = torch.cat([p.reshape(-1, 8, 8, p.shape[-1]) for _, p in parts])
        bits = entropy_bits(_frequency_histograms(indices, probs)).reshape(8, 8)
        if dc == "difference":
            pairs = [_dc_differences(i[..., 0, 0, :], p[..., 0, 0, :], mcu) for i, p in parts]
            values = torch.cat([v for v, _ in pairs]).unsqueeze(0)
            weights = torch.cat([w for _, w in pairs]).unsqueeze(0)
            dc_bits = entropy_bits(_histogram(values, weights))[0]
            bits = torch.cat([dc_bits.view(1), bits.flatten()[1:]]).view(8, 8)
        return bits

    per_component = [component_bits([candidates[0]], 2 if interleaved_420 else 1)]
    if len(candidates) == 3:
        if chroma == "separate":
            per_component += [component_bits([c], 1) for c in candidates[1:]]
        else:
            pooled = component_bits(candidates[1:], 1)
            per_component += [pooled, pooled]
    bits = torch.stack(per_component)
    blocks = torch.tensor([c[0, ..., 0, 0].numel() for c in coefficients], dtype=bits.dtype, device=bits.device)
    bpp = (bits.sum(dim=(1, 2)) * blocks).sum() / (height * width)
    return RateEstimate(bpp, bits)


"""Real JPEG encoders for learned tables: deterministic rounding (libjpeg), rate-distortion
optimised rounding for the DNN loss, and probabilistic quantization (each index drawn from the
soft quantizer's PMF). The last two write their indices with jpeglib.

All write standard baseline files that any decoder opens: the decoder only sees integer
indices and 8-bit tables; hardness, sensitivity and lambda shape the encoder's choices only.

The RD encoder (``"rd"``) chooses, per AC coefficient, between libjpeg's index ``i`` and the
next one towards zero, whichever costs less in ``s_m (z - i q)^2 / 2 + lambda / pixels * bits(i)``:
the loss increase predicted by the frequency sensitivity ``s_m`` (as in the tables' objective)
plus lambda x the bits. ``bits(i)`` is the size of a JPEG AC symbol: 0 for a zero (it joins a
run), else its magnitude category plus :data:`SYMBOL_BITS` for the run/size code.
"""

from __future__ import annotations

import numpy as np
import torch

from jpegdl.files.arrays import to_tensor, to_uint8
from jpegdl.files.write import DC_INDEX_RANGE, MAX_AC_INDEX, jpeg_bytes, write_coefficients
from jpegdl.jpeg.codec import Coefficients, analyze, component_steps
from jpegdl.jpeg.quantize import SampledQuantizer
from jpegdl.jpeg.ste import round_half_away
from jpegdl.jpeg.tables import QuantTables

ENCODERS = ("rounded", "rd", "probabilistic")
SYMBOL_BITS = 4.0


def _legal(indices: torch.Tensor) -> torch.Tensor:
    """Clamp AC indices to +-1023 and DC to -1024..1023 (8-bit baseline limits)."""
    out = indices.clamp(-MAX_AC_INDEX, MAX_AC_INDEX)
    out[..., 0, 0] = indices[..., 0, 0].clamp(*DC_INDEX_RANGE)
    return out


def probabilistic_coefficients(
    images: torch.Tensor,
    tables: QuantTables,
    hardness: float | torch.Tensor = 8.0,
    subsampling: str = "4:4:4",
    generator: torch.Generator | None = None,
    window: int = 5,
) -> Coefficients:
    """Indices drawn from ``P(i | z) ~ exp(-alpha (z - i q)^2)``, ``alpha = hardness / q^2``.

    Args:
        images: ``(B, C, H, W)`` float in [0, 1] (libjpeg's exact front end is used).
        tables: integer steps 1..255.
        hardness: scalar, or ``(2, 8, 8)`` per table (luma, chroma) as learned.
        generator: seeds the draws (reproducible files).

    Returns:
        Integer-valued :class:`Coefficients` within baseline limits.
    """
    luma, chroma = tables.baseline()
    tables = QuantTables(luma, chroma)
    hardness = torch.as_tensor(hardness, dtype=torch.float64)
    if not torch.isfinite(hardness).all() or (hardness <= 0).any():
        raise ValueError(f"hardness: expected finite values > 0, got {hardness}")
    with torch.no_grad():
        components = analyze(images, subsampling, exact=True)
        steps = component_steps(tables, len(components), torch.float64)
        indices = []
        for index, (z, q) in enumerate(zip(components, steps, strict=True)):
            h = hardness if hardness.dim() == 0 else hardness[min(index, 1)]
            draw = SampledQuantizer(alpha=h / q.square(), window=window, generator=generator)
            indices.append(_legal(draw(z.double(), q)).float())
    return Coefficients(indices[0], tuple(indices[1:]), tables, subsampling, tuple(images.shape[-2:]))


def _ac_bits(indices: torch.Tensor) -> torch.Tensor:
    """Approximate bits of AC indices: 0 for zero, else category (bit length of |i|) + a symbol code."""
    magnitude = indices.abs()
    category = torch.where(
        magnitude > 0, torch.floor(torch.log2(magnitude.clamp_min(1))) + 1, torch.zeros_like(magnitude)
    )
    return torch.where(magnitude > 0, category + SYMBOL_BITS, torch.zeros_like(magnitude))


def rd_coefficients(
    images: torch.Tensor,
    tables: QuantTables,
    sensitivity: tuple[torch.Tensor, torch.Tensor],
    lam: float,
    subsampling: str = "4:4:4",
) -> Coefficients:
    """Indices chosen between rounding and one step towards zero by loss + ``lam`` x bits (see module doc).

    Args:
        images: ``(B, C, H, W)`` float in [0, 1] (libjpeg's exact front end is used).
        tables: integer steps 1..255.
        sensitivity: ``(luma, chroma)`` ``(8, 8)`` values ``E[(dL/dz)^2]`` >= 0
            (:func:`jpegdl.tables.sensitivity.frequency_sensitivity`).
        lam: weight of bits per pixel, >= 0 (0: libjpeg's rounding).

    Returns:
        Integer-valued :class:`Coefficients` within baseline limits; DC indices are libjpeg's.
    """
    luma, chroma = tables.baseline()
    tables = QuantTables(luma, chroma)
    if not (isinstance(lam, (int, float)) and lam >= 0 and torch.isfinite(torch.tensor(float(lam)))):
        raise ValueError(f"lam: expected a finite value >= 0, got {lam!r}")
    if len(sensitivity) != 2 or any(torch.as_tensor(s).shape != (8, 8) for s in sensitivity):
        raise ValueError("sensitivity: expected (luma, chroma) tensors of shape (8, 8)")
    weights = [torch.as_tensor(s, dtype=torch.float64) for s in sensitivity]
    if any(not torch.isfinite(w).all() or (w < 0).any() for w in weights):
        raise ValueError("sensitivity: expected finite values >= 0")
    pixels = images.shape[-2] * images.shape[-1]
    with torch.no_grad():
        components = analyze(images, subsampling, exact=True)
        steps = component_steps(tables, len(components), torch.float64)
        indices = []
        for index, (z, q) in enumerate(zip(components, steps, strict=True)):
            z = z.double()
            rounded = round_half_away(z / q)
            smaller = rounded - torch.sign(rounded)
            s = weights[min(index, 1)].view(1, 1, 1, 8, 8)
            cost_rounded = 0.5 * s * (z - rounded * q).square() + lam / pixels * _ac_bits(rounded)
            cost_smaller = 0.5 * s * (z - smaller * q).square() + lam / pixels * _ac_bits(smaller)
            chosen = torch.where(cost_smaller < cost_rounded, smaller, rounded)
            chosen[..., 0, 0] = rounded[..., 0, 0]
            indices.append(_legal(chosen).float())
    return Coefficients(indices[0], tuple(indices[1:]), tables, subsampling, tuple(images.shape[-2:]))


def encode_image(
    image: torch.Tensor | np.ndarray,
    tables: QuantTables,
    subsampling: str = "4:4:4",
    encoder: str = "rounded",
    hardness: float | torch.Tensor = 8.0,
    generator: torch.Generator | None = None,
    sensitivity: tuple[torch.Tensor, torch.Tensor] | None = None,
    lam: float = 0.0,
) -> bytes:
    """One image as a standard baseline JPEG file with optimized Huffman tables.

    Args:
        image: float ``(C, H, W)`` in [0, 1] or uint8 ``(H, W[, 3])``.
        tables: integer steps 1..255 (``QuantTables.rounded()`` of learned tables).
        encoder: ``"rounded"`` (libjpeg-turbo through Pillow: round half away from zero) or
            ``"rd"`` (:func:`rd_coefficients`; needs ``sensitivity`` and ``lam``) or
            ``"probabilistic"`` (indices drawn from the soft PMF, written with jpeglib).
    """
    if encoder == "rounded":
        return jpeg_bytes(image, tables, subsampling)
    if encoder not in ENCODERS:
        raise ValueError(f"encoder: expected one of {ENCODERS}, got {encoder!r}")
    pixels = to_tensor(to_uint8(image))
    if encoder == "rd":
        if sensitivity is None:
            raise ValueError("sensitivity: the rd encoder needs the frequency sensitivity (luma, chroma)")
        return write_coefficients(rd_coefficients(pixels, tables, sensitivity, lam, subsampling), 0)
    coefficients = probabilistic_coefficients(pixels, tables, hardness, subsampling, generator)
    return write_coefficients(coefficients, 0)

"""Real JPEG encoders for learned tables: deterministic rounding (libjpeg) and probabilistic
quantization (each index drawn from the soft quantizer's PMF, written with jpeglib).

Both write standard baseline files that any decoder opens: the decoder only sees integer
indices and 8-bit tables; the hardness shapes the encoder's draws and is never stored.
"""

from __future__ import annotations

import numpy as np
import torch

from jpegdl.files.arrays import to_tensor, to_uint8
from jpegdl.files.write import DC_INDEX_RANGE, MAX_AC_INDEX, save_jpeg, write_coefficients
from jpegdl.jpeg.codec import Coefficients, analyze, component_steps
from jpegdl.jpeg.quantize import SampledQuantizer
from jpegdl.jpeg.tables import QuantTables

ENCODERS = ("rounded", "probabilistic")


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


def encode_image(
    image: torch.Tensor | np.ndarray,
    tables: QuantTables,
    subsampling: str = "4:4:4",
    encoder: str = "rounded",
    hardness: float | torch.Tensor = 8.0,
    generator: torch.Generator | None = None,
) -> bytes:
    """One image as a standard baseline JPEG file with optimized Huffman tables.

    Args:
        image: float ``(C, H, W)`` in [0, 1] or uint8 ``(H, W[, 3])``.
        tables: integer steps 1..255 (``QuantTables.rounded()`` of learned tables).
        encoder: ``"rounded"`` (libjpeg-turbo through Pillow: round half away from zero) or
            ``"probabilistic"`` (indices drawn from the soft PMF, written with jpeglib).
    """
    if encoder == "rounded":
        return save_jpeg(image, tables, subsampling)
    if encoder != "probabilistic":
        raise ValueError(f"encoder: expected one of {ENCODERS}, got {encoder!r}")
    pixels = to_tensor(to_uint8(image))
    coefficients = probabilistic_coefficients(pixels, tables, hardness, subsampling, generator)
    return write_coefficients(coefficients, 0)

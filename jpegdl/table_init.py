"""Initial steps for a JPEG layer from data (LSQ-style); sensitivity tables live in jpegdl.tables.sensitivity."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from jpegdl.jpeg.codec import analyze
from jpegdl.jpeg.tables import QuantTables
from jpegdl.tables.sensitivity import first_images, luma_chroma

LSQ_BITS = 8


@torch.no_grad()
def lsq_tables(
    loader: Iterable, subsampling: str = "4:4:4", limit: int | None = 10_000, bits: int = LSQ_BITS
) -> QuantTables:
    """``q = 2 E|z| / sqrt(2^(bits - 1))`` per frequency (LSQ's step initialisation, as JPEG-DL's ImageNet runs).

    Args:
        loader: yields ``(images, labels)`` with images ``(B, C, H, W)`` in [0, 1].
        limit: number of images to average over.
    """
    sums: list[torch.Tensor] | None = None
    counts: list[int] = []
    for images, _ in first_images(loader, limit):
        components = analyze(images.float(), subsampling, exact=False)
        batch_sums = [c.abs().sum(dim=(0, 1, 2)) for c in components]
        sums = batch_sums if sums is None else [a + b for a, b in zip(sums, batch_sums, strict=True)]
        counts = [n + c[..., 0, 0].numel() for n, c in zip(counts or [0] * len(components), components, strict=True)]
    if sums is None:
        raise ValueError("loader: no images")
    mean_abs = [s / n for s, n in zip(sums, counts, strict=True)]
    luma, chroma = luma_chroma(mean_abs)
    scale = 2 / (2 ** (bits - 1)) ** 0.5
    return QuantTables((luma * scale).clamp(min=1e-3), (chroma * scale).clamp(min=1e-3))

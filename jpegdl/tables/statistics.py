"""Per-frequency statistics of a dataset's DCT coefficients, the raw material of data-driven tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch


def limited_batches(loader: Iterable, limit: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(images, labels)`` batches of ``loader`` until at least ``limit`` images were yielded."""
    seen = 0
    for images, labels in loader:
        if limit is not None and seen >= limit:
            return
        yield images, labels
        seen += images.shape[0]


def luma_and_chroma(values: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One statistic per table from one per component: luma, and the mean of Cb and Cr (luma again
    for grayscale)."""
    chroma = torch.stack(list(values[1:])).mean(0) if len(values) > 1 else values[0]
    return values[0], chroma

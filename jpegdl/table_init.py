"""Initial steps for a JPEG layer, from data (LSQ-style) or from a trained model's sensitivity."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from jpegdl.jpeg.codec import analyze, synthesize
from jpegdl.jpeg.tables import QuantTables

LSQ_BITS = 8


def _batches(loader: Iterable, limit: int | None) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    seen = 0
    for images, labels in loader:
        if limit is not None and seen >= limit:
            return
        yield images, labels
        seen += images.shape[0]


def _per_table(values: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Luma statistic and the mean of the two chroma statistics (luma again for grayscale)."""
    chroma = torch.stack(list(values[1:])).mean(0) if len(values) > 1 else values[0]
    return values[0], chroma


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
    for images, _ in _batches(loader, limit):
        components = analyze(images.float(), subsampling, exact=False)
        batch_sums = [c.abs().sum(dim=(0, 1, 2)) for c in components]
        sums = batch_sums if sums is None else [a + b for a, b in zip(sums, batch_sums, strict=True)]
        counts = [n + c[..., 0, 0].numel() for n, c in zip(counts or [0] * len(components), components, strict=True)]
    if sums is None:
        raise ValueError("loader: no images")
    mean_abs = [s / n for s, n in zip(sums, counts, strict=True)]
    luma, chroma = _per_table(mean_abs)
    scale = 2 / (2 ** (bits - 1)) ** 0.5
    return QuantTables((luma * scale).clamp(min=1e-3), (chroma * scale).clamp(min=1e-3))


def frequency_sensitivity(
    model: nn.Module,
    loader: Iterable,
    subsampling: str = "4:4:4",
    limit: int | None = 10_000,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``s_m = E[(dCE/dz_m)^2]`` per frequency: ``(luma, chroma)`` ``(8, 8)`` float tensors.

    ``z`` are the DCT coefficients of each component on libjpeg's scale; chroma is the mean of
    Cb and Cr (luma again for grayscale). ``model`` takes images in [0, 1] and is evaluated in
    eval mode (its mode is restored).
    """
    was_training = model.training
    model.eval()
    sums: list[torch.Tensor] | None = None
    seen = 0
    for images, labels in _batches(loader, limit):
        images, labels = images.float().to(device), labels.to(device)
        components = [c.detach().requires_grad_() for c in analyze(images, subsampling, exact=False)]
        reconstructed = synthesize(tuple(components), tuple(images.shape[-2:]), subsampling, exact=False)
        loss = nn.functional.cross_entropy(model(reconstructed), labels, reduction="sum")
        grads = torch.autograd.grad(loss, components)
        batch = [g.square().sum(dim=(0, 1, 2)) for g in grads]
        sums = batch if sums is None else [a + b for a, b in zip(sums, batch, strict=True)]
        seen += images.shape[0]
    model.train(was_training)
    if sums is None:
        raise ValueError("loader: no images")
    luma, chroma = _per_table([s / seen for s in sums])
    return luma.detach().cpu(), chroma.detach().cpu()


def sensitivity_tables(
    model: nn.Module,
    loader: Iterable,
    q_max: float = 10.0,
    subsampling: str = "4:4:4",
    limit: int | None = 10_000,
    device: torch.device | str = "cpu",
) -> QuantTables:
    """JPEG-DL's sensitivity initialisation: steps proportional to 1 / E[(dCE/dz)^2].

    ``model`` takes images in [0, 1] (normalisation inside) and is evaluated in eval mode.
    The largest luma step becomes ``q_max``; chroma uses the same factor on the mean of Cb and Cr.
    """
    if not q_max > 0:
        raise ValueError(f"q_max: expected a value > 0, got {q_max!r}")
    luma_s, chroma_s = frequency_sensitivity(model, loader, subsampling, limit, device)
    tiny = torch.finfo(luma_s.dtype).tiny
    luma_inv, chroma_inv = 1 / luma_s.clamp(min=tiny), 1 / chroma_s.clamp(min=tiny)
    factor = luma_inv.max() / q_max
    return QuantTables(luma_inv / factor, chroma_inv / factor)

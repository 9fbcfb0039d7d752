"""Tables from a trained model's frequency sensitivity (JPEG-DL's initialisation, J4D's baseline)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from jpegdl.jpeg.codec import analyze, synthesize
from jpegdl.jpeg.tables import QuantTables
from jpegdl.tables.statistics import limited_batches, luma_and_chroma


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
    for images, labels in limited_batches(loader, limit):
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
    luma, chroma = luma_and_chroma([s / seen for s in sums])
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

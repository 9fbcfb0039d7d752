"""The hard J4D objective: what real files cost, evaluated exactly on cached DCT coefficients.

    objective(tables) = mean over models of task_loss(model(decode(round(z / q) * q)), y)
                        + lambda * bpp(empirical entropy of the hard indices)

``round`` is libjpeg's rule (half away from zero), the decoder is libjpeg-turbo's (exact ISLOW
IDCT, clamps), and the rate is the memoryless entropy of the integer indices per component and
frequency over the whole set, DC coded as differences in coding order (as baseline JPEG does).
The coefficients of the learning images are computed once (:func:`cache_batches`), so trying a
table costs one decode and one classification of the images whose indices it changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from jpegdl.jpeg.codec import analyze, synthesize
from jpegdl.jpeg.rate import coding_order
from jpegdl.jpeg.sampling import check_subsampling
from jpegdl.jpeg.ste import round_half_away
from jpegdl.jpeg.tables import QuantTables

TASK_LOSSES = ("ce", "kl")
CHUNK = 1024


@dataclass
class CachedSet:
    """DCT coefficients of a set of images, computed once.

    Attributes:
        coefficients: ``(Y,)`` or ``(Y, Cb, Cr)``, each ``(N, rows, cols, 8, 8)`` float64 (libjpeg's scale).
        labels: ``(N,)`` int64.
        size: images' ``(H, W)``.
        subsampling: ``"4:4:4"`` or ``"4:2:0"``.
        references: per model ``(N, classes)`` log-probabilities on the uncompressed images (KL loss), or None.
    """

    coefficients: tuple[torch.Tensor, ...]
    labels: torch.Tensor
    size: tuple[int, int]
    subsampling: str
    references: list[torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.labels.shape[0]

    @property
    def channels(self) -> int:
        return 1 if len(self.coefficients) == 1 else 3

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]

    def subset(self, index: torch.Tensor | slice) -> CachedSet:
        refs = None if self.references is None else [r[index] for r in self.references]
        return CachedSet(tuple(c[index] for c in self.coefficients), self.labels[index], self.size,
                         self.subsampling, refs)  # fmt: skip


@torch.no_grad()
def cache_batches(
    data: Iterable,
    subsampling: str = "4:4:4",
    limit: int | None = None,
    device: torch.device | str = "cpu",
) -> CachedSet:
    """Run the exact encoder front end once over ``data`` (``(images, labels)`` batches, images in [0, 1]).

    Raises:
        ValueError: no batches, or images of different sizes or channel counts.
    """
    check_subsampling(subsampling)
    parts: list[tuple[torch.Tensor, ...]] = []
    labels: list[torch.Tensor] = []
    shape = None
    seen = 0
    for images, targets in data:
        if limit is not None and seen >= limit:
            break
        images = torch.as_tensor(images)
        if shape is None:
            shape = tuple(images.shape[1:])
        elif tuple(images.shape[1:]) != shape:
            raise ValueError(f"data: every batch must hold images of one shape, got {shape}, {tuple(images.shape[1:])}")
        parts.append(tuple(c.double() for c in analyze(images.to(device).float(), subsampling, exact=True)))
        labels.append(torch.as_tensor(targets).to(device).long())
        seen += images.shape[0]
    if not parts:
        raise ValueError("data: no batches")
    coefficients = tuple(torch.cat(c) for c in zip(*parts, strict=True))
    cached = CachedSet(coefficients, torch.cat(labels), shape[-2:], subsampling)
    if limit is not None and len(cached) > limit:
        cached = cached.subset(slice(0, limit))
    return cached


def hard_indices(coefficients: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """libjpeg's quantization ``sign(z) floor(|z| / q + 1/2)`` (float64 integers)."""
    return round_half_away(coefficients / steps)


def table_steps(table: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``(8, 8)`` steps as float64 ``(1, 1, 1, 8, 8)`` on ``like``'s device (broadcast over blocks)."""
    return table.to(like.device, torch.float64).view(1, 1, 1, 8, 8)


def component_tables(tables: QuantTables, count: int) -> list[torch.Tensor]:
    return [tables.luma if i == 0 else tables.chroma for i in range(count)]


def entropy_bits_of(values: torch.Tensor) -> torch.Tensor:
    """Empirical entropy in bits of each row of integer values ``(K, n)`` -> ``(K,)`` float64."""
    low = values.min()
    bins = (values - low).long()
    span = int(bins.max()) + 1
    rows = values.shape[0]
    counts = torch.zeros(rows * span, dtype=torch.float64, device=values.device)
    counts.scatter_add_(0, (bins + span * torch.arange(rows, device=values.device).view(-1, 1)).flatten(),
                        torch.ones(bins.numel(), dtype=torch.float64, device=values.device))  # fmt: skip
    p = counts.view(rows, span) / values.shape[1]
    return -(p * torch.where(p > 0, p, torch.ones_like(p)).log2()).sum(1)


def dc_differences(dc: torch.Tensor, mcu: int = 1) -> torch.Tensor:
    """DC indices ``(..., N, rows, cols)`` -> differences in coding order ``(..., N * rows * cols)``.

    Each image's predictor starts at 0, as in a baseline scan.
    """
    rows, cols = dc.shape[-2:]
    order = coding_order(rows, cols, mcu).to(dc.device)
    flat = dc.flatten(-2)[..., order]
    previous = torch.cat([torch.zeros_like(flat[..., :1]), flat[..., :-1]], -1)
    return (flat - previous).flatten(-2)


def frequency_bits(indices: torch.Tensor, mcu: int = 1) -> torch.Tensor:
    """Bits per block ``(8, 8)`` of one component's hard indices ``(N, rows, cols, 8, 8)``."""
    ac = indices.reshape(-1, 64).T
    bits = entropy_bits_of(ac)
    bits[0] = entropy_bits_of(dc_differences(indices[..., 0, 0], mcu).unsqueeze(0))[0]
    return bits.view(8, 8)


def bpp_of(cached: CachedSet, bits: Sequence[torch.Tensor]) -> float:
    """Bits per pixel from per-component bits per block ``(8, 8)``."""
    blocks = [c[0, ..., 0, 0].numel() for c in cached.coefficients]
    return float(sum(b.sum() * n for b, n in zip(bits, blocks, strict=True)) / cached.pixels)


def luma_mcu(cached: CachedSet) -> int:
    return 2 if cached.channels == 3 and cached.subsampling == "4:2:0" else 1


def check_models(models: nn.Module | Sequence[nn.Module], device: torch.device) -> list[nn.Module]:
    """Frozen copies' handles: eval mode, no weight gradients, on ``device``."""
    model_list = [models] if isinstance(models, nn.Module) else list(models)
    if not model_list:
        raise ValueError("models: expected at least one model")
    frozen = []
    for model in model_list:
        if not isinstance(model, nn.Module):
            raise ValueError(f"models: expected nn.Module objects, got {type(model).__name__}")
        model = model.to(device).eval()
        model.requires_grad_(False)
        frozen.append(model)
    return frozen


def per_image_task_loss(logits: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor | None,
                        loss: str) -> torch.Tensor:  # fmt: skip
    """``(B,)`` cross-entropy with labels, or KL from the uncompressed output's log-probabilities."""
    if loss == "ce":
        return F.cross_entropy(logits, labels, reduction="none")
    log_p = F.log_softmax(logits, 1)
    return (reference.exp() * (reference - log_p)).sum(1)


@torch.no_grad()
def add_references(cached: CachedSet, models: Sequence[nn.Module]) -> CachedSet:
    """Store each model's log-probabilities on the uncompressed (exactly decoded, unquantized) images."""
    refs = []
    for model in models:
        outs = []
        for start in range(0, len(cached), CHUNK):
            part = tuple(c[start : start + CHUNK] for c in cached.coefficients)
            images = synthesize(tuple(c.float() for c in part), cached.size, cached.subsampling, exact=False)
            outs.append(F.log_softmax(model(images.clamp(0, 1)), 1))
        refs.append(torch.cat(outs))
    cached.references = refs
    return cached


@torch.no_grad()
def image_losses(
    models: Sequence[nn.Module],
    dequantized: tuple[torch.Tensor, ...],
    cached: CachedSet,
    index: torch.Tensor,
    loss: str = "ce",
) -> torch.Tensor:
    """Mean-over-models task loss ``(B,)`` of decoded images (exact libjpeg decoder).

    Args:
        dequantized: ``index * step`` per component, ``(B, rows, cols, 8, 8)``.
        index: ``(B,)`` positions of these images in ``cached`` (labels, references).
    """
    out = torch.zeros(dequantized[0].shape[0], dtype=torch.float64, device=dequantized[0].device)
    for start in range(0, out.shape[0], CHUNK):
        part = tuple(d[start : start + CHUNK].float() for d in dequantized)
        images = synthesize(part, cached.size, cached.subsampling, exact=True)
        rows = index[start : start + CHUNK]
        labels = cached.labels[rows]
        for m, model in enumerate(models):
            reference = None if cached.references is None else cached.references[m][rows]
            out[start : start + CHUNK] += per_image_task_loss(model(images), labels, reference, loss).double()
    return out / len(models)


@dataclass
class Evaluation:
    """The hard objective of one pair of tables on one cached set."""

    objective: float
    task: float
    bpp: float
    lam: float

    def to_dict(self) -> dict:
        return {"objective": self.objective, "task": self.task, "bpp": self.bpp}


@torch.no_grad()
def evaluate(models: Sequence[nn.Module], cached: CachedSet, tables: QuantTables, lam: float,
             loss: str = "ce") -> Evaluation:  # fmt: skip
    """The exact objective (task loss on real decodes + lambda x entropy bpp) of integer ``tables``."""
    tables = tables.rounded()
    steps = [table_steps(t, cached.coefficients[0]) for t in component_tables(tables, len(cached.coefficients))]
    indices = [hard_indices(z, q) for z, q in zip(cached.coefficients, steps, strict=True)]
    bits = [frequency_bits(i, luma_mcu(cached) if c == 0 else 1) for c, i in enumerate(indices)]
    rate = bpp_of(cached, bits)
    index = torch.arange(len(cached), device=cached.labels.device)
    task = float(image_losses(models, tuple(i * q for i, q in zip(indices, steps, strict=True)), cached, index,
                              loss).mean())  # fmt: skip
    return Evaluation(task + lam * rate, task, rate, lam)


def split_held_out(cached: CachedSet, fraction: float, seed: int = 0) -> tuple[CachedSet, CachedSet]:
    """Random split into (learning, held-out) sets; ``fraction`` of the images are held out."""
    if not 0 < fraction < 1:
        raise ValueError(f"held_out: expected a fraction in (0, 1), got {fraction!r}")
    count = len(cached)
    held = max(1, round(fraction * count))
    if held >= count:
        raise ValueError(f"data: {count} images are too few to hold out {fraction:.0%} of them")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).to(cached.labels.device)
    return cached.subset(order[held:]), cached.subset(order[:held])


def isfinite_number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

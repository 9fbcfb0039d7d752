"""Model-guided JPEG encoding: per image, the coarsest tables of a ladder that the frozen model
still reads as it reads the original.

Tables learned for a model are one compromise for every image; most images survive far coarser
steps than the hardest ones. When the sender has the frozen model (the J4D setting: images sent to
a known classifier), it can choose per image: decode at each ladder level, from the coarsest
down, and keep the first level whose predicted distribution stays within ``max_kl`` nats of the
uncompressed image's, ``KL(p(x) || p(decode(x)))``. The decode is libjpeg-turbo's, reproduced
exactly in torch and batched (:mod:`jpegdl.jpeg.codec`), so the criterion holds for the real
file any libjpeg decoder produces. Each file carries its own tables in its header: plain
baseline JPEG, no side information.

Costs at the sender: one classification per image and level tried (levels stop per image at
the first that passes). What it assumes: the receiver runs this model, or one that reads the
images alike; the benchmark measures how far the choice transfers to other models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from jpegdl.files.arrays import to_tensor, to_uint8
from jpegdl.files.write import jpeg_bytes
from jpegdl.jpeg.codec import analyze, check_images, component_steps, synthesize
from jpegdl.jpeg.ste import round_half_away
from jpegdl.jpeg.tables import QuantTables
from jpegdl.tables.sensitivity import scaled_tables

DEFAULT_QUALITY_LADDER = (95, 90, 80, 70, 60, 50, 40, 30, 25, 20, 15, 12, 10, 8, 6, 5, 4, 3, 2)


def quality_ladder(qualities: Sequence[int] = DEFAULT_QUALITY_LADDER) -> list[QuantTables]:
    """IJG tables at ``qualities`` (1..100), in the given order (finest first by convention)."""
    if not qualities or any(isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 100 for q in qualities):
        raise ValueError(f"qualities: expected a non-empty sequence of integers 1..100, got {qualities!r}")
    return [QuantTables.from_quality(q) for q in qualities]


def sensitivity_ladder(
    sensitivity: tuple[torch.Tensor, torch.Tensor], levels: int = 24, finest: float = 1.0, coarsest: float = 128.0
) -> list[QuantTables]:
    """Sensitivity tables (:func:`jpegdl.tables.sensitivity.scaled_tables`) at ``levels`` scales
    spaced geometrically from ``finest`` to ``coarsest`` (the most sensitive luma step); repeats
    (after rounding into 1..255) are dropped."""
    if not (isinstance(levels, int) and levels >= 1):
        raise ValueError(f"levels: expected an integer >= 1, got {levels!r}")
    if not (math.isfinite(finest) and math.isfinite(coarsest) and 0 < finest <= coarsest):
        raise ValueError(f"finest, coarsest: expected 0 < finest <= coarsest, got {finest!r}, {coarsest!r}")
    ladder: list[QuantTables] = []
    for scale in np.geomspace(finest, coarsest, levels):
        tables = scaled_tables(sensitivity, float(scale))
        if not ladder or not (torch.equal(tables.luma, ladder[-1].luma) and torch.equal(tables.chroma,
                                                                                        ladder[-1].chroma)):
            ladder.append(tables)
    return ladder


def _check_thresholds(max_kl: float | Sequence[float]) -> torch.Tensor:
    values = torch.as_tensor([max_kl] if isinstance(max_kl, (int, float)) else list(max_kl), dtype=torch.float64)
    if values.numel() == 0 or not torch.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"max_kl: expected finite values >= 0 (nats), got {max_kl!r}")
    return values


@torch.no_grad()
def guided_levels(
    model: nn.Module,
    images: torch.Tensor,
    ladder: Sequence[QuantTables],
    max_kl: float | Sequence[float],
    subsampling: str = "4:4:4",
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> torch.Tensor:
    """The ladder level each image is written at, for each threshold.

    Args:
        model: frozen classifier taking ``(B, C, H, W)`` in [0, 1]; evaluated in eval mode.
        images: ``(N, C, H, W)`` float in [0, 1], multiples of 1/255 (8-bit pictures).
        ladder: tables from the finest (index 0) to the coarsest (last).
        max_kl: one threshold or several (nats, >= 0).
        subsampling: ``"4:4:4"`` or ``"4:2:0"`` (colour images).

    Returns:
        int64 ``(T, N)`` ladder indices (``T`` thresholds; ``(N,)`` for a single float): the
        coarsest level whose decode keeps ``KL(p(image) || p(decode)) <= max_kl``, else 0.
    """
    check_images(images)
    if not ladder or any(not isinstance(t, QuantTables) for t in ladder):
        raise ValueError("ladder: expected a non-empty sequence of QuantTables (finest first)")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    thresholds = _check_thresholds(max_kl)
    tables = [QuantTables(*t.baseline()) for t in ladder]  # integer steps 1..255, as files carry them
    model.eval()
    chosen = torch.zeros(len(thresholds), len(images), dtype=torch.int64)
    bar = tqdm(total=len(images), desc="guided levels", unit="img", leave=False, disable=not progress)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        reference = model(batch).log_softmax(1).double()
        components = analyze(batch.double(), subsampling, exact=True)
        undecided = torch.ones(len(thresholds), len(batch), dtype=torch.bool, device=device)
        for level in range(len(tables) - 1, 0, -1):  # level 0 needs no test: it is the fallback
            open_images = undecided.any(0).nonzero().squeeze(1)
            if open_images.numel() == 0:
                break
            steps = component_steps(tables[level].to(device=device), len(components), torch.float64)
            dequantized = tuple(round_half_away(c[open_images] / s) * s for c, s in zip(components, steps, strict=True))
            decoded = synthesize(dequantized, tuple(batch.shape[-2:]), subsampling, exact=True)
            log_p = model(decoded.to(batch.dtype)).log_softmax(1).double()
            ref = reference[open_images]
            divergence = (ref.exp() * (ref - log_p)).sum(1)  # (open,)
            passes = (divergence.unsqueeze(0) <= thresholds.to(device).unsqueeze(1)) & undecided[:, open_images]
            rows, cols = passes.nonzero(as_tuple=True)
            chosen[rows.cpu(), start + open_images[cols].cpu()] = level
            undecided[rows, open_images[cols]] = False
        bar.update(len(batch))
    bar.close()
    return chosen[0] if isinstance(max_kl, (int, float)) else chosen


def guided_files(
    images: Sequence[np.ndarray] | torch.Tensor,
    ladder: Sequence[QuantTables],
    levels: torch.Tensor,
    subsampling: str = "4:4:4",
) -> list[bytes]:
    """Write each image at its level (``levels``: ``(N,)`` ladder indices) as a baseline JPEG file."""
    if levels.dim() != 1 or len(levels) != len(images):
        raise ValueError(f"levels: expected shape ({len(images)},), got {tuple(levels.shape)}")
    if len(levels) and not (int(levels.min()) >= 0 and int(levels.max()) < len(ladder)):
        raise ValueError(f"levels: expected ladder indices 0..{len(ladder) - 1}")
    return [jpeg_bytes(image, ladder[int(level)], subsampling) for image, level in zip(images, levels, strict=True)]


def guided_encode(
    model: nn.Module,
    images: Sequence[np.ndarray],
    ladder: Sequence[QuantTables],
    max_kl: float,
    subsampling: str = "4:4:4",
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> tuple[list[bytes], torch.Tensor]:
    """Files for uint8 images ``(H, W[, 3])`` of one size, each at its guided level; and the levels ``(N,)``."""
    arrays = [to_uint8(image) for image in images]
    if len({a.shape for a in arrays}) > 1:
        raise ValueError("images: guided encoding batches images of one size; group them by size first")
    pixels = torch.cat([to_tensor(a) for a in arrays])
    levels = guided_levels(model, pixels, ladder, float(max_kl), subsampling, device=device, progress=progress)
    return guided_files(arrays, ladder, levels, subsampling), levels

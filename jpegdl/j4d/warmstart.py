"""Initial tables for J4D: lambda-matched sensitivity tables, the scale refined on the real objective."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

from jpegdl.j4d.objective import CachedSet, evaluate
from jpegdl.jpeg.codec import synthesize
from jpegdl.jpeg.tables import QuantTables
from jpegdl.tables.sensitivity import frequency_sensitivity, lambda_matched_tables

SCALE_FACTORS = (0.25, 0.35, 0.5, 0.71, 1.0, 1.41, 2.0, 2.83, 4.0)


def decoded_batches(cached: CachedSet, batch: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The uncompressed images of a cached set, ``(B, C, H, W)`` in [0, 1], with their labels."""
    for start in range(0, len(cached), batch):
        part = tuple(c[start : start + batch].float() for c in cached.coefficients)
        images = synthesize(part, cached.size, cached.subsampling, exact=False).clamp(0, 1)
        yield images, cached.labels[start : start + batch]


def cached_sensitivity(models: Sequence[nn.Module], cached: CachedSet, limit: int = 4096) -> tuple:
    """:func:`frequency_sensitivity` of ``models`` on (up to ``limit``) images of a cached set."""
    device = cached.labels.device
    return frequency_sensitivity(list(models), decoded_batches(cached), cached.subsampling, limit, device)


def warm_start(models: Sequence[nn.Module], cached: CachedSet, lam: float, loss: str = "ce",
               sensitivity: tuple | None = None) -> tuple[QuantTables, list[dict]]:  # fmt: skip
    """Lambda-matched sensitivity tables whose scale minimises the exact objective on ``cached``.

    The closed form ``q_m = sqrt(12 lam' / (ln 2 pixels s_m))`` is tried for ``lam' = lam f^2``
    with ``f`` in :data:`SCALE_FACTORS` (the high-rate model misjudges the scale at low rate);
    ``lam = 0`` gives all-ones tables (nothing to gain from coarser steps).

    Returns:
        The best integer tables and one record per tried scale.
    """
    if lam == 0:
        ones = QuantTables(torch.ones(8, 8, dtype=torch.int64), torch.ones(8, 8, dtype=torch.int64))
        return ones, []
    if sensitivity is None:
        sensitivity = cached_sensitivity(models, cached)
    records, best = [], None
    for factor in SCALE_FACTORS:
        tables = lambda_matched_tables(sensitivity, lam * factor**2, cached.pixels)
        score = evaluate(models, cached, tables, lam, loss)
        records.append({"scale": factor, **score.to_dict()})
        if best is None or score.objective < best[0]:
            best = (score.objective, tables)
    return best[1], records

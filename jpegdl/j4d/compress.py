"""Compress a folder of images to standard JPEG files with given (learned) tables, or with tables
chosen per picture by a frozen model (:func:`compress_folder_guided`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from jpegdl.files.markers import payload_bytes
from jpegdl.files.outputs import OutputFolder, write_recorded
from jpegdl.files.pictures import PICTURE_SUFFIXES, read_picture
from jpegdl.j4d.encoders import ENCODERS, encode_image
from jpegdl.j4d.guided import guided_encode
from jpegdl.jpeg.sampling import check_subsampling
from jpegdl.jpeg.tables import QuantTables
from jpegdl.utils import process_pool

IMAGE_SUFFIXES = PICTURE_SUFFIXES


@dataclass(frozen=True)
class _Job:
    tables: QuantTables
    subsampling: str
    encoder: str
    hardness: float | torch.Tensor
    seed: int
    max_pixels: int | None
    folder: Path  # the output folder, whose manifest records every file written


def _compress_one(job: _Job, index: int, source: Path, target: Path) -> tuple[str, int, int, int] | str:
    """Encode one file; returns ``(name, file bytes, payload bytes, pixels)`` or why it was skipped.

    Any failure of one picture (unreadable, too large, a full disk) is reported, never raised, so
    one bad file never stops the batch; the output appears whole or not at all.
    """
    try:
        pixels = read_picture(source, job.max_pixels, name="picture")
        generator = torch.Generator().manual_seed(job.seed * 1_000_003 + index)
        data = encode_image(pixels, job.tables, job.subsampling, job.encoder, job.hardness, generator)
        write_recorded(job.folder, target, data)
    except (ValueError, OSError, MemoryError) as err:
        reason = " ".join(str(err).split())
        return reason if str(source) in reason else f"{source}: {reason}"
    return str(target), len(data), payload_bytes(data), pixels.shape[0] * pixels.shape[1]


def _compress_chunk(job: _Job, items: list[tuple[int, Path, Path]]) -> list:
    return [_compress_one(job, i, s, t) for i, s, t in items]


def compress_folder(
    source: str | Path,
    target: str | Path,
    tables: QuantTables,
    subsampling: str = "4:2:0",
    encoder: str = "rounded",
    hardness: float | torch.Tensor = 8.0,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    max_pixels: int | None = None,
) -> dict:
    """Write every image under ``source`` as ``target/<same relative path>.jpg``.

    Inputs are never touched: ``target`` may not be ``source`` or lie inside it, two inputs that
    would map to one output (``a.png`` and ``a.jpg``) are refused, and existing outputs are kept
    unless ``overwrite``. Every output is written atomically. A picture that cannot be read or
    written (corrupt, above ``max_pixels``, a full disk) is skipped with its reason; the batch goes on.
    Probabilistic draws are seeded per file (``seed`` and the file's position in sorted order),
    so the output does not depend on ``workers``.

    Returns:
        ``{"files", "skipped", "skipped_files", "bytes", "payload_bytes", "pixels", "bpp", "payload_bpp"}``.
    """
    source, target = Path(source), Path(target)
    if encoder not in ENCODERS:
        raise ValueError(f"encoder: expected one of {ENCODERS}, got {encoder!r}")
    check_subsampling(subsampling)
    luma, chroma = tables.baseline()  # raises on tables a baseline file cannot hold
    items, folder = _plan(source, target, overwrite)
    job = _Job(QuantTables(luma, chroma), subsampling, encoder, hardness, seed, max_pixels, folder.path)
    chunks = [items[i : i + 64] for i in range(0, len(items), 64)]
    results: list = []
    collect = results.extend

    with tqdm(total=len(items), desc="compress", unit="img", disable=not progress) as bar:
        if workers <= 1:
            for chunk in chunks:
                collect(_compress_chunk(job, chunk))
                bar.update(len(chunk))
        else:
            with process_pool(workers) as pool:
                futures = [pool.submit(_compress_chunk, job, chunk) for chunk in chunks]
                for chunk, future in zip(chunks, futures, strict=True):
                    collect(future.result())
                    bar.update(len(chunk))
    return _summary(results)


def compress_folder_guided(
    source: str | Path,
    target: str | Path,
    model: nn.Module,
    ladder: Sequence[QuantTables],
    max_kl: float,
    subsampling: str = "4:2:0",
    device: torch.device | str = "cpu",
    progress: bool = True,
    overwrite: bool = False,
    max_pixels: int | None = None,
) -> dict:
    """Like :func:`compress_folder`, each picture at the coarsest ``ladder`` tables (finest first) that
    keep ``model``'s output within ``max_kl`` nats (:mod:`jpegdl.j4d.guided`).

    The pictures must be what ``model`` classifies (its channels; any size it accepts). Returns
    :func:`compress_folder`'s summary plus ``"levels"``: how many files each ladder level wrote.
    """
    source, target = Path(source), Path(target)
    check_subsampling(subsampling)
    if not ladder:
        raise ValueError("ladder: expected at least one QuantTables")
    if not (isinstance(max_kl, (int, float)) and math.isfinite(max_kl) and max_kl >= 0):
        raise ValueError(f"max_kl: expected a finite value >= 0 (nats), got {max_kl!r}")
    items, folder = _plan(source, target, overwrite)
    model = model.to(device).eval()
    results: list = []
    levels = [0] * len(ladder)
    for _, path, out in tqdm(items, desc="guided compress", unit="img", disable=not progress):
        try:
            pixels = read_picture(path, max_pixels, name="picture")
            (data,), (level,) = guided_encode(model, [pixels], ladder, max_kl, subsampling, device)
            folder.write(out, data)
        except (ValueError, OSError, MemoryError, RuntimeError) as err:  # RuntimeError: the model refused it
            reason = " ".join(str(err).split())
            results.append(reason if str(path) in reason else f"{path}: {reason}")
            continue
        levels[int(level)] += 1
        results.append((str(out), len(data), payload_bytes(data), pixels.shape[0] * pixels.shape[1]))
    return _summary(results) | {"levels": levels}


def _plan(source: Path, target: Path, overwrite: bool) -> tuple[list[tuple[int, Path, Path]], OutputFolder]:
    """``(index, input, output)`` for every picture under ``source``, outputs checked (see :func:`compress_folder`),
    and the output folder that records what is written."""
    if not source.is_dir():
        raise ValueError(f"in_dir: no such folder {str(source)!r}")
    resolved_source, resolved_target = source.resolve(), target.resolve()
    if resolved_target == resolved_source or resolved_source in resolved_target.parents:
        raise ValueError(f"out_dir: {str(target)!r} is the input folder or inside it; choose a folder outside"
                         f" {str(source)!r} so no input is overwritten")  # fmt: skip
    if resolved_target in resolved_source.parents:
        raise ValueError(f"out_dir: {str(target)!r} holds the input folder {str(source)!r}; choose a folder outside"
                         " it so no input is overwritten")  # fmt: skip
    folder = OutputFolder(target, overwrite, "out_dir")
    paths = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"in_dir: no images ({', '.join(IMAGE_SUFFIXES)}) under {str(source)!r}")
    items = [(i, p, (target / p.relative_to(source)).with_suffix(".jpg")) for i, p in enumerate(paths)]
    folder.plan([(p, t) for _, p, t in items])
    return items, folder


def _summary(results: list) -> dict:
    """Totals of written files (tuples) and the reasons of skipped ones (strings), each skip warned."""
    written = [r for r in results if isinstance(r, tuple)]
    skipped = [r for r in results if isinstance(r, str)]
    for message in skipped:
        warnings.warn(f"skipped {message}", stacklevel=2)
    total_bytes = sum(r[1] for r in written)
    total_payload = sum(r[2] for r in written)
    pixels = sum(r[3] for r in written)
    return {
        "files": len(written),
        "skipped": len(skipped),
        "skipped_files": skipped,
        "bytes": total_bytes,
        "payload_bytes": total_payload,
        "pixels": pixels,
        "bpp": 8 * total_bytes / pixels if pixels else None,
        "payload_bpp": 8 * total_payload / pixels if pixels else None,
    }

"""Measure operating points: encode a test set to real files, decode them with libjpeg-turbo
(Pillow), classify the decoded pixels, count the bytes.

Rates: ``bpp`` = 8 x file bytes / pixels over the set (headers included), ``payload_bpp`` =
the entropy-coded scan data alone (as when a dataset shares its tables), ``mean_bpp`` = the
mean of per-image whole-file bpp. Each point also keeps, per image, its payload bytes and
whether each model classified it right (compactly encoded, see :mod:`jpegdl.evaluate.per_image`),
so paired bootstrap intervals can be computed from the JSON alone.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from jpegdl.evaluate.codecs import (
    DEFAULT_GUIDED_THRESHOLDS,
    DEFAULT_QUALITIES,
    DEFAULT_SCALES,
    GUIDED_KINDS,
    CodecSpec,
    codec_settings,
    probabilistic_files,
)
from jpegdl.evaluate.per_image import pack_counts, pack_flags
from jpegdl.files import payload_bytes
from jpegdl.files.arrays import to_tensor
from jpegdl.j4d.learn import load_hardness
from jpegdl.utils import process_pool


@dataclass
class OperatingPoint:
    """One codec setting measured on a test set."""

    codec: str
    setting: float | str
    bpp: float
    payload_bpp: float
    mean_bpp: float
    accuracy: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    per_image_payload: str | None = None  # ``pack_counts`` of each image's payload bytes
    per_image_correct: dict[str, str] = field(default_factory=dict)  # model -> ``pack_flags`` of right answers

    def to_dict(self) -> dict:
        return asdict(self)


def _run_encoder(encoder: Callable[[np.ndarray], bytes], images: Sequence[np.ndarray]) -> list[bytes]:
    return [encoder(image) for image in images]


def encode_many(
    images: Sequence[np.ndarray],
    encoder: Callable[[np.ndarray], bytes],
    workers: int | Executor = 1,
    desc: str | None = None,
    progress: bool = True,
) -> list[bytes]:
    """Encode uint8 images with a picklable ``encoder``, in order.

    ``workers``: a process count (a pool is started for this call) or a running executor.
    """
    chunk = 256
    chunks = [images[i : i + chunk] for i in range(0, len(images), chunk)]
    bar = tqdm(total=len(images), desc=desc, leave=False, disable=not progress, unit="img")
    files: list[bytes] = []
    if isinstance(workers, int) and workers <= 1:
        for part in chunks:
            files += _run_encoder(encoder, part)
            bar.update(len(part))
    else:
        with contextlib.ExitStack() as stack:
            pool = workers if isinstance(workers, Executor) else stack.enter_context(process_pool(workers))
            for part, encoded in zip(chunks, pool.map(partial(_run_encoder, encoder), chunks), strict=True):
                files += encoded
                bar.update(len(part))
    bar.close()
    return files


def decode_files(files: Sequence[bytes]) -> torch.Tensor:
    """Decode with Pillow (libjpeg-turbo, default settings) to ``(N, C, H, W)`` float in [0, 1]."""
    arrays = [np.array(Image.open(io.BytesIO(data))) for data in files]
    return torch.cat([to_tensor(a) for a in arrays])


@torch.no_grad()
def correct_per_image(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor, batch: int = 1000,
                      device: torch.device | str = "cpu") -> dict[str, np.ndarray]:  # fmt: skip
    """Per model, bool ``(N,)``: whether it classifies each image of ``images`` ``(N, C, H, W)`` in [0, 1] right."""
    result = {}
    for name, model in models.items():
        model.eval()
        parts = []
        for start in range(0, len(images), batch):
            logits = model(images[start : start + batch].to(device))
            parts.append((logits.argmax(1).cpu() == labels[start : start + batch]).numpy())
        result[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    return result


def classify(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor, batch: int = 1000,
             device: torch.device | str = "cpu") -> dict[str, float]:  # fmt: skip
    """Top-1 accuracy of each model (eval mode) on ``images`` ``(N, C, H, W)`` in [0, 1]."""
    correct = correct_per_image(models, images, labels, batch, device)
    return {name: float(right.mean()) for name, right in correct.items()}


def measure(files: Sequence[bytes], pixels_per_image: Sequence[int],
            payloads: Sequence[int] | None = None) -> dict[str, float]:  # fmt: skip
    """Aggregate and mean bpp of whole files, and the aggregate payload bpp (``payloads``: the
    entropy-coded bytes of each file; default: a JPEG file's scan data)."""
    sizes = np.array([len(f) for f in files], dtype=np.float64)
    payloads = np.array([payload_bytes(f) for f in files] if payloads is None else payloads, dtype=np.float64)
    pixels = np.asarray(pixels_per_image, dtype=np.float64)
    return {
        "bpp": float(8 * sizes.sum() / pixels.sum()),
        "payload_bpp": float(8 * payloads.sum() / pixels.sum()),
        "mean_bpp": float(np.mean(8 * sizes / pixels)),
    }


def measure_point(
    codec: str,
    setting: float | str,
    files: Sequence[bytes],
    pixels: Sequence[int],
    labels: torch.Tensor,
    models: dict[str, nn.Module],
    device: torch.device | str = "cpu",
    seed: int | None = None,
    decoded: torch.Tensor | None = None,
    payloads: Sequence[int] | None = None,
) -> OperatingPoint:
    """One operating point from its files: decode (Pillow unless ``decoded`` is given), classify with
    every model, count bytes (``pixels``: per image; ``payloads``: per-file scan bytes, default parsed)."""
    decoded = decode_files(files) if decoded is None else decoded
    correct = correct_per_image(models, decoded, labels, device=device)
    payloads = [payload_bytes(f) for f in files] if payloads is None else list(payloads)
    accuracy = {name: float(right.mean()) for name, right in correct.items()}
    flags = {name: pack_flags(right) for name, right in correct.items()}
    return OperatingPoint(codec, setting, **measure(files, pixels, payloads), accuracy=accuracy, seed=seed,
                          per_image_payload=pack_counts(payloads), per_image_correct=flags)  # fmt: skip


def evaluate_codecs(
    specs: Sequence[CodecSpec],
    images: Sequence[np.ndarray],
    labels: torch.Tensor,
    models: dict[str, nn.Module],
    subsampling: str = "4:4:4",
    qualities: Sequence[int] = DEFAULT_QUALITIES,
    scales: Sequence[float] = DEFAULT_SCALES,
    sensitivity: tuple[torch.Tensor, torch.Tensor] | None = None,
    probabilistic_seeds: Sequence[int] = (),
    probabilistic_hardness: float | None = None,
    guided_thresholds: Sequence[float] = DEFAULT_GUIDED_THRESHOLDS,
    workers: int = 1,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[OperatingPoint]:
    """Every operating point of every codec: real files, real decodes, accuracy of every model.

    Args:
        images: uint8 ``(H, W)`` or ``(H, W, 3)`` arrays (the test set).
        labels: ``(N,)`` int64 class labels.
        models: name -> classifier taking ``(B, C, H, W)`` in [0, 1].
        probabilistic_seeds: for ``learned`` codecs, also write each tables file by
            probabilistic quantization once per seed (hardness read from the JSON unless
            ``probabilistic_hardness`` is given).
        guided_thresholds: ``max_kl`` values (nats) of the ``guided`` codecs, guided by the
            first of ``models`` (its ladder: the sensitivity tables of ``sensitivity``).
    """
    if len(images) == 0:
        raise ValueError("images: empty test set")
    pixels = [a.shape[0] * a.shape[1] for a in images]
    points: list[OperatingPoint] = []
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(process_pool(workers)) if workers > 1 else 1

        def point(codec: str, setting: float | str, files: list[bytes], seed: int | None = None,
                  decoded: torch.Tensor | None = None, payloads: list[int] | None = None
                  ) -> OperatingPoint:  # fmt: skip
            return measure_point(codec, setting, files, pixels, labels, models, device, seed, decoded, payloads)

        for spec in specs:
            if spec.kind == "edic":
                from jpegdl.evaluate.codecs import edic_files
                from jpegdl.evaluate.edic_points import edic_round_trip

                for codec in edic_files(spec.path):
                    files, payloads, decoded = edic_round_trip(codec, images, device, progress)
                    setting = codec.parent.name if codec.name == "codec.pt" else codec.stem
                    points.append(point(spec.name, setting, files, decoded=decoded, payloads=payloads))
                continue
            if spec.kind in GUIDED_KINDS:
                points += _guided(spec, images, labels, models, sensitivity, guided_thresholds, subsampling, device,
                                  progress)  # fmt: skip
                continue
            for setting, encoder, tables in codec_settings(spec, subsampling, qualities, scales, sensitivity):
                files = encode_many(images, encoder, pool, f"{spec.name} {setting}", progress)
                points.append(point(spec.name, setting, files))
                if spec.kind != "learned" or not probabilistic_seeds:
                    continue
                source = Path(spec.path) / f"{setting}.json" if Path(spec.path).is_dir() else spec.path
                hardness = probabilistic_hardness if probabilistic_hardness is not None else load_hardness(source)
                for seed in probabilistic_seeds:
                    files = probabilistic_files(images, tables, hardness, subsampling, seed)
                    points.append(point(f"{spec.name}+prob", setting, files, seed))
    return points


def _guided(spec: CodecSpec, images: Sequence[np.ndarray], labels: torch.Tensor, models: dict[str, nn.Module],
            sensitivity: tuple[torch.Tensor, torch.Tensor] | None, thresholds: Sequence[float], subsampling: str,
            device: torch.device | str, progress: bool) -> list[OperatingPoint]:  # fmt: skip
    """The points of a ``guided`` / ``guided-ijg`` codec, guided by the first model."""
    from jpegdl.evaluate.guided_points import guided_points
    from jpegdl.j4d.guided import quality_ladder, sensitivity_ladder

    if spec.kind == "guided-ijg":
        ladder = quality_ladder()
    elif sensitivity is None:
        raise ValueError("sensitivity: the 'guided' codec needs the model's frequency sensitivity (its ladder)")
    else:
        ladder = sensitivity_ladder(sensitivity)
    guide = next(iter(models.values()))
    return guided_points(guide, ladder, thresholds, images, labels, models, spec.name, subsampling, device, progress)

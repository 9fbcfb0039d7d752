"""Rate-accuracy evaluation with real JPEG files: one entry point, :func:`rate_accuracy`, used by
``jpegdl rate-accuracy``, the demo and the benchmarks.

The work is split in three modules: :mod:`jpegdl.evaluate.codecs` (which files to write),
:mod:`jpegdl.evaluate.measurement` (write, decode, classify, count bytes) and
:mod:`jpegdl.evaluate.report` (curves, BD metrics, text table). Their names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from jpegdl.evaluate.bootstrap import bootstrap_bd_rates, format_bootstrap
from jpegdl.evaluate.codecs import (
    CODEC_KINDS,
    DEFAULT_GUIDED_THRESHOLDS,
    DEFAULT_QUALITIES,
    DEFAULT_SCALES,
    GUIDED_KINDS,
    CodecSpec,
    codec_settings,
    learned_files,
    parse_codecs,
    probabilistic_files,
)
from jpegdl.evaluate.measurement import (
    OperatingPoint,
    classify,
    correct_per_image,
    decode_files,
    encode_many,
    evaluate_codecs,
    measure,
)
from jpegdl.evaluate.report import compare, curve_of, format_comparisons
from jpegdl.files import to_uint8
from jpegdl.tables.sensitivity import frequency_sensitivity

__all__ = [
    "CODEC_KINDS", "DEFAULT_GUIDED_THRESHOLDS", "DEFAULT_QUALITIES", "DEFAULT_SCALES", "GUIDED_KINDS", "CodecSpec",
    "OperatingPoint", "bootstrap_bd_rates", "classify", "codec_settings", "compare", "curve_of", "decode_files",
    "encode_many", "evaluate_codecs", "format_bootstrap", "format_comparisons", "learned_files", "measure",
    "parse_codecs", "probabilistic_files", "rate_accuracy",
]  # fmt: skip


def rate_accuracy(
    models: dict[str, nn.Module],
    dataset: Dataset,
    codecs: Sequence[CodecSpec] | str,
    *,
    subsampling: str = "4:4:4",
    qualities: Sequence[int] = DEFAULT_QUALITIES,
    scales: Sequence[float] = DEFAULT_SCALES,
    sensitivity_data: Dataset | None = None,
    sensitivity_images: int = 10_000,
    probabilistic_seeds: Sequence[int] = (),
    guided_thresholds: Sequence[float] = DEFAULT_GUIDED_THRESHOLDS,
    limit: int | None = None,
    reference: str = "ijg",
    bootstrap_rounds: int = 1000,
    workers: int = 1,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict:
    """Accuracy of ``models`` on ``dataset`` written as real JPEG files by every codec setting.

    Args:
        models: name -> classifier taking ``(B, C, H, W)`` images in [0, 1].
        dataset: the test set, items ``(image (C, H, W) float in [0, 1], label)``.
        codecs: :class:`CodecSpec` list or the CLI's comma list (``"ijg,mozjpeg,sensitivity,learned:DIR"``).
        sensitivity_data: training images for the ``sensitivity`` and ``guided`` codecs' ``s_m``
            (needed only with them; several models: their mean sensitivity, one curve for all).
        guided_thresholds: ``max_kl`` (nats) of the ``guided`` codecs' points (guided by the first model).
        limit: use the first ``limit`` test images.
        reference: the codec BD metrics are computed against (when present).
        bootstrap_rounds: paired bootstrap resamples of the test images for the payload BD-rate's
            95 % interval (:func:`jpegdl.evaluate.bootstrap.bootstrap_bd_rates`); 0: none.

    Returns:
        ``{"test_images", "subsampling", "uncompressed_accuracy", "points", "comparisons", "bootstrap"}``
        (``points``: :class:`OperatingPoint` dicts; ``bootstrap``: interval rows, empty without one).
    """
    specs = parse_codecs(codecs) if isinstance(codecs, str) else list(codecs)
    if not models:
        raise ValueError("models: expected at least one model")
    count = len(dataset) if limit is None else min(limit, len(dataset))
    if count == 0:
        raise ValueError("dataset: no test images")
    items = [dataset[i] for i in range(count)]
    images = [item[0] for item in items]
    labels = torch.tensor([int(item[1]) for item in items])
    for model in models.values():
        model.to(device).eval()
    if bootstrap_rounds < 0:
        raise ValueError(f"bootstrap_rounds: expected >= 0, got {bootstrap_rounds}")
    clean_correct = correct_per_image(models, torch.stack(images), labels, device=device)
    clean = {name: float(right.mean()) for name, right in clean_correct.items()}
    sensitivity = None
    if any(s.kind in ("sensitivity", "guided") for s in specs):
        if sensitivity_data is None:
            raise ValueError("sensitivity_data: the 'sensitivity' and 'guided' codecs need training images")
        subset = Subset(sensitivity_data, range(min(len(sensitivity_data), sensitivity_images)))
        sensitivity = frequency_sensitivity(list(models.values()), DataLoader(subset, batch_size=256), subsampling,
                                            None, device)  # fmt: skip
    points = evaluate_codecs(specs, [to_uint8(i) for i in images], labels, models, subsampling, qualities, scales,
                             sensitivity, probabilistic_seeds, guided_thresholds=guided_thresholds,
                             workers=workers, device=device,
                             progress=progress)  # fmt: skip
    records = [p.to_dict() for p in points]
    has_reference = any(r["codec"] == reference for r in records)
    comparisons = compare(records, clean, reference) if has_reference else []
    intervals = []
    if has_reference and bootstrap_rounds:
        pixels = [image.shape[-2] * image.shape[-1] for image in images]
        intervals = bootstrap_bd_rates(records, clean_correct, pixels, reference, rounds=bootstrap_rounds)
    return {"test_images": count, "subsampling": subsampling, "uncompressed_accuracy": clean, "points": records,
            "comparisons": comparisons, "bootstrap": intervals}  # fmt: skip

"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer 0..100, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected an integer 0..100, got {value}")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def load_runs(
    paths: Sequence[str], dataset: str | None, strip_jpeg: bool = True, label_by: str = "model"
) -> tuple[dict, dict, str]:
    """Frozen classifiers from run folders or checkpoints, their configs, and their common dataset.

    Labels are the model names (``label_by="model"``; the run folder's name is added when two
    runs share an architecture) or the run folders' names (``"folder"``). All runs must share one
    dataset, unless ``dataset`` names the one to use.
    """
    from jpegdl.runs import load_classifier

    models, configs = {}, {}
    for path in paths:
        model, config = load_classifier(path, strip_jpeg=strip_jpeg)
        folder = Path(path).resolve()
        if label_by == "model":
            taken = {k.split(":")[0] for k in models}
            label = f"{config.model}:{folder.name}" if config.model in taken else config.model
        else:
            label = folder.name if folder.name not in models else f"{folder.parent.name}/{folder.name}"
        models[label], configs[label] = model, config
    datasets = {config.dataset for config in configs.values()}
    chosen = dataset or (datasets.pop() if len(datasets) == 1 else None)
    if chosen is None:
        raise ValueError(f"model: the runs were trained on different datasets {sorted(datasets)}; pass --dataset")
    return models, configs, chosen


def load_models(paths: Sequence[str], dataset: str | None) -> tuple[dict, str]:
    """:func:`load_runs` without the configs (classifiers without their JPEG layers)."""
    models, _, chosen = load_runs(paths, dataset)
    return models, chosen


def pick_device(name: str):
    """``--device`` (auto, cpu, cuda[:N]) as a torch device; a clear error when CUDA is absent."""
    from jpegdl.utils import resolve_device

    return resolve_device(name)

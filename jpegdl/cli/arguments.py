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


def load_models(paths: Sequence[str], dataset: str | None) -> tuple[dict, str]:
    """Frozen classifiers from run folders; all must share one dataset (``dataset`` if given)."""
    from jpegdl.train import load_classifier

    models, datasets = {}, set()
    for path in paths:
        model, config = load_classifier(path)
        taken = {k.split(":")[0] for k in models}
        models[f"{config.model}:{Path(path).name}" if config.model in taken else config.model] = model
        datasets.add(config.dataset)
    chosen = dataset or (datasets.pop() if len(datasets) == 1 else None)
    if chosen is None:
        raise ValueError(f"model: the runs were trained on different datasets {sorted(datasets)}; pass --dataset")
    return models, chosen


def pick_device(name: str):
    from jpegdl.train.distributed import DistContext, resolve_device

    return resolve_device(name, DistContext())

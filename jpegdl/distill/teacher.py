"""Frozen teachers: a trained run, or (RCO) the route of checkpoints it saved while training."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from jpegdl.train.checkpoint import load_checkpoint
from jpegdl.train.load import load_classifier

ANCHORS = "anchors"
_ANCHOR_NAME = re.compile(r"epoch(\d+)\.pt$")


def anchor_file(run: str | Path, epoch: int) -> Path:
    """Where ``jpegdl train --save-every`` keeps the checkpoint after ``epoch`` (1-based)."""
    return Path(run) / ANCHORS / f"epoch{epoch:04d}.pt"


def load_teacher(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """A run's full model (JPEG layer included, if it has one), frozen, in eval mode, on ``device``.

    Raises:
        ValueError: no checkpoint at ``path`` (names the argument ``teacher``).
    """
    try:
        model, _ = load_classifier(path, strip_jpeg=False)
    except ValueError as err:
        raise ValueError(f"teacher: {str(err).removeprefix('model: ')}") from None
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.to(device).eval()


def route(run: str | Path) -> list[Path]:
    """RCO's anchors: the run's saved checkpoints in training order, ending with the converged
    teacher (``last.pt``). Raises ``ValueError`` when the run saved none."""
    run = Path(run)
    found = sorted(
        (int(m.group(1)), p) for p in (run / ANCHORS).glob("epoch*.pt") if (m := _ANCHOR_NAME.search(p.name))
    )
    if not found:
        raise ValueError(
            f"teacher: {str(run)!r} has no {ANCHORS}/epoch*.pt checkpoints; RCO needs a teacher trained with"
            " --save-every N"
        )
    anchors = [path for _, path in found]
    last = run / "last.pt"
    if last.is_file():
        final_epoch = int(load_checkpoint(last)["epoch"]) + 1
        if final_epoch != found[-1][0]:
            anchors.append(last)
    return anchors


def stage_of(epoch: int, epochs: int, anchors: int) -> int:
    """Equal-interval RCO schedule: the anchor index (0-based) for ``epoch`` of ``epochs``."""
    return min(anchors - 1, epoch * anchors // epochs)

"""Operating points of the model-guided encoder (:mod:`jpegdl.j4d.guided`): one per threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from jpegdl.evaluate.measurement import OperatingPoint, measure_point
from jpegdl.files.arrays import to_tensor
from jpegdl.j4d.guided import guided_files, guided_levels
from jpegdl.jpeg.tables import QuantTables


def guided_points(
    guide: nn.Module,
    ladder: Sequence[QuantTables],
    thresholds: Sequence[float],
    images: Sequence[np.ndarray],
    labels: torch.Tensor,
    models: dict[str, nn.Module],
    codec: str = "guided",
    subsampling: str = "4:4:4",
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> list[OperatingPoint]:
    """Real files written at the levels ``guide`` chooses for each threshold, classified by every model.

    Args:
        guide: the frozen model at the sender.
        ladder: tables, finest first.
        thresholds: ``max_kl`` values (nats); one point each, ``setting`` = the threshold.
        images: uint8 ``(H, W)`` or ``(H, W, 3)`` arrays of one size (the test set).
        models: name -> classifier at the receiver (``guide`` itself, and others to measure transfer).
    """
    if len(images) == 0:
        raise ValueError("images: empty test set")
    if len({image.shape for image in images}) > 1:
        raise ValueError("images: the guided codec evaluates a test set of one image size")
    pixels = torch.cat([to_tensor(image) for image in images])
    levels = guided_levels(guide, pixels, ladder, list(thresholds), subsampling, device=device, progress=progress)
    counts = [a.shape[0] * a.shape[1] for a in images]
    points = []
    for threshold, chosen in zip(thresholds, levels, strict=True):
        files = guided_files(images, ladder, chosen, subsampling)
        points.append(measure_point(codec, float(threshold), files, counts, labels, models, device))
    return points

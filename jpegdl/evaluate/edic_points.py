"""Operating points of a learned EDIC codec on a labelled test set: real ``.edic`` byte strings,
decoded by the codec's own decoder, rounded to 8 bits as a saved PNG would be, and classified.

Gray images go through the codec as RGB (the gray channel three times) and come back as the
mean of the decoded channels (:func:`jpegdl.edic.task.classifier_view`). ``payload_bpp`` counts
the entropy-coded strings alone (no header), comparable with a JPEG file's scan data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from jpegdl.files.arrays import to_tensor


def edic_round_trip(codec: str | Path, images: Sequence[np.ndarray], device: torch.device | str = "cpu",
                    progress: bool = True) -> tuple[list[bytes], list[int], torch.Tensor]:  # fmt: skip
    """Encode and decode every uint8 image with the codec saved at ``codec``.

    Returns:
        ``(files, payload byte counts, decoded (N, C, H, W) float in [0, 1] on 8-bit levels)``;
        the images must share one size and channel count.
    """
    from jpegdl.edic import decode_image, encode_image, model_id, unpack
    from jpegdl.edic.checkpoint import load_codec
    from jpegdl.edic.task import classifier_view

    model, config = load_codec(codec, device)
    identity = model_id(model, config)
    files, payloads, decoded = [], [], []
    for array in tqdm(images, desc=f"edic {Path(codec).parent.name}", leave=False, disable=not progress,
                      unit="img"):  # fmt: skip
        pixels = to_tensor(array)  # (1, C, H, W) float in [0, 1]
        channels, height, width = pixels.shape[1:]
        data = encode_image(model, config, pixels.expand(-1, 3, -1, -1)[0] if channels == 1 else pixels[0], identity)
        files.append(data)
        payloads.append(sum(len(s) for s in unpack(data).strings))
        image = decode_image(model, config, data, identity, trusted=True)
        seen = classifier_view((image * 255).round() / 255, (height, width), channels)
        decoded.append(((seen * 255).round() / 255).cpu())  # the 8-bit image a decoder would save
    return files, payloads, torch.cat(decoded)

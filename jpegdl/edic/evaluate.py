"""Rate-distortion points of a codec on whole images, from real bitstreams, with coding times."""

from __future__ import annotations

import time

import torch
from compressai.models import CompressionModel
from torch import Tensor

from jpegdl.edic.codec import check_image, decode_image, encode_image, model_ids
from jpegdl.edic.model import CodecConfig
from jpegdl.edic.objective import ms_ssim, psnr
from jpegdl.edic.precision import resolve_precision
from jpegdl.edic.refine import RefineSettings


def quality_point(original: Tensor, decoded: Tensor, num_bytes: int) -> dict:
    """bpp (from real bytes), PSNR (8-bit RGB) and MS-SSIM of one decoded image ``(1, 3, H, W)``."""
    height, width = original.shape[-2:]
    point = {"bytes": num_bytes, "bpp": num_bytes * 8 / (height * width), "psnr": psnr(original, decoded)}
    point["ms_ssim"] = float(ms_ssim(original, (decoded * 255).round() / 255)) if min(height, width) > 96 else None
    return point


@torch.no_grad()
def evaluate_codec(model: CompressionModel, config: CodecConfig, images: dict[str, Tensor], rate: int = 0,
                   refine: RefineSettings | None = None, precision: str = "auto",
                   compare_float32: bool = False) -> dict:  # fmt: skip
    """Encode and decode each image (float ``(3, H, W)`` in [0, 1]) at rate index ``rate``; per-image points
    and their means. ``refine``: encode with the encoder-side latent search (:mod:`jpegdl.edic.refine`).
    ``precision``: of the decoder's reconstruction (:mod:`jpegdl.edic.precision`). ``compare_float32``:
    where that precision is not float32, also decode each stream in float32 (``psnr_float32``).

    Times are wall seconds for ``encode_image`` and ``decode_image`` on the model's device, after one
    warm-up run on the first image.
    """
    if not images:
        raise ValueError("images: expected at least one image")
    model.eval()
    device = next(model.parameters()).device
    reduced = resolve_precision(precision, device) != torch.float32
    reduced = reduced and compare_float32 and config.architecture == "edic"
    ids = model_ids(model, config)
    identity = ids[rate]
    first = check_image(next(iter(images.values())))
    warm = encode_image(model, config, first, identity, rate)
    decode_image(model, config, warm, ids, trusted=True, precision=precision)  # warm-up
    per_image = {}
    for name, image in images.items():
        image = check_image(image, name)
        start = time.perf_counter()
        data = encode_image(model, config, image, identity, rate, refine=refine)
        encoded = time.perf_counter()
        decoded = decode_image(model, config, data, ids, trusted=True, precision=precision).cpu()
        done = time.perf_counter()
        per_image[name] = {**quality_point(image, decoded, len(data)), "encode_s": encoded - start,
                           "decode_s": done - encoded}
        if reduced:
            exact = decode_image(model, config, data, ids, trusted=True, precision="float32").cpu()
            per_image[name]["psnr_float32"] = psnr(image, exact)
    keys = ("bpp", "psnr", "ms_ssim", "encode_s", "decode_s") + (("psnr_float32",) if reduced else ())
    mean = {k: sum(p[k] for p in per_image.values()) / len(per_image)
            for k in keys if all(p[k] is not None for p in per_image.values())}
    return {"images": per_image, "mean": mean}

"""Rate-distortion objective and image quality metrics (CompressAI's conventions)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

METRICS = ("mse", "ms-ssim")


def bits_per_pixel(likelihoods: dict[str, Tensor], num_pixels: int) -> Tensor:
    """Estimated rate ``sum(-log2 p) / pixels`` from a codec's forward pass."""
    return sum(p.log().sum() for p in likelihoods.values()) / (-math.log(2) * num_pixels)


def ms_ssim(a: Tensor, b: Tensor) -> Tensor:
    """MS-SSIM of images ``(B, 3, H, W)`` in [0, 1] (pytorch_msssim, 5 scales).

    The Gaussian window is 11 pixels when the short side exceeds 160, else 7 (down to 97 pixels), so
    that training crops of 128 pixels still have 5 scales.
    """
    from pytorch_msssim import ms_ssim as _ms_ssim

    side = min(a.shape[-2:])
    if side <= 96:
        raise ValueError(f"image: MS-SSIM needs sides > 96 pixels, got {side}")
    return _ms_ssim(a, b, data_range=1.0, win_size=11 if side > 160 else 7)


def psnr(a: Tensor, b: Tensor) -> float:
    """PSNR in dB of images in [0, 1] (both quantized to 8 bits first, as a saved file would be)."""
    mse = torch.mean(((a * 255).round() - (b * 255).round()) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


def per_sample_bits_per_pixel(likelihoods: dict[str, Tensor], pixels_per_sample: int) -> Tensor:
    """Estimated rate of each sample ``(B,)``: ``sum(-log2 p)`` over its elements / its pixels."""
    return sum(p.log().flatten(1).sum(1) for p in likelihoods.values()) / (-math.log(2) * pixels_per_sample)


def rate_distortion(output: dict, target: Tensor, lmbda: float | Tensor, metric: str = "mse") -> dict[str, Tensor]:
    """CompressAI's loss: ``bpp + lmbda * 255**2 * MSE`` or ``bpp + lmbda * (1 - MS-SSIM)``.

    ``lmbda`` is one number, or one per sample (float ``(B,)``, variable-rate training: the loss is then the
    batch mean of each sample's own ``bpp + lmbda * 255**2 * MSE``; MSE metric only).

    Returns ``{"loss", "bpp", "distortion"}`` (scalars; distortion is MSE on [0, 1] or 1 - MS-SSIM).
    """
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}")
    batch, _, height, width = target.shape
    if isinstance(lmbda, Tensor):
        if metric != "mse" or lmbda.shape != (batch,):
            raise ValueError(f"lmbda: per-sample weights need metric 'mse' and shape ({batch},), got {metric!r}, "
                             f"{tuple(lmbda.shape)}")  # fmt: skip
        bpp = per_sample_bits_per_pixel(output["likelihoods"], height * width)
        mse = ((output["x_hat"] - target) ** 2).flatten(1).mean(1)
        return {"loss": (bpp + lmbda * 255**2 * mse).mean(), "bpp": bpp.mean(), "distortion": mse.mean()}
    bpp = bits_per_pixel(output["likelihoods"], batch * height * width)
    if metric == "mse":
        distortion = torch.mean((output["x_hat"] - target) ** 2)
        loss = bpp + lmbda * 255**2 * distortion
    else:
        distortion = 1 - ms_ssim(output["x_hat"].clamp(0, 1), target)
        loss = bpp + lmbda * distortion
    return {"loss": loss, "bpp": bpp, "distortion": distortion}

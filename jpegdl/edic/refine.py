"""Encoder-side latent refinement: for one image, search the latents that the fixed decoder turns into the
best rate-distortion trade-off, instead of taking the analysis transform's one-shot guess.

A trained analysis transform is an amortized guess: one network that must serve every image. Optimizing
the latents ``y`` and hyper-latents ``z`` of the image at hand by gradient descent on the codec's own
objective ``bpp + lambda * 255**2 * MSE`` closes part of that "amortization gap" (Campos et al. 2019,
"Content adaptive optimization for neural image compression"; Yang et al. 2020). The decoder, the
``.edic`` format and the decode time are unchanged: any decoder of the codec reads the files. Only
encoding is slower: each step is one forward and backward pass through the hyper-synthesis and synthesis.

Training-time conventions are kept: the rate is taken of latents with uniform noise, the synthesis and the
hyper-synthesis see them rounded (straight-through gradient), as the decoder will.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from jpegdl.edic.mixture import LIKELIHOOD_BOUND, mixture_likelihood


@dataclass(frozen=True)
class RefineSettings:
    """How hard the encoder searches: ``steps`` Adam steps at ``learning_rate`` (0 steps: no search).
    ``seed`` seeds the rate noise, so the same image and settings give the same file."""

    steps: int = 0
    learning_rate: float = 0.03
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or not 0 <= self.steps <= 100_000:
            raise ValueError(f"steps: expected an integer 0..100000, got {self.steps!r}")
        rate = self.learning_rate
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < rate <= 1:
            raise ValueError(f"learning_rate: expected a number in (0, 1], got {self.learning_rate!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed: expected an integer 0..2**63-1, got {self.seed!r}")


def _noise(like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype) - 0.5


def _rounded(value: Tensor, offset: Tensor | float = 0.0) -> Tensor:
    """``round(value - offset) + offset`` forward, identity backward (straight-through)."""
    return value + (torch.round(value - offset) + offset - value).detach()


def _hyper_likelihoods(bottleneck, z_noisy: Tensor) -> Tensor:
    """Likelihoods of noisy hyper-latents ``(B, N, h, w)`` under the factorized prior (any layout)."""
    values = z_noisy.transpose(0, 1).reshape(z_noisy.shape[1], 1, -1)
    result = bottleneck._likelihood(values)
    return result[0] if isinstance(result, tuple) else result


def relaxed_cost(model, image: Tensor, y: Tensor, z: Tensor, gains, lmbda: float,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """Differentiable ``(loss, bpp, mse)`` of latents for one image.

    Args:
        model: an EDIC codec (``jpegdl.edic.model.EDIC``) in eval mode.
        image: float ``(1, 3, H, W)`` in [0, 1], the unpadded target.
        y: float ``(1, M, h, w)`` latents of the padded image, after the rate's gain.
        z: float ``(1, N, h/4, w/4)`` hyper-latents.
        gains: the rate's ``(gain, inverse gain)`` or None (single-rate codec).
        generator: draws the uniform rate noise (on the latents' device).
    """
    height, width = image.shape[-2:]
    bottleneck = model.entropy_bottleneck
    z_likelihoods = _hyper_likelihoods(bottleneck, z + _noise(z, generator))
    z_hat = _rounded(z, bottleneck._get_medians().detach())
    means, scales, weights = model.mixture(z_hat)
    y_likelihoods = mixture_likelihood(y + _noise(y, generator), means, scales, weights)
    bits = -sum(p.clamp_min(LIKELIHOOD_BOUND).log().sum() for p in (y_likelihoods, z_likelihoods))
    bpp = bits / (math.log(2) * height * width)
    reconstruction = model.synthesis(_rounded(y), gains)[..., :height, :width]
    mse = torch.mean((reconstruction - image) ** 2)
    return bpp + lmbda * 255**2 * mse, bpp, mse


def refine_latents(model, padded: Tensor, image: Tensor, rate: int | None, lmbda: float,
                   settings: RefineSettings, callback: Callable[[int, Tensor, Tensor], None] | None = None,
                   ) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Latents of one image after ``settings.steps`` Adam steps on :func:`relaxed_cost`.

    Args:
        model: an EDIC codec in eval mode (its weights are not changed and get no gradients).
        padded: float ``(1, 3, H', W')`` in [0, 1], ``image`` padded to the codec's stride.
        image: float ``(1, 3, H, W)`` in [0, 1], the region the distortion is measured on.
        rate: the rate index of a variable-rate codec (None for a single-rate one).
        lmbda: the rate-distortion weight of that rate.
        callback: called as ``callback(step, y, z)`` before the first step (0) and after each step, with
            detached latents (to score the search as it goes; must not modify them).

    Returns:
        ``(y, z)``: float latents ``(1, M, H'/16, W'/16)`` and hyper-latents ``(1, N, H'/64, W'/64)``,
        to be rounded and entropy coded by ``model.compress_latents``.
    """
    with torch.inference_mode(False), torch.enable_grad():  # callers may be in inference mode or no_grad
        return _search(model, padded.clone(), image.clone(), rate, lmbda, settings, callback)


def _search(model, padded: Tensor, image: Tensor, rate: int | None, lmbda: float, settings: RefineSettings,
            callback: Callable[[int, Tensor, Tensor], None] | None) -> tuple[Tensor, Tensor]:  # fmt: skip
    gains = model._gains(rate, 1, padded.device) if model.config.lmbdas else None
    with torch.no_grad():
        y = model.analysis(padded, gains)
        z = model.h_a(y)
    if callback is not None:
        callback(0, y, z)
    if settings.steps == 0:
        return y, z
    y, z = y.clone().requires_grad_(True), z.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y, z], lr=settings.learning_rate)
    generator = torch.Generator(device=padded.device)
    generator.manual_seed(settings.seed)
    for step in range(settings.steps):
        loss, _, _ = relaxed_cost(model, image, y, z, gains, lmbda, generator)
        y.grad, z.grad = torch.autograd.grad(loss, [y, z])
        optimizer.step()
        if callback is not None:
            callback(step + 1, y.detach(), z.detach())
    return y.detach(), z.detach()

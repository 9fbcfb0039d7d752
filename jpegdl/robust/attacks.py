"""White-box L-infinity attacks (FGSM, PGD) on classifiers that take images in [0, 1].

Two interchangeable backends craft the same attacks:

- ``"torchattacks"`` (default): the well-kept library, when installed (``jpegdl[robust]``);
- ``"native"``: the few lines of FGSM/PGD below, used as the reference in the tests and as
  the fallback without the library.

Both treat the model as a black box ``f: (B, C, H, W) in [0, 1] -> (B, classes) logits`` and
keep every adversarial image inside the epsilon ball and inside [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

ATTACKS = ("fgsm", "pgd")
BACKENDS = ("torchattacks", "native")


def check_epsilon(eps: float, name: str = "eps") -> float:
    """``eps`` as a float, or ``ValueError`` unless it is finite and in [0, 1] (pixel scale)."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number in [0, 1] (e.g. 4/255), got {eps!r}") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"{name}: expected a number in [0, 1] on the [0, 1] pixel scale (e.g. 4/255), got {eps!r}")
    return value


def parse_epsilons(text: str) -> list[float]:
    """``"0,1/255,2/255,0.01"`` -> sorted unique floats in [0, 1]; fractions are allowed."""
    values = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            value = float(Fraction(item))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"eps: expected numbers or fractions like 4/255, got {item!r}") from None
        values.add(check_epsilon(value))
    if not values:
        raise ValueError(f"eps: expected at least one value, got {text!r}")
    return sorted(values)


@dataclass(frozen=True)
class AttackSettings:
    """One attack at one strength.

    Attributes:
        name: ``"fgsm"`` or ``"pgd"``.
        eps: L-infinity radius on the [0, 1] pixel scale.
        steps: PGD iterations (JPEG-DL's protocol: 5).
        step_size: PGD step; ``None`` means ``2.5 * eps / steps`` (Madry et al.; JPEG-DL's eps/2).
        random_start: PGD starts from a uniform point of the ball.
        backend: ``"torchattacks"`` or ``"native"``.
    """

    name: str
    eps: float
    steps: int = 5
    step_size: float | None = None
    random_start: bool = True
    backend: str = "torchattacks"

    def __post_init__(self) -> None:
        if self.name not in ATTACKS:
            raise ValueError(f"attack: expected one of {ATTACKS}, got {self.name!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {self.backend!r}")
        check_epsilon(self.eps)
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps: expected an integer >= 1, got {self.steps!r}")
        if self.step_size is not None:
            check_epsilon(self.step_size, "step_size")

    @property
    def pgd_step(self) -> float:
        return self.step_size if self.step_size is not None else 2.5 * self.eps / self.steps


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method: ``clip(x + eps * sign(grad_x CE(f(x), y)), 0, 1)``.

    Args:
        images: ``(B, C, H, W)`` float in [0, 1].
        labels: ``(B,)`` int64 class indices.
    Returns: adversarial images, same shape and dtype, detached.
    """
    eps = check_epsilon(eps)
    if eps == 0:
        return images.detach().clone()
    return (images + eps * _loss_gradient(model, images, labels).sign()).clamp(0, 1).detach()


def pgd(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int = 5,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient descent on the cross-entropy in the L-infinity ball (last iterate).

    Args: as ``fgsm``; ``step_size`` defaults to ``2.5 * eps / steps``; ``generator`` seeds
    the random start (on the images' device).
    """
    settings = AttackSettings("pgd", eps, steps, step_size, random_start, backend="native")
    if settings.eps == 0:
        return images.detach().clone()
    original = images.detach()
    adversarial = original.clone()
    if random_start:
        noise = torch.rand(original.shape, generator=generator, device=original.device, dtype=original.dtype)
        adversarial = (adversarial + (2 * noise - 1) * settings.eps).clamp(0, 1)
    for _ in range(steps):
        adversarial = adversarial + settings.pgd_step * _loss_gradient(model, adversarial, labels).sign()
        adversarial = torch.min(torch.max(adversarial, original - settings.eps), original + settings.eps).clamp(0, 1)
    return adversarial.detach()


def craft(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: AttackSettings, seed: int = 0
) -> torch.Tensor:
    """Adversarial images for ``settings`` with its backend; reproducible for a given ``seed``."""
    if settings.backend == "native":
        if settings.name == "fgsm":
            return fgsm(model, images, labels, settings.eps)
        generator = torch.Generator(device=images.device).manual_seed(seed)
        return pgd(model, images, labels, settings.eps, settings.steps, settings.step_size,
                   settings.random_start, generator)  # fmt: skip
    attack = _torchattacks_attack(model, settings)
    devices = [images.device] if images.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return attack(images, labels).detach()


def _loss_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    images = images.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(images), labels)
        (gradient,) = torch.autograd.grad(loss, images)
    return gradient


def _torchattacks_attack(model: nn.Module, settings: AttackSettings):
    try:
        import torchattacks
    except ImportError:
        raise ValueError(
            "backend: torchattacks is not installed; pip install 'jpegdl[robust]' or use the 'native' backend"
        ) from None
    if settings.name == "fgsm":
        return torchattacks.FGSM(model, eps=settings.eps)
    return torchattacks.PGD(
        model, eps=settings.eps, alpha=settings.pgd_step, steps=settings.steps, random_start=settings.random_start
    )


def settings_for(
    name: str, epsilons: Sequence[float], steps: int = 5, step_size: float | None = None,
    random_start: bool = True, backend: str = "torchattacks",
) -> list[AttackSettings]:  # fmt: skip
    """One ``AttackSettings`` per epsilon (validated)."""
    return [AttackSettings(name, float(eps), steps, step_size, random_start, backend) for eps in epsilons]

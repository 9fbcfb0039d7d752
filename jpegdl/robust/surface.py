"""Which function an attack differentiates, for a model with or without a JPEG layer.

A quantizing front end can hide gradients, so a fair robustness check attacks it several ways:

- ``"layer"``: white box through the layer as it runs (soft quantizer, or for the ``hard``
  layer, exact rounding with a straight-through gradient);
- ``"bpda"``: the layer's exact forward pass with the identity's gradient (Athalye et al.'s
  backward-pass differentiable approximation);
- ``"classifier"``: the classifier alone, without the layer (the attack does not know the
  layer is there); the images are then evaluated with the layer.

Models without a JPEG layer give the same function for all three.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from jpegdl.jpeg.ste import straight_through
from jpegdl.layers import MODES, JPEGModel

GRADIENTS = ("layer", "bpda", "classifier")


class _IdentityGradient(nn.Module):
    """``layer(x)`` forward, the identity's gradient backward."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            processed = self.layer(images)
        return straight_through(images, processed)


def attack_surface(model: nn.Module, gradient: str = "layer") -> nn.Module:
    """The module the attack differentiates (shares weights with ``model``; eval mode).

    Args:
        model: a classifier taking ``(B, C, H, W)`` images in [0, 1]; a ``JPEGModel`` for JPEG-DL.
        gradient: one of ``GRADIENTS``.
    """
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient: expected one of {GRADIENTS}, got {gradient!r}")
    if not isinstance(model, JPEGModel) or gradient == "layer":
        return model.eval()
    if gradient == "classifier":
        return nn.Sequential(model.normalize, model.model).eval()
    return JPEGModel(_IdentityGradient(model.jpeg), model.model, model.normalize).eval()


@contextmanager
def layer_mode(model: nn.Module, mode: str | None) -> Iterator[nn.Module]:
    """Run ``model``'s JPEG layer (if any) in ``mode`` (``soft``/``ste``/``hard``) inside the block."""
    if mode is not None and mode not in MODES:
        raise ValueError(f"layer_mode: expected one of {MODES}, got {mode!r}")
    if mode is None or not isinstance(model, JPEGModel):
        yield model
        return
    previous, model.jpeg.mode = model.jpeg.mode, mode
    try:
        yield model
    finally:
        model.jpeg.mode = previous

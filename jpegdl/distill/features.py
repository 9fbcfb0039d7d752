"""Penultimate features of any classifier, captured at the input of its last linear layer."""

from __future__ import annotations

import torch
from torch import nn


def classifier_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The last ``nn.Linear`` registered in ``model`` (the classification head of the zoo,
    torchvision and timm models). Raises ``ValueError`` when there is none."""
    heads = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not heads:
        raise ValueError(f"model: {model.__class__.__name__} has no nn.Linear head to take features from")
    return heads[-1]


class FeatureTap:
    """Records the ``(B, D)`` input of a model's head on every forward pass (a forward pre-hook).

    Usage: ``tap = FeatureTap(model); logits = model(x); features = tap.features``.
    """

    def __init__(self, model: nn.Module) -> None:
        self.name, head = classifier_head(model)
        self.features: torch.Tensor | None = None
        self._hook = head.register_forward_pre_hook(self._record)

    def _record(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.features = inputs[0].flatten(1)

    def take(self) -> torch.Tensor:
        """The features of the last forward pass (then forgotten, so stale ones are never reused)."""
        if self.features is None:
            raise RuntimeError("FeatureTap: no forward pass since the last take()")
        features, self.features = self.features, None
        return features

    def remove(self) -> None:
        self._hook.remove()

"""Accuracy under attack, per epsilon, for one model on a labelled image set."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from jpegdl.robust.attacks import AttackSettings, craft
from jpegdl.robust.surface import attack_surface, layer_mode


def robust_accuracy(
    model: nn.Module,
    data: Dataset,
    settings: Sequence[AttackSettings],
    gradient: str = "layer",
    mode: str | None = None,
    batch_size: int = 250,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Clean and attacked top-1 accuracy of ``model`` on ``data``.

    Args:
        model: classifier taking images in [0, 1] (a ``JPEGModel`` for JPEG-DL runs).
        data: ``(image (C, H, W) float in [0, 1], label)`` pairs.
        settings: one attack per epsilon (see ``attacks.settings_for``).
        gradient: how the attack sees a JPEG layer (``surface.GRADIENTS``).
        mode: JPEG layer mode during both the attack and the evaluation (``None``: as loaded).
        seed: base seed of the random starts (batch ``i`` uses ``seed + i``).

    Returns:
        ``{"images", "clean", "points": [{"eps", "robust", "adversarial"}]}`` where
        ``adversarial`` is the accuracy on the attacked images and ``robust`` counts an image
        only if both its clean and its attacked version are classified correctly (the clean
        image lies in every ball, so robust accuracy never exceeds clean accuracy).
    """
    if not settings:
        raise ValueError("settings: expected at least one attack")
    model = model.to(device).eval()
    loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    clean_correct = 0
    robust = [0] * len(settings)
    adversarial = [0] * len(settings)
    total = 0
    with layer_mode(model, mode):
        surface = attack_surface(model, gradient)
        bar = tqdm(total=len(loader) * len(settings), desc="attacks", disable=not progress, leave=False)
        for batch_index, (images, labels) in enumerate(loader):
            images, labels = images.to(device), labels.to(device)
            with torch.no_grad():
                correct = model(images).argmax(1) == labels
            clean_correct += int(correct.sum())
            total += len(labels)
            for k, attack in enumerate(settings):
                attacked = craft(surface, images, labels, attack, seed=seed + batch_index)
                with torch.no_grad():
                    still_right = model(attacked).argmax(1) == labels
                adversarial[k] += int(still_right.sum())
                robust[k] += int((still_right & correct).sum())
                bar.update()
        bar.close()
    return {
        "images": total,
        "clean": clean_correct / total,
        "points": [
            {"eps": attack.eps, "robust": robust[k] / total, "adversarial": adversarial[k] / total}
            for k, attack in enumerate(settings)
        ],
    }

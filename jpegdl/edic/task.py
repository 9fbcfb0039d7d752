"""EDIC for a frozen classifier (the DNN-oriented variant): the codec is trained on rate + a
task term (the classifier's cross-entropy on the reconstruction), beside or instead of pixel
distortion, on a labelled dataset such as Fashion-MNIST.

Small or grayscale images go through the codec as RGB padded to its stride: :func:`codec_view`
repeats a gray channel three times and replicates the last row/column; :func:`classifier_view`
crops the reconstruction back and averages the channels of a gray image. Rates are counted per
pixel of the original image, so they compare with JPEG files of the same images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jpegdl.edic.codec import pad_to_stride
from jpegdl.edic.objective import bits_per_pixel


def codec_view(images: Tensor) -> Tensor:
    """``(B, C, h, w)`` in [0, 1], C = 1 or 3 -> ``(B, 3, H, W)``, H and W padded to the codec's stride."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images: expected (B, 1 or 3, H, W), got {tuple(images.shape)}")
    return pad_to_stride(images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images)


def classifier_view(reconstruction: Tensor, size: tuple[int, int], channels: int) -> Tensor:
    """The codec's ``(B, 3, H, W)`` output -> ``(B, channels, h, w)`` in [0, 1], as the classifier sees it."""
    height, width = size
    image = reconstruction[..., :height, :width].clamp(0, 1)
    return image.mean(1, keepdim=True) if channels == 1 else image


class LabelledSampler:
    """Random batches of ``(images, labels)`` drawn with replacement from its own generator
    (whose state is saved for exact resume).

    Args:
        images: ``(N, C, h, w)`` float in [0, 1] (or uint8, divided by 255).
        labels: ``(N,)`` integer class labels.
    """

    def __init__(self, images: Tensor, labels: Tensor, seed: int = 0) -> None:
        if images.dim() != 4 or len(images) == 0:
            raise ValueError(f"images: expected a non-empty (N, C, H, W) tensor, got {tuple(images.shape)}")
        if labels.shape != (len(images),):
            raise ValueError(f"labels: expected shape ({len(images)},), got {tuple(labels.shape)}")
        self.images = images if images.is_floating_point() else images.float() / 255
        self.labels = labels.long()
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, batch_size: int) -> tuple[Tensor, Tensor]:
        picks = torch.randint(len(self.images), (batch_size,), generator=self.generator)
        return self.images[picks], self.labels[picks]

    def state(self) -> Tensor:
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        self.generator.set_state(state)


def rate_task(model: nn.Module, batch: tuple[Tensor, Tensor], classifier: nn.Module, task_weight: float,
              lmbda: float) -> dict[str, Tensor]:  # fmt: skip
    """``bpp + task_weight * CE(classifier(x_hat), y) + lmbda * 255^2 * MSE``, on one labelled batch.

    ``bpp`` counts the bits of the padded codec input per pixel of the original images; the MSE is
    taken over the original pixels only. Returns ``{"loss", "bpp", "distortion", "task"}`` scalars.
    """
    images, labels = batch
    device = next(model.parameters()).device
    images, labels = images.to(device), labels.to(device)
    output = model(codec_view(images))
    batch_size, channels, height, width = images.shape
    bpp = bits_per_pixel(output["likelihoods"], batch_size * height * width)
    seen = classifier_view(output["x_hat"], (height, width), channels)
    distortion = torch.mean((seen - images) ** 2)
    task = F.cross_entropy(classifier(seen), labels)
    loss = bpp + task_weight * task + lmbda * 255**2 * distortion
    return {"loss": loss, "bpp": bpp, "distortion": distortion, "task": task}


def check_task_weights(task_weight: float, lmbda: float) -> None:
    """A task codec needs ``task_weight > 0`` and ``lmbda >= 0`` (finite)."""
    if not (math.isfinite(task_weight) and task_weight > 0):
        raise ValueError(f"task_weight: expected a finite number > 0, got {task_weight}")
    if not (math.isfinite(lmbda) and lmbda >= 0):
        raise ValueError(f"lmbda: expected a finite number >= 0 with a task term, got {lmbda}")

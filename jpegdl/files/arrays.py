"""Conversions between jpegdl's ``(C, H, W)`` float tensors and the uint8 arrays files hold."""

from __future__ import annotations

import numpy as np
import torch

from jpegdl.jpeg.codec import check_images


def to_uint8(image: torch.Tensor | np.ndarray, name: str = "image") -> np.ndarray:
    """One image as ``(H, W)`` (grayscale) or ``(H, W, 3)`` uint8.

    Accepts a float tensor ``(C, H, W)`` or ``(1, C, H, W)`` in [0, 1] (rounded as
    ``floor(255 x + 1/2)``, like the codec), or a uint8 array ``(H, W)`` / ``(H, W, 1|3)``.
    """
    if isinstance(image, torch.Tensor):
        batch = image.unsqueeze(0) if image.dim() == 3 else image
        check_images(batch, name)
        if batch.shape[0] != 1:
            raise ValueError(f"{name}: expected one image, got a batch of {batch.shape[0]}")
        array = torch.floor(batch[0].detach().float().cpu() * 255 + 0.5).to(torch.uint8).numpy()
        array = np.ascontiguousarray(array.transpose(1, 2, 0))
        return array[..., 0] if array.shape[-1] == 1 else array
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"{name}: expected a uint8 array, got dtype {image.dtype}")
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
            raise ValueError(f"{name}: expected shape (H, W) or (H, W, 3), got {image.shape}")
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise ValueError(f"{name}: empty image of shape {image.shape}")
        return np.ascontiguousarray(image)
    raise ValueError(f"{name}: expected a torch.Tensor or numpy array, got {type(image).__name__}")


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W)`` or ``(H, W, 3)`` -> float ``(1, C, H, W)`` in [0, 1]."""
    if array.ndim == 2:
        array = array[..., None]
    planes = np.ascontiguousarray(array.transpose(2, 0, 1))
    return torch.as_tensor(planes if planes.flags.writeable else planes.copy()).float().unsqueeze(0) / 255

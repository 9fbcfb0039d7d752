"""Whole images through a trained codec: pad to the stride, encode to ``.edic`` bytes, decode, crop back."""

from __future__ import annotations

import hashlib
import json

import torch
import torch.nn.functional as F
from compressai.models import CompressionModel
from torch import Tensor

from jpegdl.edic.bitstream import MAX_SIDE, EdicStream, pack, unpack
from jpegdl.edic.model import STRIDE, CodecConfig


def model_id(model: CompressionModel, config: CodecConfig) -> bytes:
    """8-byte fingerprint of a codec: SHA-256 over its config and every tensor of its state dict.

    Call after ``model.update()``: the CDF tables are part of what a decoder must share.
    """
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.digest()[:8]


def check_image(image: Tensor, name: str = "image") -> Tensor:
    """Validate one float RGB image ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1]; returns ``(1, 3, H, W)``."""
    if not isinstance(image, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(image).__name__}")
    if image.dim() == 3:
        image = image[None]
    if image.dim() != 4 or image.shape[:2] != (1, 3):
        raise ValueError(f"{name}: expected float (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise ValueError(f"{name}: expected a float tensor in [0, 1], got {image.dtype}")
    height, width = image.shape[-2:]
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise ValueError(f"{name}: sides must be 1..{MAX_SIDE}, got {height}x{width}")
    if not torch.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise ValueError(f"{name}: values must be finite and within [0, 1]")
    return image.float()


def pad_to_stride(image: Tensor, stride: int = STRIDE) -> Tensor:
    """Replicate the last row/column until both sides are multiples of ``stride`` (any size >= 1 works)."""
    height, width = image.shape[-2:]
    pad_h, pad_w = -height % stride, -width % stride
    if pad_h == 0 and pad_w == 0:
        return image
    return F.pad(image, (0, pad_w, 0, pad_h), mode="replicate")


def encode_image(model: CompressionModel, config: CodecConfig, image: Tensor, identity: bytes | None = None) -> bytes:
    """One image -> ``.edic`` bytes.

    Args:
        model: a trained codec after ``update()``, in eval mode.
        image: float ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1], any size 1..65535.
        identity: ``model_id(model, config)`` when already known (it hashes all weights).
    """
    image = check_image(image)
    height, width = image.shape[-2:]
    device = next(model.parameters()).device
    encoded = model.compress(pad_to_stride(image).to(device))
    strings = tuple(group[0] for group in encoded["strings"])
    latent_shape = tuple(int(v) for v in encoded["shape"])
    return pack(EdicStream(identity or model_id(model, config), height, width, latent_shape, strings))


def decode_image(model: CompressionModel, config: CodecConfig, data: bytes, identity: bytes | None = None) -> Tensor:
    """``.edic`` bytes -> float ``(1, 3, H, W)`` in [0, 1]; a stream made by another model raises ValueError."""
    stream = unpack(data)
    expected = identity or model_id(model, config)
    if stream.model_id != expected:
        raise ValueError(
            f"data: the stream was made by model {stream.model_id.hex()}, this checkpoint is {expected.hex()}"
        )
    padded = (-(-stream.height // STRIDE), -(-stream.width // STRIDE))
    if stream.latent_shape != padded:
        raise ValueError(f"data: corrupt EDIC header (latent shape {stream.latent_shape} for a "
                         f"{stream.height}x{stream.width} image, expected {padded})")
    if len(stream.strings) != 2:
        raise ValueError(f"data: expected 2 coded strings (y, z), got {len(stream.strings)}")
    decoded = model.decompress([[s] for s in stream.strings], torch.Size(stream.latent_shape))
    return decoded["x_hat"][..., : stream.height, : stream.width].clamp(0, 1)

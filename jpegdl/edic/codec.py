"""Whole images through a trained codec: pad to the stride, encode to ``.edic`` bytes, decode, crop back."""

from __future__ import annotations

import hashlib
import json
import math

import torch
import torch.nn.functional as F
from compressai.models import CompressionModel
from torch import Tensor
from tqdm import tqdm

from jpegdl.edic.bitstream import MAX_SIDE, EdicStream, pack, unpack
from jpegdl.edic.guard import GuardedDecoder, check_string, guarded_entropy_coders
from jpegdl.edic.model import STRIDE, CodecConfig
from jpegdl.edic.precision import resolve_precision
from jpegdl.edic.refine import RefineSettings, refine_latents


def model_id(model: CompressionModel, config: CodecConfig, rate: int = 0) -> bytes:
    """8-byte fingerprint of a codec at one rate: SHA-256 over its config and every tensor of its state
    dict (and, for a variable-rate codec, the rate index), so a ``.edic`` header names both.

    Call after ``model.update()``: the CDF tables are part of what a decoder must share.
    """
    return model_ids(model, config)[_check_rate(rate, config)]


def _check_rate(rate: int, config: CodecConfig) -> int:
    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 <= rate < config.rates:
        raise ValueError(f"rate: expected an integer 0..{config.rates - 1}, got {rate!r}")
    return rate


def model_ids(model: CompressionModel, config: CodecConfig) -> list[bytes]:
    """:func:`model_id` of every rate of the codec, lowest rate first (one hash of the weights)."""
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    if not config.lmbdas:
        return [digest.digest()[:8]]
    ids = []
    for rate in range(config.rates):
        branch = digest.copy()
        branch.update(f"rate {rate}".encode())
        ids.append(branch.digest()[:8])
    return ids


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


def encode_image(model: CompressionModel, config: CodecConfig, image: Tensor, identity: bytes | None = None,
                 rate: int = 0, refine: RefineSettings | None = None, lmbda: float | None = None,
                 progress: bool = False) -> bytes:  # fmt: skip
    """One image -> ``.edic`` bytes.

    Args:
        model: a trained codec after ``update()``, in eval mode.
        image: float ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1], any size 1..65535.
        identity: ``model_id(model, config, rate)`` when already known (it hashes all weights).
        rate: rate index 0..``config.rates - 1`` (lowest rate first) of a variable-rate codec.
        refine: search the latents of this image (:mod:`jpegdl.edic.refine`; EDIC codecs only): slower
            encoding, same decoder. The file kept is the one of lower true cost (whole-file bits per pixel
            + lambda * 255**2 * MSE) between the search's and the plain encoder's, so it is never worse.
        lmbda: the rate-distortion weight the search aims at; default: the rate's training lambda
            (required for a single-rate codec, whose config does not record it).
        progress: a progress bar over the search's steps (stderr).
    """
    image = check_image(image)
    rate = _check_rate(rate, config)
    height, width = image.shape[-2:]
    device = next(model.parameters()).device
    identity = identity or model_id(model, config, rate)
    padded = pad_to_stride(image).to(device)
    encoded = model.compress(padded, **({"rate": rate} if config.lmbdas else {}))
    data = pack_encoded(identity, height, width, encoded)
    if refine is None or refine.steps == 0:
        return data
    if not hasattr(model, "compress_latents"):
        raise ValueError(f"refine: only EDIC codecs can search their latents, not {config.architecture!r}")
    if lmbda is None:
        if not config.lmbdas:
            raise ValueError("lmbda: a single-rate codec does not record its lambda; pass the one it was trained for")
        lmbda = config.lmbdas[rate]
    if not (isinstance(lmbda, (int, float)) and math.isfinite(lmbda) and lmbda > 0):
        raise ValueError(f"lmbda: expected a finite number > 0, got {lmbda!r}")
    target = image.to(device)
    rate_arg = rate if config.lmbdas else None
    with tqdm(total=refine.steps, desc="refining latents", unit="step", leave=False, disable=not progress) as bar:
        y, z = refine_latents(model, padded, target, rate_arg, float(lmbda), refine,
                              callback=lambda step, *_: bar.update(1 if step else 0))  # fmt: skip
    refined = pack_encoded(identity, height, width, model.compress_latents(y, z))
    ids = model_ids(model, config)
    costs = [rd_cost(len(stream), decode_image(model, config, stream, ids, trusted=True), target, float(lmbda))
             for stream in (data, refined)]  # fmt: skip
    return refined if costs[1] < costs[0] else data


def pack_encoded(identity: bytes, height: int, width: int, encoded: dict) -> bytes:
    """``.edic`` bytes of one image from a codec's ``compress`` / ``compress_latents`` output."""
    strings = tuple(group[0] for group in encoded["strings"])
    latent_shape = tuple(int(v) for v in encoded["shape"])
    return pack(EdicStream(identity, height, width, latent_shape, strings))


def rd_cost(num_bytes: int, decoded: Tensor, image: Tensor, lmbda: float) -> float:
    """The objective a codec is trained for, measured on a real file: whole-file bits per pixel +
    ``lmbda * 255**2 * MSE`` between ``image`` and the 8-bit ``decoded`` (both float ``(1, 3, H, W)`` in [0, 1])."""
    height, width = image.shape[-2:]
    mse = torch.mean(((decoded.to(image.device) * 255).round() / 255 - image) ** 2).item()
    return 8 * num_bytes / (height * width) + lmbda * 255**2 * mse


def decode_image(model: CompressionModel, config: CodecConfig, data: bytes,
                 identity: bytes | list[bytes] | None = None, *, trusted: bool = False,
                 precision: str = "auto") -> Tensor:  # fmt: skip
    """``.edic`` bytes -> float ``(1, 3, H, W)`` in [0, 1].

    ``identity``: :func:`model_ids` of the codec when already known (a single id is enough for a
    single-rate codec; for a variable-rate one, a single id makes the ids be recomputed).
    The header's model id says which rate the stream was coded at.

    Any bytes are safe to decode: a stream made by another model, a corrupt, truncated or crafted one,
    or one claiming more than ``JPEGDL_MAX_EDIC_PIXELS`` pixels raises ``ValueError`` (the entropy
    decoder checks every read, :mod:`jpegdl.edic.rans`; without a C compiler, CompressAI's decoder runs
    isolated, :mod:`jpegdl.edic.guard`). ``trusted=True`` (a stream this process has just encoded)
    skips that isolation where it applies.

    ``precision``: arithmetic of EDIC's synthesis and enhancement (:mod:`jpegdl.edic.precision`;
    ``"auto"``: bfloat16 on CPUs that compute it natively, float32 elsewhere). The baselines
    (CompressAI's classes) always decode in float32.
    """
    resolve_precision(precision, "cpu")  # the argument is checked before any work
    stream = unpack(data)
    if identity is None or (isinstance(identity, bytes) and config.lmbdas):
        ids = model_ids(model, config)  # a variable-rate codec's rate is the id's position among all of them
    else:
        ids = [identity] if isinstance(identity, bytes) else list(identity)
    if stream.model_id not in ids:
        raise ValueError(f"data: the stream was made by model {stream.model_id.hex()}, this checkpoint is "
                         f"{' / '.join(i.hex() for i in ids)}")  # fmt: skip
    rate = ids.index(stream.model_id)
    padded = (-(-stream.height // STRIDE), -(-stream.width // STRIDE))
    if stream.latent_shape != padded:
        raise ValueError(f"data: corrupt EDIC header (latent shape {stream.latent_shape} for a "
                         f"{stream.height}x{stream.width} image, expected {padded})")
    if len(stream.strings) != 2:
        raise ValueError(f"data: expected 2 coded strings (y, z), got {len(stream.strings)}")
    for name, string in zip(("y", "z"), stream.strings, strict=True):
        check_string(string, f"the {name} string")
    with guarded_entropy_coders(model, GuardedDecoder(isolate=False if trusted else None)):
        decoded = model.decompress([[s] for s in stream.strings], torch.Size(stream.latent_shape),
                                   **({"rate": rate} if config.lmbdas else {}),
                                   **({"precision": precision} if config.architecture == "edic" else {}))  # fmt: skip
    return decoded["x_hat"][..., : stream.height, : stream.width].clamp(0, 1)

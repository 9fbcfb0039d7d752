"""Codec files: a plain state dict (``.pt``, loads with ``weights_only=True``) beside a JSON config."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from compressai.models import CompressionModel

from jpegdl.checkpoints import load_checkpoint, save_checkpoint
from jpegdl.edic.model import CodecConfig, build_model
from jpegdl.utils import atomic_write_bytes


def write_atomically(path: str | Path, data: bytes) -> Path:
    """``data`` to ``path`` atomically (creating its folder): readers never see a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, data)


def config_path(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def save_codec(model: CompressionModel, config: CodecConfig, path: str | Path, half: bool = False) -> Path:
    """Build the CDF tables (``update``), then write ``path`` (state dict) and ``path.json`` (config).

    ``half`` rounds the model's float weights to float16 in place before the tables are built and stores
    them so (half the file; the model id then differs from the float32 model's).
    """
    if half:
        with torch.no_grad():
            for tensor in model.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(tensor.half().float())
    model.update(force=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    write_atomically(config_path(path), json.dumps(config.to_dict(), indent=2).encode())
    return save_checkpoint(state, path)


def load_codec(path: str | Path, device: str | torch.device = "cpu") -> tuple[CompressionModel, CodecConfig]:
    """A codec saved by :func:`save_codec`, in eval mode, ready for ``compress``/``decompress``."""
    meta = config_path(path)
    if not meta.is_file():
        raise ValueError(f"checkpoint: the config {str(meta)!r} beside {str(path)!r} is missing")
    try:
        config = CodecConfig.from_dict(json.loads(meta.read_text()))
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint: {str(meta)!r} is not valid JSON ({err})") from None
    state = load_checkpoint(path)
    model = build_model(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"checkpoint: the weights in {str(path)!r} do not fit the config ({err})") from None
    return model.to(device).eval(), config

"""Codec files: a plain state dict (``.pt``, loads with ``weights_only=True``) beside a JSON config."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from compressai.models import CompressionModel

from jpegdl.checkpoints import check_size, load_checkpoint, save_checkpoint
from jpegdl.edic.model import CodecConfig, build_model
from jpegdl.limits import read_json
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

    ``half`` rounds the model's learned weights (its parameters) to float16 in place before the tables are
    built and stores them so (half the file; the model id then differs from the float32 model's). Buffers
    stay float32: they hold constants such as the likelihood bound (1e-9) and GDN's pedestal (2**-36),
    which float16 would flush to zero.
    """
    parameters = {name for name, _ in model.named_parameters()}
    if half:
        with torch.no_grad():
            for tensor in model.parameters():
                tensor.copy_(tensor.half().float())
    model.update(force=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if k in parameters and v.is_floating_point() else v for k, v in state.items()}
    write_atomically(config_path(path), json.dumps(config.to_dict(), indent=2).encode())
    return save_checkpoint(state, path)


def minimum_parameters(config: CodecConfig) -> int:
    """A lower bound on the parameters of any architecture's codec: the 5x5 convolutions of its analysis
    and synthesis transforms (3 -> N -> N -> N -> M and back), which every architecture here has."""
    n, m = config.channels, config.latent_channels
    return 2 * 25 * (3 * n + 2 * n * n + n * m)


def load_codec(path: str | Path, device: str | torch.device = "cpu") -> tuple[CompressionModel, CodecConfig]:
    """A codec saved by :func:`save_codec`, in eval mode, ready for ``compress``/``decompress``."""
    meta = config_path(path)
    if not meta.is_file():
        raise ValueError(f"checkpoint: the config {str(meta)!r} beside {str(path)!r} is missing")
    config = CodecConfig.from_dict(read_json(meta, "checkpoint"))
    state = load_checkpoint(path)
    check_size(minimum_parameters(config), state, "checkpoint", str(meta))
    model = build_model(config)
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"checkpoint: the weights in {str(path)!r} do not fit the config ({reason})") from None
    return model.to(device).eval(), config

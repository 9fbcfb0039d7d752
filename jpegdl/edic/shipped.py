"""The trained photo codecs shipped inside the package: find, verify (SHA-256) and load them.

Each shipped codec is one variable-rate model (``quality`` 1..R, lowest rate first) stored as a
float16 state dict (``.pt``, loaded with ``weights_only=True``) beside its JSON config; ``manifest.json``
records each weight file's SHA-256 and how it was trained. A ``.edic`` file names its codec and rate by
the model id in its header, so decoding needs no flag.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from compressai.models import CompressionModel

from jpegdl.edic.checkpoint import load_codec
from jpegdl.edic.codec import model_ids
from jpegdl.edic.model import CodecConfig

WEIGHTS = Path(__file__).parent / "weights"
MANIFEST = WEIGHTS / "manifest.json"
DEFAULT_CODEC = "edic"


def manifest() -> dict:
    """``{name: {"file", "sha256", "training": {...}}}`` of the shipped codecs (empty if none is installed)."""
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())


def shipped_names() -> list[str]:
    return sorted(manifest())


def load_shipped(name: str = DEFAULT_CODEC, device: str = "cpu") -> tuple[CompressionModel, CodecConfig]:
    """A shipped codec by name, its weights checked against the manifest's SHA-256 before loading."""
    entries = manifest()
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none (no codec is installed; train one with 'jpegdl edic train')"
        raise ValueError(f"codec: unknown shipped codec {name!r}; expected one of: {known}")
    path = WEIGHTS / entries[name]["file"]
    if not path.is_file():
        raise ValueError(f"codec: the shipped weights {str(path)!r} are missing (reinstall jpegdl)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entries[name]["sha256"]:
        raise ValueError(f"codec: {str(path)!r} fails its checksum (SHA-256 {digest[:16]}..., expected "
                         f"{entries[name]['sha256'][:16]}...); reinstall jpegdl")  # fmt: skip
    return load_codec(path, device)


def find_shipped(stream_model_id: bytes) -> tuple[str, CompressionModel, CodecConfig] | None:
    """The shipped codec whose model ids include ``stream_model_id`` (a ``.edic`` header's), or None."""
    for name in shipped_names():
        model, config = load_shipped(name)
        if stream_model_id in model_ids(model, config):
            return name, model, config
    return None

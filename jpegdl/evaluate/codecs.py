"""The codecs of a rate-accuracy evaluation: each a curve of settings, each setting a picklable
function from a uint8 image to the bytes of a real JPEG file.

- ``ijg``: libjpeg-turbo with IJG tables at a quality sweep (baseline, optimized Huffman).
- ``mozjpeg``: mozjpeg 4.0.3 at the same qualities (trellis quantization; progressive).
- ``sensitivity``: tables ``q_m = c / sqrt(s_m)`` (:mod:`jpegdl.tables.sensitivity`) swept over
  the scale ``c`` (libjpeg-turbo); ``s_m`` of the evaluated model(s).
- ``learned:PATH``: tables JSON files (one file, or every ``*.json`` of a folder: a lambda
  sweep) written by libjpeg's rounding; ``learned-rd:PATH`` by the RD-optimised encoder (the
  sensitivity and lambda stored in each JSON); probabilistic draws are a per-seed option.
- ``guided`` / ``guided-ijg``: the model-guided encoder (:mod:`jpegdl.j4d.guided`), guided by
  the first model: per image the coarsest sensitivity (or IJG) tables whose decode keeps the
  model's output within ``max_kl`` nats; one point per threshold (:mod:`jpegdl.evaluate.guided_points`).
- ``edic:PATH``: a learned EDIC codec (``codec.pt``, or every ``*/codec.pt`` of a folder: a
  lambda sweep) writing ``.edic`` files (:mod:`jpegdl.evaluate.edic_points`; needs CompressAI).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from jpegdl.files import jpeg_bytes, mozjpeg_encode, write_coefficients
from jpegdl.files.arrays import to_tensor
from jpegdl.j4d.encoders import encode_image, probabilistic_coefficients
from jpegdl.jpeg.tables import QuantTables
from jpegdl.limits import read_json
from jpegdl.tables.sensitivity import scaled_tables

CODEC_KINDS = ("ijg", "mozjpeg", "sensitivity", "guided", "guided-ijg", "learned:PATH", "learned-rd:PATH", "edic:PATH")
GUIDED_KINDS = ("guided", "guided-ijg")
DEFAULT_GUIDED_THRESHOLDS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
DEFAULT_QUALITIES = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
DEFAULT_SCALES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
Encoder = Callable[[np.ndarray], bytes]


@dataclass(frozen=True)
class CodecSpec:
    """One curve: ``kind`` in ``ijg | mozjpeg | sensitivity | guided | guided-ijg | learned | learned-rd | edic``
    (+ ``path``,
    + ``label``)."""

    kind: str
    path: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        if self.label is not None:
            return self.label
        return self.kind if self.path is None else f"{self.kind}:{Path(self.path).stem}"


def parse_codecs(text: str) -> list[CodecSpec]:
    """``"ijg,mozjpeg,sensitivity,guided,learned:T.json,learned-rd:DIR"`` -> specs (paths must exist)."""
    specs = []
    for item in (part.strip() for part in text.split(",")):
        kind, _, path_text = item.partition(":")
        if item in ("ijg", "mozjpeg", "sensitivity", *GUIDED_KINDS):
            specs.append(CodecSpec(item))
        elif kind in ("learned", "learned-rd") and path_text:
            path = Path(path_text)
            if not path.exists():
                raise ValueError(f"codecs: no such tables file or folder {str(path)!r}")
            if path.is_dir() and not sorted(path.glob("*.json")):
                raise ValueError(f"codecs: no *.json tables in folder {str(path)!r}")
            specs.append(CodecSpec(kind, str(path)))
        elif kind == "edic" and path_text:
            edic_files(path_text)  # fails early on a missing codec
            specs.append(CodecSpec(kind, path_text))
        else:
            raise ValueError(f"codecs: unknown codec {item!r}; expected a comma list of {', '.join(CODEC_KINDS)}")
    if not specs:
        raise ValueError("codecs: expected at least one codec")
    return specs


def learned_files(path: str | Path) -> list[Path]:
    """The tables files of a ``learned`` spec (one file or a folder's ``*.json``, sorted)."""
    path = Path(path)
    return sorted(path.glob("*.json")) if path.is_dir() else [path]


def edic_files(path: str | Path) -> list[Path]:
    """The codecs of an ``edic`` spec: one ``.pt`` file, or a folder's ``codec.pt`` and ``*/codec.pt`` (sorted)."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(path.glob("codec.pt")) + sorted(path.glob("*/codec.pt")) if path.is_dir() else []
    if not files:
        raise ValueError(f"codecs: no EDIC codec at {str(path)!r} (expected codec.pt or a folder of */codec.pt)")
    return files


def rd_settings(path: str | Path) -> tuple[tuple[torch.Tensor, torch.Tensor], float]:
    """The sensitivity ``(luma, chroma)`` and lambda stored in a learned-tables JSON (for the RD encoder)."""
    data = read_json(path, "codecs")
    settings = data.get("settings") if isinstance(data, dict) else None
    sensitivity = settings.get("sensitivity") if isinstance(settings, dict) else None
    if not isinstance(sensitivity, dict) or "lambda" not in data:
        raise ValueError(f"codecs: {str(path)!r} holds no sensitivity/lambda (learned-rd needs learn_tables output)")
    try:
        return (torch.tensor(sensitivity["luma"]), torch.tensor(sensitivity["chroma"])), float(data["lambda"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"codecs: {str(path)!r} holds a malformed sensitivity or lambda ({err})") from None


def codec_settings(
    spec: CodecSpec,
    subsampling: str,
    qualities: Sequence[int] = DEFAULT_QUALITIES,
    scales: Sequence[float] = DEFAULT_SCALES,
    sensitivity: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[tuple[float | str, Encoder, QuantTables | None]]:
    """``(setting, picklable encoder, tables)`` for every point of a deterministic curve."""
    if spec.kind == "ijg":
        return [(q, partial(jpeg_bytes, tables=q, subsampling=subsampling), QuantTables.from_quality(q))
                for q in qualities]  # fmt: skip
    if spec.kind == "mozjpeg":
        return [(q, partial(mozjpeg_encode, tables=q, subsampling=subsampling), None) for q in qualities]
    if spec.kind == "sensitivity":
        if sensitivity is None:
            raise ValueError("sensitivity: the sensitivity-tables codec needs the model's frequency sensitivity")
        return [(c, partial(jpeg_bytes, tables=t, subsampling=subsampling), t)
                for c in scales for t in [scaled_tables(sensitivity, c)]]  # fmt: skip
    if spec.kind not in ("learned", "learned-rd"):
        raise ValueError(f"codecs: unknown kind {spec.kind!r}")
    points = []
    for path in learned_files(spec.path):
        tables = QuantTables(*QuantTables.from_dict(read_json(path, "codecs")).baseline())  # as encode and compress
        if spec.kind == "learned":
            encoder = partial(jpeg_bytes, tables=tables, subsampling=subsampling)
        else:
            weights, lam = rd_settings(path)
            encoder = partial(encode_image, tables=tables, subsampling=subsampling, encoder="rd",
                              sensitivity=weights, lam=lam)  # fmt: skip
        points.append((path.stem, encoder, tables))
    return points


def probabilistic_files(images: Sequence[np.ndarray], tables: QuantTables, hardness: float | torch.Tensor,
                        subsampling: str, seed: int, batch: int = 512) -> list[bytes]:  # fmt: skip
    """Write each image with indices drawn from the soft PMF (seeded; same-size batches)."""
    generator = torch.Generator().manual_seed(seed)
    files = []
    for start in range(0, len(images), batch):
        part = images[start : start + batch]
        same_size = len({a.shape for a in part}) == 1
        groups = [part] if same_size else [[a] for a in part]  # mixed sizes: one image at a time
        for group in groups:
            pixels = torch.cat([to_tensor(a) for a in group])
            coefficients = probabilistic_coefficients(pixels, tables, hardness, subsampling, generator)
            files += [write_coefficients(coefficients, i) for i in range(len(group))]
    return files

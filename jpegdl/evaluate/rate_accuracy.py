"""Rate-accuracy evaluation with real JPEG files: encode a test set with a codec setting, decode
it with libjpeg-turbo (Pillow), classify the decoded pixels, count the bytes.

Codecs (each a curve of operating points):

- ``ijg``: libjpeg-turbo with IJG tables at a quality sweep (baseline, optimized Huffman).
- ``mozjpeg``: mozjpeg 4.0.3 at the same qualities (trellis quantization; progressive).
- ``sensitivity``: GRACE-like tables ``q_m = c / sqrt(s_m)`` from the model's frequency
  sensitivity ``s_m = E[(dCE/dz_m)^2]``, swept over the scale ``c`` (libjpeg-turbo).
- ``learned:PATH``: tables JSON files (one file, or every ``*.json`` of a folder: a lambda
  sweep), written by rounding (libjpeg-turbo) and, as an option, by probabilistic quantization.

Rates: ``bpp`` = 8 x file bytes / pixels over the set (headers included), ``payload_bpp`` =
the entropy-coded scan data alone (as when a dataset shares its tables), ``mean_bpp`` = the
mean of per-image whole-file bpp.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from jpegdl.evaluate.bjontegaard import bd_accuracy, bd_rate, rate_at_accuracy
from jpegdl.files import mozjpeg_encode, payload_bytes, save_jpeg, write_coefficients
from jpegdl.files.arrays import to_tensor
from jpegdl.j4d.encoders import probabilistic_coefficients
from jpegdl.j4d.learn import load_hardness
from jpegdl.jpeg.tables import QuantTables
from jpegdl.utils import process_pool

CODEC_KINDS = ("ijg", "mozjpeg", "sensitivity", "learned:PATH")
DEFAULT_QUALITIES = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
DEFAULT_SCALES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


@dataclass(frozen=True)
class CodecSpec:
    """One curve to measure: ``kind`` in ``ijg | mozjpeg | sensitivity | learned`` (+ ``path``)."""

    kind: str
    path: str | None = None

    @property
    def name(self) -> str:
        return self.kind if self.path is None else f"learned:{Path(self.path).stem}"


def parse_codecs(text: str) -> list[CodecSpec]:
    """``"ijg,mozjpeg,sensitivity,learned:T.json"`` -> specs (paths must exist)."""
    specs = []
    for item in (part.strip() for part in text.split(",")):
        if item in ("ijg", "mozjpeg", "sensitivity"):
            specs.append(CodecSpec(item))
        elif item.startswith("learned:") and len(item) > len("learned:"):
            path = Path(item.split(":", 1)[1])
            if not path.exists():
                raise ValueError(f"codecs: no such tables file or folder {str(path)!r}")
            if path.is_dir() and not sorted(path.glob("*.json")):
                raise ValueError(f"codecs: no *.json tables in folder {str(path)!r}")
            specs.append(CodecSpec("learned", str(path)))
        else:
            raise ValueError(f"codecs: unknown codec {item!r}; expected a comma list of {', '.join(CODEC_KINDS)}")
    if not specs:
        raise ValueError("codecs: expected at least one codec")
    return specs


def learned_files(path: str | Path) -> list[Path]:
    """The tables files of a ``learned:`` spec (one file or a folder's ``*.json``, sorted)."""
    path = Path(path)
    return sorted(path.glob("*.json")) if path.is_dir() else [path]


@dataclass
class OperatingPoint:
    """One codec setting measured on a test set."""

    codec: str
    setting: float | str
    bpp: float
    payload_bpp: float
    mean_bpp: float
    accuracy: dict[str, float] = field(default_factory=dict)
    seed: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _run_encoder(encoder: Callable[[np.ndarray], bytes], images: Sequence[np.ndarray]) -> list[bytes]:
    return [encoder(image) for image in images]


def encode_many(
    images: Sequence[np.ndarray],
    encoder: Callable[[np.ndarray], bytes],
    workers: int | Executor = 1,
    desc: str | None = None,
    progress: bool = True,
) -> list[bytes]:
    """Encode uint8 images with a picklable ``encoder``, in order.

    ``workers``: a process count (a pool is started for this call) or a running executor.
    """
    chunk = 256
    chunks = [images[i : i + chunk] for i in range(0, len(images), chunk)]
    bar = tqdm(total=len(images), desc=desc, leave=False, disable=not progress, unit="img")
    files: list[bytes] = []
    if isinstance(workers, int) and workers <= 1:
        for part in chunks:
            files += _run_encoder(encoder, part)
            bar.update(len(part))
    else:
        with contextlib.ExitStack() as stack:
            pool = workers if isinstance(workers, Executor) else stack.enter_context(process_pool(workers))
            for part, encoded in zip(chunks, pool.map(partial(_run_encoder, encoder), chunks), strict=True):
                files += encoded
                bar.update(len(part))
    bar.close()
    return files


def decode_files(files: Sequence[bytes]) -> torch.Tensor:
    """Decode with Pillow (libjpeg-turbo, default settings) to ``(N, C, H, W)`` float in [0, 1]."""
    arrays = [np.array(Image.open(io.BytesIO(data))) for data in files]
    return torch.cat([to_tensor(a) for a in arrays])


@torch.no_grad()
def classify(models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor, batch: int = 1000,
             device: torch.device | str = "cpu") -> dict[str, float]:  # fmt: skip
    """Top-1 accuracy of each model (eval mode) on ``images`` ``(N, C, H, W)`` in [0, 1]."""
    result = {}
    for name, model in models.items():
        model.eval()
        correct = 0
        for start in range(0, len(images), batch):
            logits = model(images[start : start + batch].to(device))
            correct += (logits.argmax(1).cpu() == labels[start : start + batch]).sum().item()
        result[name] = correct / len(images)
    return result


def measure(files: Sequence[bytes], pixels_per_image: Sequence[int]) -> dict[str, float]:
    """Aggregate and mean bpp of whole files, and the aggregate payload bpp."""
    sizes = np.array([len(f) for f in files], dtype=np.float64)
    payloads = np.array([payload_bytes(f) for f in files], dtype=np.float64)
    pixels = np.asarray(pixels_per_image, dtype=np.float64)
    return {
        "bpp": float(8 * sizes.sum() / pixels.sum()),
        "payload_bpp": float(8 * payloads.sum() / pixels.sum()),
        "mean_bpp": float(np.mean(8 * sizes / pixels)),
    }


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


def gracelike_tables(sensitivity: tuple[torch.Tensor, torch.Tensor], scale: float) -> QuantTables:
    """``q = scale * sqrt(s_max / s)`` rounded into 1..255 (the most sensitive frequency gets ``scale``)."""
    tables = []
    for s in sensitivity:
        s = s.double().clamp_min(torch.finfo(torch.float64).tiny)
        tables.append((scale * (s.max() / s).sqrt()).round().clamp(1, 255).to(torch.int64))
    return QuantTables(*tables)


def codec_settings(
    spec: CodecSpec,
    subsampling: str,
    qualities: Sequence[int] = DEFAULT_QUALITIES,
    scales: Sequence[float] = DEFAULT_SCALES,
    sensitivity: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[tuple[str, float | str, Callable[[np.ndarray], bytes], QuantTables | None]]:
    """``(codec name, setting, picklable encoder, tables)`` for every point of a deterministic curve."""
    if spec.kind == "ijg":
        return [("ijg", q, partial(save_jpeg, tables=q, subsampling=subsampling), QuantTables.from_quality(q))
                for q in qualities]  # fmt: skip
    if spec.kind == "mozjpeg":
        return [("mozjpeg", q, partial(mozjpeg_encode, tables=q, subsampling=subsampling), None) for q in qualities]
    if spec.kind == "sensitivity":
        if sensitivity is None:
            raise ValueError("sensitivity: the GRACE-like baseline needs the model's frequency sensitivity")
        points = []
        for c in scales:
            tables = gracelike_tables(sensitivity, c)
            points.append(("sensitivity", c, partial(save_jpeg, tables=tables, subsampling=subsampling), tables))
        return points
    points = []
    for path in learned_files(spec.path):
        tables = QuantTables.load(path).rounded()
        points.append((spec.name, path.stem, partial(save_jpeg, tables=tables, subsampling=subsampling), tables))
    return points


def evaluate_codecs(
    specs: Sequence[CodecSpec],
    images: Sequence[np.ndarray],
    labels: torch.Tensor,
    models: dict[str, nn.Module],
    subsampling: str = "4:4:4",
    qualities: Sequence[int] = DEFAULT_QUALITIES,
    scales: Sequence[float] = DEFAULT_SCALES,
    sensitivity: tuple[torch.Tensor, torch.Tensor] | None = None,
    probabilistic_seeds: Sequence[int] = (),
    probabilistic_hardness: float | None = None,
    workers: int = 1,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[OperatingPoint]:
    """Every operating point of every codec: real files, real decodes, accuracy of every model.

    Args:
        images: uint8 ``(H, W)`` or ``(H, W, 3)`` arrays (the test set).
        labels: ``(N,)`` int64 class labels.
        models: name -> classifier taking ``(B, C, H, W)`` in [0, 1].
        probabilistic_seeds: for ``learned`` codecs, also write each tables file by
            probabilistic quantization once per seed (hardness read from the JSON unless
            ``probabilistic_hardness`` is given).
    """
    if len(images) == 0:
        raise ValueError("images: empty test set")
    pixels = [a.shape[0] * a.shape[1] for a in images]
    points: list[OperatingPoint] = []
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(process_pool(workers)) if workers > 1 else 1

        def point(codec: str, setting: float | str, files: list[bytes], seed: int | None = None) -> OperatingPoint:
            accuracy = classify(models, decode_files(files), labels, device=device)
            return OperatingPoint(codec, setting, **measure(files, pixels), accuracy=accuracy, seed=seed)

        for spec in specs:
            for codec, setting, encoder, tables in codec_settings(spec, subsampling, qualities, scales, sensitivity):
                points.append(point(codec, setting, encode_many(images, encoder, pool, f"{codec} {setting}", progress)))
                if spec.kind != "learned" or not probabilistic_seeds:
                    continue
                source = Path(spec.path) / f"{setting}.json" if Path(spec.path).is_dir() else spec.path
                hardness = probabilistic_hardness if probabilistic_hardness is not None else load_hardness(source)
                for seed in probabilistic_seeds:
                    files = probabilistic_files(images, tables, hardness, subsampling, seed)
                    points.append(point(f"{codec}+prob", setting, files, seed))
    return points


def curve_of(points: Sequence[dict], codec: str, model: str, key: str = "payload_bpp") -> list[tuple[float, float]]:
    """``(rate, accuracy)`` per setting of one codec for one model (probabilistic seeds averaged)."""
    groups: dict = {}
    for p in points:
        if p["codec"] == codec and model in p["accuracy"]:
            groups.setdefault(p["setting"], []).append((p[key], p["accuracy"][model]))
    return [tuple(float(v) for v in np.mean(np.asarray(pairs), axis=0)) for pairs in groups.values()]


def compare(
    points: Sequence[dict],
    uncompressed: dict[str, float],
    reference: str = "ijg",
    saturation: float = 0.002,
    drops: Sequence[float] = (0.005, 0.01, 0.02, 0.05),
) -> list[dict]:
    """BD-rate / BD-accuracy of every codec against ``reference``, per model and rate measure.

    Points more accurate than ``uncompressed - saturation`` are left out of the BD fits (the
    flat region where BD-rate is ill-defined). Also the bpp each curve needs to stay within
    ``drops`` of the uncompressed accuracy, and the saving against the reference there.
    """
    rows = []
    codecs = list(dict.fromkeys(p["codec"] for p in points))
    for model, clean in uncompressed.items():
        for codec in codecs:
            if codec == reference or not curve_of(points, codec, model):
                continue
            row: dict = {"model": model, "codec": codec}
            for key in ("payload_bpp", "bpp"):
                ref, test = curve_of(points, reference, model, key), curve_of(points, codec, model, key)
                row[f"bd_rate_{key}"] = bd_rate(ref, test, clean - saturation)
                row[f"bd_accuracy_{key}"] = bd_accuracy(ref, test, clean - saturation)
                for drop in drops:
                    r_ref, r_test = rate_at_accuracy(ref, clean - drop), rate_at_accuracy(test, clean - drop)
                    saving = None if r_ref is None or r_test is None else 1 - r_test / r_ref
                    row[f"{key}_at_minus_{100 * drop:g}pt"] = {reference: r_ref, "codec": r_test, "saving": saving}
            rows.append(row)
    return rows


def format_comparisons(rows: Sequence[dict]) -> str:
    """A text table of :func:`compare`'s rows."""

    def pct(entry: dict | None, key: str) -> str:
        return f"{100 * entry[key]:+.1f}%" if entry else "n/a"

    lines = [f"{'model':13} {'codec':28} {'BD-rate payload':>15} {'BD-rate file':>12} {'BD-acc payload':>14}"]
    for row in rows:
        lines.append(
            f"{row['model']:13} {row['codec']:28} {pct(row['bd_rate_payload_bpp'], 'bd_rate'):>15}"
            f" {pct(row['bd_rate_bpp'], 'bd_rate'):>12} {pct(row['bd_accuracy_payload_bpp'], 'bd_accuracy'):>14}"
        )
    return "\n".join(lines)

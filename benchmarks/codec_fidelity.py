"""How closely differentiable JPEG codecs reproduce real JPEG (libjpeg-turbo via Pillow).

For each photo, IJG quality and chroma sampling, the reference is Pillow's file decoded by
Pillow. Reported, averaged over the photos:
  - jpegdl (exact): our encode + decode of the pixels, PSNR against the real decode, share of
    identical pixels, share of quantized coefficients identical to the file's;
  - jpegdl decoder only: our decode of the file's own coefficients;
  - jpegdl (float): the pipeline without integer emulation (exact=False);
  - kornia: ``jpeg_codec_differentiable`` with the same tables (quality 50 = tables as given);
    kornia always subsamples 4:2:0, so it is reported for 4:2:0 only.
Outputs are rounded to uint8 before comparison. Run: python benchmarks/codec_fidelity.py
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import json_float, psnr_u8, write_results

from jpegdl.data.photos import load_photos
from jpegdl.files import jpeg_bytes, read_coefficients, to_tensor
from jpegdl.files.read import decode_pixels
from jpegdl.jpeg import QuantTables, decode, encode

QUALITIES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
SUBSAMPLINGS = ("4:2:0", "4:4:4")
PHOTOS = ("astronaut", "chelsea", "coffee", "motorcycle_left")


def to_u8(images: torch.Tensor) -> np.ndarray:
    return torch.floor(images[0].detach() * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def kornia_codec(x: torch.Tensor, tables: QuantTables) -> torch.Tensor:
    import kornia

    quality = torch.full((x.shape[0],), 50.0)
    return kornia.enhance.jpeg_codec_differentiable(x, quality, tables.luma.float(), tables.chroma.float())


def mean_psnr(values: list[float]) -> float:
    """Mean over photos of per-photo PSNR (inf only when every photo is bit-exact)."""
    finite = [v for v in values if not math.isinf(v)]
    return math.inf if not finite else float(np.mean([min(v, 99.0) for v in values]))


def main() -> None:
    torch.set_num_threads(2)
    photos = load_photos(PHOTOS)
    rows = []
    start = time.perf_counter()
    for subsampling in SUBSAMPLINGS:
        for quality in QUALITIES:
            tables = QuantTables.from_quality(quality)
            stats: dict[str, list[float]] = {k: [] for k in ("exact", "decoder", "float", "kornia", "pixels", "coefs")}
            for array in photos.values():
                x = to_tensor(array)
                data = jpeg_bytes(array, tables, subsampling)
                real = decode_pixels(data)
                ours = encode(x, tables, subsampling)
                theirs = read_coefficients(data)
                same = sum(int((a == b).sum()) for a, b in zip(ours.components, theirs.components, strict=True))
                stats["coefs"].append(same / sum(c.numel() for c in ours.components))
                exact = to_u8(decode(ours))
                stats["exact"].append(psnr_u8(exact, real))
                stats["pixels"].append(float(np.mean(exact == real)))
                stats["decoder"].append(psnr_u8(to_u8(decode(theirs)), real))
                smooth = decode(encode(x, tables, subsampling, exact=False), exact=False)
                stats["float"].append(psnr_u8(to_u8(smooth.clamp(0, 1)), real))
                if subsampling == "4:2:0":
                    stats["kornia"].append(psnr_u8(to_u8(kornia_codec(x, tables).clamp(0, 1)), real))
            rows.append(
                {
                    "subsampling": subsampling,
                    "quality": quality,
                    "jpegdl_exact_psnr": json_float(mean_psnr(stats["exact"])),
                    "jpegdl_identical_pixels": round(float(np.mean(stats["pixels"])), 6),
                    "jpegdl_identical_coefficients": round(float(np.mean(stats["coefs"])), 6),
                    "jpegdl_decoder_only_psnr": json_float(mean_psnr(stats["decoder"])),
                    "jpegdl_float_psnr": json_float(mean_psnr(stats["float"])),
                    "kornia_psnr": json_float(mean_psnr(stats["kornia"])) if stats["kornia"] else None,
                }
            )
    print_table(rows)
    path = write_results(
        "codec_fidelity",
        {
            "description": "PSNR (dB) against real JPEG (Pillow/libjpeg-turbo encode + decode), mean over photos;"
            " 'inf' = bit-identical; outputs rounded to uint8; kornia is 4:2:0 only",
            "photos": {name: list(a.shape) for name, a in photos.items()},
            "rows": rows,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )
    print(f"\nwrote {path}")


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'samp':>5} {'q':>3} | {'jpegdl exact':>12} {'pixels =':>9} {'coefs =':>9}"
        f" | {'decoder':>8} | {'float':>6} | {'kornia':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        kornia = "-" if r["kornia_psnr"] is None else str(r["kornia_psnr"])
        print(
            f"{r['subsampling']:>5} {r['quality']:>3} | {r['jpegdl_exact_psnr']!s:>12}"
            f" {100 * r['jpegdl_identical_pixels']:>8.3f}% {100 * r['jpegdl_identical_coefficients']:>8.3f}%"
            f" | {r['jpegdl_decoder_only_psnr']!s:>8} | {r['jpegdl_float_psnr']!s:>6} | {kornia:>6}"
        )


if __name__ == "__main__":
    main()

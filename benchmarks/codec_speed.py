"""Speed of the differentiable codec: forward and forward+backward per batch, jpegdl vs kornia.

Batch 16 x 3 x 224 x 224 in [0, 1], IJG quality 75 tables as float tensors that require grad,
jpegdl at 4:2:0, 4:4:4 and 4:2:2, kornia at 4:2:0 (its only mode; every speedup is against that
row of the same run). Median of repeated runs after warm-up, on CPU (and on CUDA when present).
Run: python benchmarks/codec_speed.py [--threads N] [--repeats R] [--subsamplings 4:2:0,4:4:4,4:2:2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_time, write_results

from jpegdl.jpeg import DiffJPEG, QuantTables

BATCH, SIZE = 16, 224


def codecs(subsamplings: list[str]) -> list[tuple[str, str, object]]:
    """``(name, subsampling, codec)`` for every jpegdl variant at each subsampling, then kornia."""
    import kornia

    def kornia_codec(x: torch.Tensor, tables: QuantTables) -> torch.Tensor:
        quality = torch.full((x.shape[0],), 50.0, device=x.device)  # 50 = tables as given
        return kornia.enhance.jpeg_codec_differentiable(x, quality, tables.luma, tables.chroma)

    out = []
    for subsampling in subsamplings:
        out += [
            ("jpegdl hard (exact)", subsampling, DiffJPEG(subsampling, quantizer="hard")),
            ("jpegdl ste (exact)", subsampling, DiffJPEG(subsampling, quantizer="ste")),
            ("jpegdl soft (exact)", subsampling, DiffJPEG(subsampling, quantizer="soft", alpha=5.0)),
            ("jpegdl ste (float)", subsampling, DiffJPEG(subsampling, quantizer="ste", exact=False)),
        ]
    return [*out, ("kornia 0.9 (cubic)", "4:2:0", kornia_codec)]


def measure(device: str, repeats: int, subsamplings: list[str]) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(BATCH, 3, SIZE, SIZE, generator=generator).to(device)
    base = QuantTables.from_quality(75).to(device=device, dtype=torch.float32)
    sync = device == "cuda"
    rows = []
    for name, subsampling, codec in codecs(subsamplings):
        tables = QuantTables(base.luma.clone().requires_grad_(), base.chroma.clone().requires_grad_())

        def forward(codec=codec, tables=tables) -> None:
            with torch.no_grad():
                codec(images, tables)

        def forward_backward(codec=codec, tables=tables) -> None:
            x = images.clone().requires_grad_()
            codec(x, tables).square().mean().backward()

        row = {"device": device, "codec": name, "subsampling": subsampling}
        row["forward_s"] = median_time(forward, repeats, sync=sync)
        row["forward_backward_s"] = None if "hard" in name else median_time(forward_backward, repeats, sync=sync)
        rows.append(row)
    kornia = next(r for r in rows if r["codec"].startswith("kornia"))
    for row in rows:
        row["forward_speedup_vs_kornia"] = round(kornia["forward_s"] / row["forward_s"], 2)
        if row["forward_backward_s"] is not None:
            row["forward_backward_speedup_vs_kornia"] = round(
                kornia["forward_backward_s"] / row["forward_backward_s"], 2
            )
        row["forward_s"] = round(row["forward_s"], 4)
        row["forward_backward_s"] = None if row["forward_backward_s"] is None else round(row["forward_backward_s"], 4)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--subsamplings", default="4:2:0,4:4:4,4:2:2", help="comma-separated jpegdl modes")
    args = parser.parse_args()
    subsamplings = args.subsamplings.split(",")
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = [row for device in devices for row in measure(device, args.repeats, subsamplings)]
    header = (f"{'device':>6} {'codec':<22} {'sampling':>8} {'forward s':>10} {'x kornia':>8} {'fwd+bwd s':>10}"
              f" {'x kornia':>8}")  # fmt: skip
    print(f"batch {BATCH}x3x{SIZE}x{SIZE}, q75 tables, {args.threads} CPU threads, median of {args.repeats}")
    print(header)
    print("-" * len(header))
    for r in rows:
        fb = "-" if r["forward_backward_s"] is None else f"{r['forward_backward_s']:.4f}"
        fbx = "-" if r["forward_backward_s"] is None else f"{r['forward_backward_speedup_vs_kornia']:.2f}"
        print(
            f"{r['device']:>6} {r['codec']:<22} {r['subsampling']:>8} {r['forward_s']:>10.4f}"
            f" {r['forward_speedup_vs_kornia']:>8.2f} {fb:>10} {fbx:>8}"
        )
    path = write_results(
        "codec_speed",
        {
            "description": f"seconds per batch of {BATCH}x3x{SIZE}x{SIZE}, q75 float tables requiring grad;"
            " speedup = kornia (4:2:0, same run) time / codec time",
            "command": f"python benchmarks/codec_speed.py --threads {args.threads} --repeats {args.repeats}"
            f" --subsamplings {args.subsamplings}",
            "threads": args.threads,
            "repeats": args.repeats,
            "rows": rows,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

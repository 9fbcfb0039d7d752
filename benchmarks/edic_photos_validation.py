"""The training curve of the photo codecs on the VALIDATION wallpapers (never the test pictures): for every
kept snapshot step, each codec's BD-rate and BD-PSNR against libjpeg-turbo 4:2:0 (optimized Huffman),
whole-file bytes, per picture then averaged. This is what the recipe and its learning-rate drops are
chosen on. Further EDIC training runs (``edic-seed1``, ...) are scored under their folder's name.

    PYTHONPATH=.:benchmarks python benchmarks/edic_photos_validation.py --runs /work/edic_runs
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, write_results
from edic_photos import bd_pair, jpeg_points, run_folders, wallpapers

from jpegdl.edic.checkpoint import load_codec
from jpegdl.edic.evaluate import evaluate_codec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(RESULTS / "edic_runs"))
    parser.add_argument("--steps", type=int, nargs="+", help="score only these snapshot steps (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="edic_photos_validation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = Path(args.runs)
    pictures = wallpapers(runs, "validation")
    jpeg = jpeg_points(pictures)["jpeg"]
    path = RESULTS / f"{args.name}.json"
    done = json.loads(path.read_text())["curve"] if path.is_file() else {}
    seeds = sorted({0} | {int(folder.name.removeprefix("edic-seed")) for folder in runs.glob("edic-seed*")})
    folders = run_folders(runs, seeds)
    for codec, folder in folders.items():
        done.setdefault(codec, {})
        for snapshot in sorted((folder / "snapshots").glob("step-*.pt"),
                               key=lambda p: int(p.stem.split("-")[1])):
            step = snapshot.stem.split("-")[1]
            if step in done[codec] or (args.steps and int(step) not in args.steps):
                continue
            model, config = load_codec(snapshot)
            points = {name: [] for name in pictures}
            for rate in range(config.rates):
                for name, point in evaluate_codec(model, config, pictures, rate)["images"].items():
                    points[name].append(point)
            bd = [bd_pair(jpeg[name], points[name], "psnr") for name in pictures]
            rates = [r for r, _ in bd if r is not None]
            done[codec][step] = {
                "bd_rate_vs_jpeg": float(np.mean(rates)) if rates else None,
                "bd_psnr_vs_jpeg_db": float(np.mean([q for _, q in bd if q is not None])),
                "pictures_with_overlap": len(rates),
                "mean_points": [{k: float(np.mean([points[n][r][k] for n in pictures])) for k in ("bpp", "psnr")}
                                for r in range(config.rates)],
            }
            row = done[codec][step]
            print(f"{codec:14s} step {step:>6s}: BD-rate vs JPEG "
                  f"{'n/a' if row['bd_rate_vs_jpeg'] is None else format(row['bd_rate_vs_jpeg'], '+.1%')}, "
                  f"BD-PSNR {row['bd_psnr_vs_jpeg_db']:+.2f} dB", flush=True)
            write_results(args.name, {"command": "PYTHONPATH=.:benchmarks python benchmarks/edic_photos_validation.py"
                                      " --runs RUNS", "validation_pictures": sorted(pictures), "curve": done})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

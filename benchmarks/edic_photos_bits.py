"""Where EDIC and the equally trained mean-scale hyperprior differ: rate split (latents y, hyper-latents z,
file header), distortion and the training objective per rate, on the validation wallpapers.

Both codecs come from ``benchmarks/edic_photos_train.py`` at the same step: the same code, data, crops,
seed and schedule; "mbt2018-mean" is EDIC with one mixture component, no channel attention and no
enhancement, so the difference between the two rows is exactly those three additions. For each picture
and rate: the model's own estimate of the bits (-log2 of the eval-mode likelihoods), the real coded
strings' bits, PSNR (8-bit RGB) of the real decode, and the objective the codec was trained for
(bpp + lambda * 255^2 * MSE, whole file). Validation pictures only: this explains, it does not choose.
``--edic-seeds 0 1`` adds further EDIC training runs (rows "edic-seed1", ...) against the same baseline.

    PYTHONPATH=.:benchmarks python benchmarks/edic_photos_bits.py --runs RUNS --step 40000 --edic-seeds 0 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, write_results
from edic_photos import run_folders, wallpapers

from jpegdl.edic import decode_image, encode_image, pad_to_stride, unpack
from jpegdl.edic.checkpoint import load_codec
from jpegdl.edic.codec import model_ids, rd_cost
from jpegdl.edic.objective import psnr


@torch.no_grad()
def picture_bits(model, config, picture: torch.Tensor, rate: int, ids: list[bytes]) -> dict:
    """Estimated and coded bits per pixel of one picture at one rate, its PSNR and RD objective."""
    height, width = picture.shape[-2:]
    pixels = height * width
    out = model(pad_to_stride(picture[None]), rate)
    estimate = {name: float(-torch.log2(p).sum()) / pixels for name, p in out["likelihoods"].items()}
    data = encode_image(model, config, picture, ids[rate], rate)
    stream = unpack(data)
    decoded = decode_image(model, config, data, ids, trusted=True, precision="float32")
    coded_y, coded_z = (8 * len(s) / pixels for s in stream.strings)
    return {"estimate_y_bpp": estimate["y"], "estimate_z_bpp": estimate["z"], "coded_y_bpp": coded_y,
            "coded_z_bpp": coded_z, "file_bpp": 8 * len(data) / pixels,
            "header_bpp": 8 * len(data) / pixels - coded_y - coded_z, "psnr": psnr(picture[None], decoded),
            "objective": rd_cost(len(data), decoded, picture[None], config.lmbdas[rate])}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(RESULTS / "edic_runs"))
    parser.add_argument("--step", type=int, required=True, help="snapshot step of both codecs")
    parser.add_argument("--edic-seeds", type=int, nargs="+", default=[0], help="EDIC training seeds to compare")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="edic_photos_bits")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = Path(args.runs)
    pictures = wallpapers(runs, "validation")
    rows: dict[str, dict] = {}
    folders = run_folders(runs, args.edic_seeds)
    for codec, folder in folders.items():
        model, config = load_codec(folder / "snapshots" / f"step-{args.step}.pt")
        ids = model_ids(model, config)
        rows[codec] = {"parameters": sum(p.numel() for p in model.parameters())}
        for rate in range(config.rates):
            points = [picture_bits(model, config, picture, rate, ids) for picture in pictures.values()]
            mean = {key: float(np.mean([p[key] for p in points])) for key in points[0]}
            # below 0 where the 16-bit tables cap an outlier's cost that the bounded likelihood puts near 30 bits
            mean["coded_vs_estimate_y"] = mean["coded_y_bpp"] / mean["estimate_y_bpp"] - 1
            rows[codec][f"q{rate + 1}"] = mean
    print(f"validation pictures: {len(pictures)}; step {args.step}")
    print(f"{'codec':14s} {'rate':4s} {'y est':>7s} {'y coded':>8s} {'z coded':>8s} {'header':>7s} {'file bpp':>8s} "
          f"{'PSNR':>6s} {'objective':>9s}")
    for codec, row in rows.items():
        for rate, m in ((k, v) for k, v in row.items() if k.startswith("q")):
            print(f"{codec:14s} {rate:4s} {m['estimate_y_bpp']:7.4f} {m['coded_y_bpp']:8.4f} {m['coded_z_bpp']:8.4f} "
                  f"{m['header_bpp']:7.4f} {m['file_bpp']:8.4f} {m['psnr']:6.2f} {m['objective']:9.4f}")
    gaps: dict[str, dict] = {}  # "edic_vs_mbt2018_mean" (seed 0), "edic-seed1_vs_mbt2018_mean", ...
    for label in (k for k in rows if k.startswith("edic")):
        gap = gaps[f"{label}_vs_mbt2018_mean"] = {}
        for rate in (k for k in rows[label] if k.startswith("q")):
            edic, base = rows[label][rate], rows["mbt2018-mean"][rate]
            gap[rate] = {"file_bpp_ratio": edic["file_bpp"] / base["file_bpp"], "psnr_db": edic["psnr"] - base["psnr"],
                         "objective_ratio": edic["objective"] / base["objective"],
                         "z_share_edic": edic["coded_z_bpp"] / edic["file_bpp"],
                         "z_share_mbt2018_mean": base["coded_z_bpp"] / base["file_bpp"]}
            print(f"{label} {rate}: / mbt2018-mean file bpp x{gap[rate]['file_bpp_ratio']:.3f}, PSNR "
                  f"{gap[rate]['psnr_db']:+.2f} dB, objective x{gap[rate]['objective_ratio']:.3f}")
    path = write_results(args.name, {
        "command": f"PYTHONPATH=.:benchmarks python benchmarks/edic_photos_bits.py --runs RUNS --step {args.step} "
                   f"--edic-seeds {' '.join(map(str, args.edic_seeds))}",
        "step": args.step, "validation_pictures": sorted(pictures), "codecs": rows, **gaps,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

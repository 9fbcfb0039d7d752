"""Encoder-side latent refinement (``jpegdl edic compress --refine STEPS``) of the shipped EDIC codec on
photographs: how many bytes and dB the search buys against libjpeg-turbo 4:2:0 (optimized Huffman),
mozjpeg and the plain (one-pass) EDIC encoder, and what it costs in encode time. The decoder and the
files' format are those of the plain encoder: decoding is unchanged.

Each (picture, rate) is searched once, up to the largest of ``--checkpoints``; at every checkpoint the
latents are entropy coded into a real ``.edic`` file, decoded by the standard decoder and scored, and the
file kept is the one ``encode_image`` would keep (the lower true rate-distortion cost of the search's and
the plain encoder's). Every bpp counts whole files.

``--split validation`` (the validation wallpapers) is where the learning rate and the default step count
are chosen; ``--split test`` (the test wallpapers, scikit-image's and scikit-learn's photos, never used to
choose anything) gives the reported figures, with a bootstrap 95 % interval over pictures.

    PYTHONPATH=.:benchmarks python benchmarks/edic_photos_refine.py --split validation --learning-rates 0.01 0.03
    PYTHONPATH=.:benchmarks python benchmarks/edic_photos_refine.py --split test --learning-rates 0.03
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from common import RESULTS, write_results
from edic_photos import bd_pair, draw_curves, jpeg_points, mean_curve, summarize, test_pictures, wallpapers

from jpegdl.edic import RefineSettings, check_image, decode_image, pad_to_stride, refine_latents
from jpegdl.edic.checkpoint import load_codec
from jpegdl.edic.codec import model_ids, pack_encoded, rd_cost
from jpegdl.edic.evaluate import quality_point
from jpegdl.edic.shipped import WEIGHTS, load_shipped, manifest


def search_picture(model, config, picture: torch.Tensor, rate: int, learning_rate: float,
                   checkpoints: list[int]) -> dict[int, dict]:  # fmt: skip
    """checkpoint -> the kept file's point (bpp, PSNR, MS-SSIM, whether the search's file was kept, seconds
    of searching so far) for one picture at one rate."""
    ids = model_ids(model, config)
    image = check_image(picture)
    height, width = image.shape[-2:]
    padded = pad_to_stride(image)
    lmbda = config.lmbdas[rate]
    wanted = set(checkpoints)
    scored: dict[int, dict] = {}
    plain: dict = {}
    clock = {"search_s": 0.0, "since": time.perf_counter()}  # scoring does not count as search time

    def score(step: int, y: torch.Tensor, z: torch.Tensor) -> None:
        if step not in wanted and step != 0:
            return
        clock["search_s"] += time.perf_counter() - clock["since"]
        data = pack_encoded(ids[rate], height, width, model.compress_latents(y, z))
        decoded = decode_image(model, config, data, ids, trusted=True)
        point = {**quality_point(image, decoded, len(data)), "cost": rd_cost(len(data), decoded, image, lmbda)}
        if step == 0:
            plain.update(point)
        kept = point if point["cost"] < plain["cost"] else plain
        scored[step] = {**kept, "searched": kept is point and step > 0, "search_s": clock["search_s"]}
        clock["since"] = time.perf_counter()

    settings = RefineSettings(steps=max(checkpoints), learning_rate=learning_rate)
    refine_latents(model, padded, image, rate, lmbda, settings, callback=score)
    return {step: scored[step] for step in sorted(scored) if step in wanted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("validation", "test"), required=True)
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[0.03])
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[0, 25, 50, 100])
    parser.add_argument("--pictures", type=int, help="only the first N pictures (pilot runs)")
    parser.add_argument("--rates", type=int, nargs="+", help="rate indexes (default: all)")
    parser.add_argument("--snapshot", help="a codec.pt to evaluate instead of the shipped codec (tuning)")
    parser.add_argument("--runs", default=str(RESULTS / "edic_runs"), help="where the split of the wallpapers is")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", help="results file stem (default: edic_photos_refine_<split>)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    checkpoints = sorted(set([0, *args.checkpoints]))

    if args.snapshot:
        model, config = load_codec(args.snapshot)
        codec = {"source": args.snapshot}
    else:
        model, config = load_shipped("edic")
        codec = {"source": "shipped", "file": str((WEIGHTS / manifest()["edic"]["file"]).name),
                 "training": manifest()["edic"].get("training")}  # fmt: skip
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    runs = Path(args.runs)
    pictures = wallpapers(runs, "validation") if args.split == "validation" else test_pictures(runs)
    if args.pictures:
        pictures = dict(list(pictures.items())[: args.pictures])
    rates = args.rates if args.rates is not None else list(range(config.rates))
    print(f"{len(pictures)} {args.split} pictures, rates {rates}, learning rates {args.learning_rates}, "
          f"checkpoints {checkpoints}", flush=True)  # fmt: skip

    references = jpeg_points(pictures)
    points: dict[str, dict[str, dict[str, list[dict]]]] = {}
    for learning_rate in args.learning_rates:
        lr_key = f"{learning_rate:g}"
        points[lr_key] = {str(step): {name: [] for name in pictures} for step in checkpoints}
        for name, picture in pictures.items():
            for rate in rates:
                found = search_picture(model, config, picture, rate, learning_rate, checkpoints)
                for step, point in found.items():
                    points[lr_key][str(step)][name].append({"rate": rate, **point})
                last = found[checkpoints[-1]]
                first = found[0]
                print(f"lr {lr_key} {name} rate {rate}: {first['bpp']:.4f} bpp {first['psnr']:.2f} dB -> "
                      f"{last['bpp']:.4f} bpp {last['psnr']:.2f} dB ({last['search_s']:.0f} s)", flush=True)

    comparisons: dict = {}
    timing: dict = {}
    megapixels = {name: picture[0].numel() / 1e6 for name, picture in pictures.items()}
    for lr_key, by_step in points.items():
        comparisons[lr_key], timing[lr_key] = {}, {}
        for step, curves in by_step.items():
            entry = {}
            for reference, label in ((references["jpeg"], "vs jpeg"), (references["mozjpeg"], "vs mozjpeg"),
                                     (points[lr_key]["0"], "vs plain edic")):  # fmt: skip
                entry[label] = {}
                for key in ("psnr", "ms_ssim"):
                    pairs = {name: bd_pair(reference[name], curves[name], key) for name in pictures}
                    entry[label][key] = {
                        "bd_rate": summarize({n: p[0] for n, p in pairs.items()}),
                        "bd_quality_db": summarize({n: p[1] for n, p in pairs.items()}),
                    }
            comparisons[lr_key][step] = entry
            seconds = [p["search_s"] / megapixels[name] for name in pictures for p in curves[name]]
            kept = [p["searched"] for name in pictures for p in curves[name]]
            plain_costs = {(name, p["rate"]): p["cost"] for name in pictures for p in points[lr_key]["0"][name]}
            saved = [p["cost"] / plain_costs[name, p["rate"]] - 1 for name in pictures for p in curves[name]]
            entry["rd_cost_vs_plain"] = sum(saved) / len(saved)
            timing[lr_key][step] = {"search_s_per_megapixel": sum(seconds) / len(seconds),
                                    "search_files_kept": f"{sum(kept)} of {len(kept)}"}  # fmt: skip

    print(f"\n{'lr':>6} {'steps':>5} {'BD-rate vs JPEG':>26} {'vs mozjpeg':>10} {'vs plain':>9} {'RD cost':>8} "
          f"{'s/MP':>7} kept")
    for lr_key in comparisons:
        for step, entry in comparisons[lr_key].items():
            psnr_rate = entry["vs jpeg"]["psnr"]["bd_rate"]

            def percent(value: float | None) -> str:  # no BD value when the curves do not overlap
                return "n/a" if value is None else f"{100 * value:+.1f}"

            interval = f"[{percent(psnr_rate['low'])}, {percent(psnr_rate['high'])}]"
            moz = entry["vs mozjpeg"]["psnr"]["bd_rate"]["mean"]
            plain = entry["vs plain edic"]["psnr"]["bd_rate"]["mean"]
            cost = timing[lr_key][step]
            print(f"{lr_key:>6} {step:>5} {percent(psnr_rate['mean']):>8} % {interval:>16} "
                  f"{percent(moz):>9}% {percent(plain):>8}% "
                  f"{100 * entry['rd_cost_vs_plain']:+7.1f}% "
                  f"{cost['search_s_per_megapixel']:7.0f} {cost['search_files_kept']}")  # fmt: skip

    results = {
        "command": "PYTHONPATH=.:benchmarks python benchmarks/edic_photos_refine.py " + " ".join(sys.argv[1:]),
        "codec": codec,
        "split": args.split,
        "threads": args.threads,
        "settings": {"learning_rates": args.learning_rates, "checkpoints": checkpoints, "seed": 0,
                     "rates": rates, "lmbdas": [config.lmbdas[r] for r in rates]},
        "pictures": {name: list(picture.shape[-2:]) for name, picture in pictures.items()},
        "comparisons": comparisons,
        "timing": timing,
        "points": points,
        "jpeg_points": references,
    }
    path = write_results(args.name or f"edic_photos_refine_{args.split}", results)
    plot(results, path.with_suffix(".png"))


def plot(results: dict, path: Path) -> None:
    """Mean RD curves over the pictures: JPEG, mozjpeg and EDIC at each checkpoint of the first learning rate."""
    curves = {encoder: mean_curve(by_picture) for encoder, by_picture in results["jpeg_points"].items()}
    by_step = next(iter(results["points"].values()))
    for step, by_picture in by_step.items():
        curves["EDIC, plain encoder" if step == "0" else f"EDIC, {step} search steps"] = mean_curve(by_picture)
    draw_curves(curves, f"{len(results['pictures'])} {results['split']} photos: the shipped EDIC with encoder-side"
                " latent search vs JPEG (same decoder)", path)  # fmt: skip


if __name__ == "__main__":
    main()

"""EDIC vs equally trained CompressAI hyperpriors vs JPEG / mozjpeg on held-out photos, plus coding speed
against CompressAI's autoregressive mbt2018.

Every learned codec is trained by this script on the same data (random 128x128 crops of the deduplicated
Debian wallpapers) with the same seed, steps, batch and learning rate; then all codecs encode the five
scikit-image photos to real bytes. bpp counts whole files (.edic with its 38-byte header; JPEG files with
all their markers). BD-rate is against libjpeg-turbo JPEG (Pillow, 4:2:0, optimized Huffman) on PSNR.

    PYTHONPATH=. python benchmarks/edic_photos.py --threads 1        # trains 9 codecs, then evaluates
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, write_results
from PIL import Image

from jpegdl.data.photos import PHOTO_NAMES, load_photo
from jpegdl.edic import CodecConfig, build_model, decode_image, encode_image
from jpegdl.edic.checkpoint import load_codec, save_codec
from jpegdl.edic.data import WALLPAPER_FOLDERS, deduplicate, find_images, load_training_images
from jpegdl.edic.evaluate import evaluate_codec, quality_point
from jpegdl.edic.training import TrainSettings, train_and_save
from jpegdl.evaluate.bjontegaard import bd_accuracy, bd_rate
from jpegdl.files import jpeg_bytes, mozjpeg_encode

SIZES = {"channels": 64, "latent_channels": 96, "enhance_channels": 16, "enhance_blocks": 1, "enhance_residuals": 2}
VARIANTS = {  # name -> (config overrides, trained at every lambda or only at the first)
    "edic": ({}, True),
    "edic-no-attention": ({"attention": False}, False),
    "edic-single-gaussian": ({"components": 1}, False),
    "edic-no-enhancement": ({"enhancement": False}, False),
    "bmshj2018-hyperprior": ({"architecture": "bmshj2018-hyperprior"}, True),
    "mbt2018-mean": ({"architecture": "mbt2018-mean"}, True),
}
JPEG_QUALITIES = (1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90)


def finished(folder: Path, steps: int) -> bool:
    """A run folder whose codec was saved after exactly ``steps`` training steps."""
    history = folder / "history.json"
    return (folder / "codec.pt").is_file() and (folder / "time.json").is_file() and history.is_file() and len(
        json.loads(history.read_text())["history"]) == steps


def photos() -> dict[str, torch.Tensor]:
    return {n: torch.from_numpy(load_photo(n)).permute(2, 0, 1).float() / 255 for n in PHOTO_NAMES}


def mean_point(points: list[dict]) -> dict:
    keys = ("bpp", "psnr", "ms_ssim")
    return {k: float(np.mean([p[k] for p in points])) for k in keys}


def jpeg_curves(images: dict[str, torch.Tensor]) -> dict[str, list[dict]]:
    encoders = {"jpeg": lambda px, q: jpeg_bytes(px, q, "4:2:0"), "mozjpeg": lambda px, q: mozjpeg_encode(px, q)}
    curves = {}
    for name, encode in encoders.items():
        curve = []
        for quality in JPEG_QUALITIES:
            points = []
            for image in images.values():
                pixels = (image * 255).round().byte().permute(1, 2, 0).numpy()
                data = encode(pixels, quality)
                decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                points.append(quality_point(image[None], torch.from_numpy(decoded.copy()).permute(2, 0, 1)[None]
                                            .float() / 255, len(data)))
            curve.append({"quality": quality, **mean_point(points)})
        curves[name] = curve
    return curves


def rate_vs_reference(reference: list[dict], point: dict) -> float | None:
    """bpp of ``point`` over the reference's bpp at the same PSNR (log-linear interpolation), minus 1."""
    ref = sorted((p["psnr"], math.log(p["bpp"])) for p in reference)
    psnrs, log_rates = zip(*ref, strict=True)
    if not psnrs[0] <= point["psnr"] <= psnrs[-1]:
        return None
    return math.exp(math.log(point["bpp"]) - float(np.interp(point["psnr"], psnrs, log_rates))) - 1


def time_codec(model, config, image: torch.Tensor, repeats: int) -> dict:
    """Median wall seconds of whole-image encode and decode (after one warm-up)."""
    data = encode_image(model, config, image)
    decode_image(model, config, data)
    enc, dec = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        data = encode_image(model, config, image)
        enc.append(time.perf_counter() - start)
        start = time.perf_counter()
        decode_image(model, config, data)
        dec.append(time.perf_counter() - start)
    return {"encode_s": float(np.median(enc)), "decode_s": float(np.median(dec)), "bytes": len(data)}


def time_autoregressive(image: torch.Tensor) -> dict:
    """CompressAI's mbt2018 (quality 1: N=M=192, serial context model), untrained weights."""
    from compressai.zoo import mbt2018

    from jpegdl.edic import pad_to_stride

    model = mbt2018(quality=1, pretrained=False).eval()
    model.update(force=True)
    x = pad_to_stride(image[None])
    with torch.no_grad():
        start = time.perf_counter()
        encoded = model.compress(x)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        model.decompress(encoded["strings"], encoded["shape"])
        decode_s = time.perf_counter() - start
    return {"encode_s": encode_s, "decode_s": decode_s, "bytes": sum(len(s[0]) for s in encoded["strings"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lmbdas", type=float, nargs="+", default=[0.0067, 0.025])
    parser.add_argument("--runs", default=str(RESULTS / "edic_photos_runs"), help="training folders (resumable)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timing-repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--name", default="edic_photos", help="results/NAME.json and NAME.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    runs = Path(args.runs)
    jobs = [(variant, lmbda) for variant in args.variants
            for lmbda in (args.lmbdas if VARIANTS[variant][1] else args.lmbdas[:1])]
    data_facts = runs / "data.json"
    if all(finished(runs / f"{v}-{lmbda:g}", args.steps) for v, lmbda in jobs) and data_facts.is_file():
        train_images, facts = None, json.loads(data_facts.read_text())  # evaluation only
    else:
        paths = find_images([f for f in WALLPAPER_FOLDERS if Path(f).is_dir()])
        train_images = load_training_images(deduplicate(paths), short_side=512, min_side=args.crop)
        facts = {"training_images": len(train_images), "files": len(paths)}
        runs.mkdir(parents=True, exist_ok=True)
        data_facts.write_text(json.dumps(facts))
    print(f"data: {facts['training_images']} distinct training images from {facts['files']} files", flush=True)

    test_images = photos()
    results: dict[str, dict] = {}
    for variant, lmbda in jobs:
        config = CodecConfig(**{**SIZES, **VARIANTS[variant][0]})
        settings = TrainSettings(lmbda=lmbda, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                 checkpoint_every=100)
        folder = runs / f"{variant}-{lmbda:g}"
        if not finished(folder, args.steps):
            wall, cpu = time.perf_counter(), time.process_time()
            train_and_save(config, settings, train_images, folder, crop=args.crop, resume=True, progress=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            (folder / "time.json").write_text(json.dumps({"train_wall_s": wall, "train_cpu_s": cpu}))
        spent = json.loads((folder / "time.json").read_text())
        wall, cpu = spent["train_wall_s"], spent["train_cpu_s"]
        history = json.loads((folder / "history.json").read_text())["history"]
        model, config = load_codec(folder / "codec.pt")
        evaluation = evaluate_codec(model, config, test_images)
        tail = history[-50:]
        results[f"{variant}@{lmbda:g}"] = {
            "variant": variant, "lmbda": lmbda, "config": config.to_dict(), "train_wall_s": wall,
            "train_cpu_s": cpu, "parameters": sum(p.numel() for p in model.parameters()),
            "final_train_bpp": float(np.mean([r["bpp"] for r in tail])),
            "final_train_mse": float(np.mean([r["distortion"] for r in tail])), **evaluation,
        }
        mean = evaluation["mean"]
        print(f"{variant:22s} lambda {lmbda:<7g} {mean['bpp']:.3f} bpp {mean['psnr']:6.2f} dB "
              f"MS-SSIM {mean['ms_ssim']:.4f}  train {wall:.0f} s wall / {cpu:.0f} s CPU", flush=True)

    curves = jpeg_curves(test_images)
    learned = {}
    for result in results.values():
        learned.setdefault(result["variant"], []).append({"lmbda": result["lmbda"], **result["mean"]})
    comparisons = {}
    for variant, points in {**learned, "mozjpeg": curves["mozjpeg"]}.items():
        reference, test = [(p["bpp"], p["psnr"]) for p in curves["jpeg"]], [(p["bpp"], p["psnr"]) for p in points]
        bd, bd_psnr = bd_rate(reference, test), bd_accuracy(reference, test)
        comparisons[variant] = {
            "bd_rate_vs_jpeg": None if bd is None else bd["bd_rate"],
            "bd_interval_db": None if bd is None else bd["interval"],
            "bd_psnr_vs_jpeg_db": None if bd_psnr is None else bd_psnr["bd_accuracy"],
            "bd_psnr_interval_bpp": None if bd_psnr is None else bd_psnr["interval"],
            "rate_vs_jpeg_at_equal_psnr": [rate_vs_reference(curves["jpeg"], p) for p in points],
        }

    timing_image = test_images["astronaut"]
    timing = {"image": "astronaut 512x512", "threads": args.threads}
    for key in (f"edic@{args.lmbdas[0]:g}", f"mbt2018-mean@{args.lmbdas[0]:g}"):
        model, config = load_codec(Path(args.runs) / f"{key.replace('@', '-')}" / "codec.pt")
        timing[key] = time_codec(model, config, timing_image, args.timing_repeats)
    paper_scale = CodecConfig(channels=128, latent_channels=192, enhance_channels=32, enhance_blocks=3,
                              enhance_residuals=3)
    torch.manual_seed(0)
    untrained = build_model(paper_scale).eval()
    untrained.update(force=True)
    timing["edic-untrained N128 M192 enh32x3x3"] = time_codec(untrained, paper_scale, timing_image, 1)
    timing["mbt2018-autoregressive-untrained q1"] = time_autoregressive(timing_image)
    auto = timing["mbt2018-autoregressive-untrained q1"]["decode_s"]
    for value in timing.values():
        if isinstance(value, dict):
            value["decode_speedup_vs_mbt2018"] = auto / value["decode_s"]

    print(f"\n{'codec':22s} {'points (bpp / PSNR dB / MS-SSIM)':52s} {'BD-rate':>8s} {'BD-PSNR':>8s} at-point rate")
    for variant, points in {**learned, **curves}.items():
        shown = ", ".join(f"{p['bpp']:.3f}/{p['psnr']:.2f}/{p['ms_ssim']:.4f}" for p in points[:2])
        row = comparisons.get(variant, {})
        bd, bd_psnr = row.get("bd_rate_vs_jpeg"), row.get("bd_psnr_vs_jpeg_db")
        at_point = ", ".join("n/a" if r is None else f"{r:+.0%}" for r in row.get("rate_vs_jpeg_at_equal_psnr", []))
        print(f"{variant:22s} {shown:52s} {'n/a' if bd is None else f'{bd:+.1%}':>8s} "
              f"{'n/a' if bd_psnr is None else f'{bd_psnr:+.2f}':>8s} {at_point if row else 'reference'}")
    print(f"\n{'timing (1 image, CPU)':40s} {'encode s':>9s} {'decode s':>9s} {'dec. speed-up vs mbt2018':>25s}")
    for key, value in timing.items():
        if isinstance(value, dict):
            print(f"{key:40s} {value['encode_s']:9.3f} {value['decode_s']:9.3f} "
                  f"{value['decode_speedup_vs_mbt2018']:25.1f}")

    if args.name == "edic_photos":  # the small committed checkpoint
        model, config = load_codec(Path(args.runs) / f"edic-{args.lmbdas[-1]:g}" / "codec.pt")
        save_codec(model, config, RESULTS / "edic_photos_codec.pt", half=True)
    path = write_results(args.name, {
        "command": "PYTHONPATH=. python benchmarks/edic_photos.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items()),
        "budget": {"steps": args.steps, "batch_size": args.batch_size, "crop": args.crop, "lr": args.lr,
                   "threads": args.threads, **facts,
                   "total_train_wall_s": sum(r["train_wall_s"] for r in results.values()),
                   "total_train_cpu_s": sum(r["train_cpu_s"] for r in results.values())},
        "test_images": list(PHOTO_NAMES), "learned": results, "curves": {**learned, **curves},
        "comparisons": comparisons, "timing": timing,
    })
    plot(learned, curves, RESULTS / f"{args.name}.png")
    print(f"wrote {path}")


def plot(learned: dict, curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, points in {**curves, **learned}.items():
        points = sorted(points, key=lambda p: p["bpp"])
        style = "--" if name in curves else "-o"
        for axis, key in zip(axes, ("psnr", "ms_ssim"), strict=True):
            axis.plot([p["bpp"] for p in points], [p[key] for p in points], style, label=name, markersize=4)
    for axis, label in zip(axes, ("PSNR (dB)", "MS-SSIM"), strict=True):
        axis.set_xlabel("bits per pixel (whole files)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    figure.suptitle("EDIC and equally trained hyperpriors vs JPEG on scikit-image photos")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()

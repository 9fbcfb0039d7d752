"""EDIC vs the equally trained mean-scale hyperprior (mbt2018-mean) vs JPEG / mozjpeg on held-out photos,
and EDIC's decode time (with its split) against CompressAI's autoregressive mbt2018.

The codecs are the variable-rate models trained by ``benchmarks/edic_photos_train.py`` (same recipe, data
and seed for both), evaluated at the same step (``--step``; default: the latest snapshot both have). When the
baseline's training lags behind, ``--mbt-step`` evaluates it at its own (fewer) steps: the JSON and the plot
then say the two were unequally trained, and "edic vs mbt2018-mean" is not a fair comparison.
Test pictures were never used for training or for choosing settings: the test split of the offline
wallpapers (split by file; scaled to a short side of 512), scikit-image's photos and scikit-learn's two.
Every bpp counts whole files (``.edic`` with its header; JPEG files with all their markers); PSNR is on
8-bit RGB, MS-SSIM as in CompressAI. BD-rates (Bjontegaard, PCHIP) are per picture, then averaged over
pictures, with a bootstrap 95 % interval over pictures (and on the mean curves for reference).
Every further EDIC seed trained to the same step (``edic-seed1``, ...) is evaluated too: ``over_seeds`` then
gives each comparison per seed and averaged over seeds, with a two-level bootstrap interval (seeds, then
pictures, both with replacement), so the interval includes how much a second training run moves the result.

    PYTHONPATH=.:benchmarks python benchmarks/edic_photos.py --runs /work/edic_runs
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
from edic_photos_train import training_cost
from PIL import Image

from jpegdl.data.photos import PHOTO_NAMES, load_photo
from jpegdl.edic import decode_image, encode_image, pad_to_stride, unpack
from jpegdl.edic.checkpoint import load_codec
from jpegdl.edic.codec import model_ids
from jpegdl.edic.evaluate import evaluate_codec, quality_point
from jpegdl.edic.precision import reconstruction_precision, resolve_precision
from jpegdl.evaluate.bjontegaard import bd_accuracy, bd_rate
from jpegdl.files import jpeg_bytes, mozjpeg_encode

CODECS = ("edic", "mbt2018-mean")
JPEG_QUALITIES = (2, 4, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95)
TEST_SHORT_SIDE = 512


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(pixels[..., :3])).permute(2, 0, 1).float() / 255


def wallpapers(runs: Path, split: str) -> dict[str, torch.Tensor]:
    """name -> float (3, H, W) in [0, 1]: one split of the wallpapers (as the runs recorded it), short side 512."""
    splits = json.loads((runs / f"{CODECS[0]}-seed0" / "data.json").read_text())["splits"]
    pictures = {}
    for path in splits[split]:
        with Image.open(path) as image:
            image = image.convert("RGB")
            scale = TEST_SHORT_SIDE / min(image.size)
            if scale < 1:
                image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
            pictures[f"wallpaper:{Path(path).parent.parent.parent.name if 'contents' in path else Path(path).stem}"
                     ] = _tensor(np.asarray(image))  # fmt: skip
    return pictures


def test_pictures(runs: Path) -> dict[str, torch.Tensor]:
    """name -> float (3, H, W) in [0, 1]: wallpaper test split (short side 512), skimage and sklearn photos."""
    pictures = wallpapers(runs, "test")
    for name in PHOTO_NAMES:
        pictures[f"skimage:{name}"] = _tensor(load_photo(name))
    try:
        from sklearn.datasets import load_sample_image

        for name in ("china.jpg", "flower.jpg"):
            pictures[f"sklearn:{name}"] = _tensor(load_sample_image(name))
    except ImportError:
        print("note: scikit-learn not installed; its two photos are left out")
    return pictures


def jpeg_points(pictures: dict[str, torch.Tensor]) -> dict[str, dict[str, list[dict]]]:
    """encoder -> picture -> one point per quality (whole-file bytes)."""
    encoders = {"jpeg": lambda px, q: jpeg_bytes(px, q, "4:2:0", optimize=True),
                "mozjpeg": lambda px, q: mozjpeg_encode(px, q, "4:2:0")}
    curves: dict[str, dict[str, list[dict]]] = {}
    for encoder, encode in encoders.items():
        curves[encoder] = {}
        for name, picture in pictures.items():
            pixels = (picture * 255).round().byte().permute(1, 2, 0).numpy()
            points = []
            for quality in JPEG_QUALITIES:
                data = encode(pixels, quality)
                decoded = _tensor(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
                points.append({"quality": quality, **quality_point(picture[None], decoded[None], len(data))})
            curves[encoder][name] = points
    return curves


def msssim_db(value: float) -> float:
    return -10 * math.log10(max(1 - value, 1e-12))


def bd_pair(reference: list[dict], test: list[dict], key: str) -> tuple[float | None, float | None]:
    """(BD-rate, BD-quality) of ``test`` against ``reference`` on PSNR or MS-SSIM (in dB)."""
    def curve(points):  # a lossless decode (PSNR inf) has no place on a BD curve
        pairs = [(p["bpp"], p["psnr"] if key == "psnr" else msssim_db(p["ms_ssim"])) for p in points]
        return [(rate, quality) for rate, quality in pairs if math.isfinite(quality)]


    rate, quality = bd_rate(curve(reference), curve(test)), bd_accuracy(curve(reference), curve(test))
    return (None if rate is None else rate["bd_rate"]), (None if quality is None else quality["bd_accuracy"])


def summarize(per_picture: dict[str, float | None], rounds: int = 2000) -> dict:
    values = np.array([v for v in per_picture.values() if v is not None], dtype=np.float64)
    if not len(values):
        return {"mean": None, "low": None, "high": None, "pictures": 0}
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, len(values), (rounds, len(values)))].mean(axis=1)
    return {"mean": float(values.mean()), "low": float(np.quantile(means, 0.025)),
            "high": float(np.quantile(means, 0.975)), "pictures": len(values)}


def mean_curve(curves: dict[str, list[dict]]) -> list[dict]:
    names = list(curves)
    count = len(curves[names[0]])
    return [{k: float(np.mean([curves[n][i][k] for n in names])) for k in ("bpp", "psnr", "ms_ssim")}
            for i in range(count)]


@torch.inference_mode()
def decode_split(model, config, picture: torch.Tensor, rate: int, repeats: int) -> dict:
    """Median seconds of EDIC's decode stages on one picture: entropy decoding of z and y (with the hyper-
    synthesis that gives y's tables), synthesis g_s and enhancement (channels-last, as ``decompress`` runs
    them, in the default precision), the whole ``decode_image`` in that precision and in float32."""
    from jpegdl.edic.mixture import decode_symbols

    ids = model_ids(model, config)
    data = encode_image(model, config, picture, ids[rate], rate)
    stream = unpack(data)
    gains = model._gains(rate, 1, torch.device("cpu")) if config.lmbdas else None
    dtype = resolve_precision("auto", "cpu")
    stages: dict[str, list[float]] = {"entropy_z": [], "hyper_synthesis": [], "entropy_y": [], "synthesis": [],
                                      "enhancement": [], "total": [], "total_float32": []}
    for _ in range(repeats + 1):
        times = {}
        start = time.perf_counter()
        z_hat = model.entropy_bottleneck.decompress([stream.strings[1]], torch.Size(stream.latent_shape))
        times["entropy_z"] = time.perf_counter() - start
        start = time.perf_counter()
        means, scales, weights = model.mixture(z_hat)
        times["hyper_synthesis"] = time.perf_counter() - start
        start = time.perf_counter()
        y_hat = decode_symbols(stream.strings[0], means, scales, weights)
        times["entropy_y"] = time.perf_counter() - start
        y_hat = (y_hat if gains is None else y_hat * gains[1]).contiguous(memory_format=torch.channels_last)
        with reconstruction_precision(dtype, "cpu"):
            start = time.perf_counter()
            image = model.g_s(y_hat)
            times["synthesis"] = time.perf_counter() - start
            start = time.perf_counter()
            model.enhance(image)
            times["enhancement"] = time.perf_counter() - start
        for key, precision in (("total", "auto"), ("total_float32", "float32")):
            start = time.perf_counter()
            decode_image(model, config, data, ids, precision=precision)
            times[key] = time.perf_counter() - start
        if _:  # the first round warms up
            for key, value in times.items():
                stages[key].append(value)
    megapixels = picture.shape[-1] * picture.shape[-2] / 1e6
    return {key: float(np.median(values)) for key, values in stages.items()} | {
        "megapixels": megapixels, "bytes": len(data), "precision": str(dtype).removeprefix("torch.")}


@torch.inference_mode()
def time_autoregressive(picture: torch.Tensor, quality: int) -> dict:
    """CompressAI's mbt2018 (serial autoregressive context model), untrained weights: its serial decode
    visits every latent position whatever the weights, so the time is what a trained model would take."""
    from compressai.zoo import mbt2018

    model = mbt2018(quality=quality, pretrained=False).eval()
    model.update(force=True)
    x = pad_to_stride(picture[None])
    encoded = model.compress(x)
    start = time.perf_counter()
    model.decompress(encoded["strings"], encoded["shape"])
    decode_s = time.perf_counter() - start
    megapixels = picture.shape[-1] * picture.shape[-2] / 1e6
    return {"decode_s": decode_s, "megapixels": megapixels, "quality": quality}


def edic_seeds(runs: Path, step: int) -> list[int]:
    """The EDIC training seeds with a snapshot at ``step`` (seed 0 first)."""
    seeds = sorted(int(folder.name.removeprefix("edic-seed")) for folder in runs.glob("edic-seed*")
                   if (folder / "snapshots" / f"step-{step}.pt").is_file())
    if 0 not in seeds:
        raise SystemExit(f"edic-seed0 has no snapshot of step {step} under {runs}")
    return seeds


def seed_label(seed: int) -> str:
    """Seed 0 keeps the plain name "edic" (the shipped codec); further seeds are "edic-seed<k>"."""
    return "edic" if seed == 0 else f"edic-seed{seed}"


def run_folders(runs: Path, seeds: list[int]) -> dict[str, Path]:
    """label -> training folder: EDIC's seeds (``seed_label``), then the mbt2018-mean baseline (seed 0)."""
    edic = {seed_label(seed): runs / f"edic-seed{seed}" for seed in seeds}
    return edic | {"mbt2018-mean": runs / "mbt2018-mean-seed0"}


def summarize_over_seeds(per_seed: dict[str, dict[str, float | None]], rounds: int = 4000) -> dict:
    """Mean BD-rate over seeds and pictures, with a two-level bootstrap 95 % interval.

    ``per_seed``: seed -> picture -> BD-rate (None where the curves do not overlap). Each round draws the
    seeds with replacement, then the pictures with replacement (the same pictures for every drawn seed:
    the comparison is paired by picture), and averages. Pictures without a value for every seed are left out.
    """
    seeds = list(per_seed)
    names = [n for n in per_seed[seeds[0]] if all(per_seed[s].get(n) is not None for s in seeds)]
    if not names:
        return {"mean": None, "low": None, "high": None, "pictures": 0, "seeds": len(seeds)}
    values = np.array([[per_seed[s][n] for n in names] for s in seeds], dtype=np.float64)  # (seeds, pictures)
    rng = np.random.default_rng(0)
    means = np.empty(rounds)
    for i in range(rounds):
        rows = values[rng.integers(0, len(seeds), len(seeds))]
        means[i] = rows[:, rng.integers(0, len(names), len(names))].mean()
    per_seed_means = values.mean(axis=1)
    return {"mean": float(values.mean()), "low": float(np.quantile(means, 0.025)),
            "high": float(np.quantile(means, 0.975)), "pictures": len(names), "seeds": len(seeds),
            "per_seed_mean": {s: float(m) for s, m in zip(seeds, per_seed_means, strict=True)},
            "seed_spread": float(per_seed_means.max() - per_seed_means.min())}


def latest_common_step(runs: Path) -> int:
    steps = [
        {int(p.stem.split("-")[1]) for p in (runs / f"{codec}-seed0" / "snapshots").glob("step-*.pt")}
        for codec in CODECS
    ]
    common = set.intersection(*steps)
    if not common:
        raise SystemExit(f"no step has a snapshot of every codec under {runs}")
    return max(common)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(RESULTS / "edic_runs"), help="folders of edic_photos_train.py")
    parser.add_argument("--step", type=int, help="evaluate the snapshots of this step (default: latest common)")
    parser.add_argument("--mbt-step", type=int, help="mbt2018-mean's snapshot step (default: --step)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timing-repeats", type=int, default=3)
    parser.add_argument("--name", default="edic_photos")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = Path(args.runs)
    step = args.step or latest_common_step(runs)
    seeds = edic_seeds(runs, step)
    folders = run_folders(runs, seeds)
    steps = {label: step for label in folders} | {"mbt2018-mean": args.mbt_step or step}
    pictures = test_pictures(runs)
    print(f"{len(pictures)} test pictures; EDIC seeds {seeds}; codecs at steps {steps}", flush=True)

    learned: dict[str, dict] = {}
    training: dict[str, dict] = {}
    for codec, folder in folders.items():
        model, config = load_codec(folder / "snapshots" / f"step-{steps[codec]}.pt")
        chunks = json.loads((folder / "time.json").read_text())["chunks"]
        training[codec] = {"steps": steps[codec], **training_cost(chunks, steps[codec]),
                           "parameters": sum(p.numel() for p in model.parameters()), "config": config.to_dict()}
        learned[codec] = {}
        for rate in range(config.rates):
            evaluation = evaluate_codec(model, config, pictures, rate, compare_float32=codec == "edic")
            learned[codec][rate] = evaluation
            mean = evaluation["mean"]
            print(f"{codec:14s} q{rate + 1} {mean['bpp']:.3f} bpp {mean['psnr']:6.2f} dB MS-SSIM "
                  f"{mean['ms_ssim']:.4f}", flush=True)
    precision_loss = {}  # dB of PSNR the default (bfloat16) reconstruction gives up against float32, same streams
    for rate, evaluation in learned["edic"].items():
        losses = [p["psnr_float32"] - p["psnr"] for p in evaluation["images"].values() if "psnr_float32" in p]
        if losses:
            precision_loss[f"q{rate + 1}"] = {"mean_db": float(np.mean(losses)), "max_db": float(np.max(losses))}
            print(f"edic q{rate + 1}: bfloat16 reconstruction costs {np.mean(losses):.4f} dB on average, "
                  f"{np.max(losses):.4f} dB at most", flush=True)
    per_picture_curves = {codec: {name: [learned[codec][r]["images"][name] for r in sorted(learned[codec])]
                                  for name in pictures} for codec in folders}  # fmt: skip
    per_picture_curves.update(jpeg_points(pictures))

    pairs = [("edic", "jpeg"), ("mbt2018-mean", "jpeg"), ("mozjpeg", "jpeg"), ("edic", "mozjpeg"),
             ("edic", "mbt2018-mean")]
    pairs += [(seed_label(seed), reference) for seed in seeds[1:] for reference in ("jpeg", "mozjpeg", "mbt2018-mean")]
    comparisons = {}
    for test, reference in pairs:
        row = {}
        for key in ("psnr", "ms_ssim"):
            rates, qualities = {}, {}
            for name in pictures:
                rates[name], qualities[name] = bd_pair(per_picture_curves[reference][name],
                                                       per_picture_curves[test][name], key)
            mean_rate, mean_quality = bd_pair(mean_curve(per_picture_curves[reference]),
                                              mean_curve(per_picture_curves[test]), key)
            row[key] = {"bd_rate": summarize(rates), "bd_quality_db": summarize(qualities),
                        "bd_rate_of_mean_curves": mean_rate, "bd_quality_of_mean_curves_db": mean_quality,
                        "per_picture_bd_rate": rates}
        comparisons[f"{test} vs {reference}"] = row

    over_seeds = {}
    for reference in ("jpeg", "mozjpeg", "mbt2018-mean"):
        over_seeds[f"edic vs {reference}"] = {
            key: summarize_over_seeds({str(seed): comparisons[f"{seed_label(seed)} vs {reference}"][key]
                                       ["per_picture_bd_rate"] for seed in seeds})
            for key in ("psnr", "ms_ssim")}

    timing_picture = pictures["skimage:astronaut"]
    model, config = load_codec(runs / "edic-seed0" / "snapshots" / f"step-{step}.pt")
    timing = {"picture": "skimage:astronaut 512x512", "threads": args.threads,
              "edic_split_q1": decode_split(model, config, timing_picture, 0, args.timing_repeats),
              "edic_split_q4": decode_split(model, config, timing_picture, config.rates - 1, args.timing_repeats),
              "mbt2018_autoregressive_q1": time_autoregressive(timing_picture, 1)}
    auto = timing["mbt2018_autoregressive_q1"]["decode_s"]
    for key in ("edic_split_q1", "edic_split_q4"):
        timing[key]["speedup_vs_mbt2018"] = auto / timing[key]["total"]
        timing[key]["speedup_vs_mbt2018_float32"] = auto / timing[key]["total_float32"]

    print(f"\n{'comparison':28s} {'PSNR BD-rate [95 % CI]':>30s} {'MS-SSIM BD-rate [95 % CI]':>30s}")
    for label, row in comparisons.items():
        cells = []
        for key in ("psnr", "ms_ssim"):
            s = row[key]["bd_rate"]
            cells.append("n/a" if s["mean"] is None else f"{s['mean']:+.1%} [{s['low']:+.1%}, {s['high']:+.1%}]")
        print(f"{label:28s} {cells[0]:>30s} {cells[1]:>30s}")
    print(f"\nover EDIC seeds {seeds} (two-level bootstrap: seeds, then pictures)")
    for label, row in over_seeds.items():
        cells = []
        for key in ("psnr", "ms_ssim"):
            s = row[key]
            per_seed = ", ".join(f"seed {k} {v:+.1%}" for k, v in s.get("per_seed_mean", {}).items())
            cells.append("n/a" if s["mean"] is None else
                         f"{s['mean']:+.1%} [{s['low']:+.1%}, {s['high']:+.1%}] ({per_seed})")
        print(f"{label:28s} PSNR {cells[0]}; MS-SSIM {cells[1]}")
    for key in ("edic_split_q1", "edic_split_q4"):
        t = timing[key]
        print(f"{key}: total {t['total']:.3f} s ({t['total'] / t['megapixels']:.3f} s/MP): entropy z "
              f"{t['entropy_z']:.3f}, hyper {t['hyper_synthesis']:.3f}, entropy y {t['entropy_y']:.3f}, synthesis "
              f"{t['synthesis']:.3f}, enhancement {t['enhancement']:.3f} ({t['precision']}); "
              f"{t['speedup_vs_mbt2018']:.1f}x faster than mbt2018 ({auto:.2f} s); float32 total "
              f"{t['total_float32']:.3f} s, {t['speedup_vs_mbt2018_float32']:.1f}x")
    curves = {codec: mean_curve(per_picture_curves[codec]) for codec in per_picture_curves}
    path = write_results(args.name, {
        "command": f"PYTHONPATH=.:benchmarks python benchmarks/edic_photos.py --runs RUNS --step {step} "
                   + (f"--mbt-step {steps['mbt2018-mean']} " if steps["mbt2018-mean"] != step else "")
                   + f"--threads {args.threads}",
        "step": step, "steps": steps, "equally_trained": len(set(steps.values())) == 1, "training": training,
        "test_pictures": {k: list(v.shape[-2:]) for k, v in pictures.items()},
        "learned": {c: {str(r): v for r, v in rates.items()} for c, rates in learned.items()},
        "jpeg_points": {k: per_picture_curves[k] for k in ("jpeg", "mozjpeg")},
        "edic_seeds": seeds, "mean_curves": curves, "comparisons": comparisons, "over_seeds": over_seeds,
        "timing": timing,
        "reconstruction_precision": {"default": str(resolve_precision("auto", "cpu")).removeprefix("torch."),
                                     "psnr_loss_vs_float32": precision_loss},
    })
    plot(curves, steps, RESULTS / f"{args.name}.png")
    print(f"wrote {path}")


def draw_curves(curves: dict[str, list[dict]], title: str, path: Path) -> None:
    """PSNR and MS-SSIM against whole-file bpp, one line per codec (JPEG dashed), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, points in curves.items():
        points = sorted(points, key=lambda p: p["bpp"])
        style = "--" if name in ("jpeg", "mozjpeg") else "-o"
        for axis, key in zip(axes, ("psnr", "ms_ssim"), strict=True):
            axis.plot([p["bpp"] for p in points], [p[key] for p in points], style, label=name, markersize=4)
    for axis, label in zip(axes, ("PSNR (dB, RGB)", "MS-SSIM"), strict=True):
        axis.set_xlabel("bits per pixel (whole files)")
        axis.set_ylabel(label)
        axis.set_xlim(0, 1.5)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot(curves: dict[str, list[dict]], steps: dict[str, int], path: Path) -> None:
    if len(set(steps.values())) == 1:
        runs = sum(label.startswith("edic") for label in steps)
        title = f"EDIC ({runs} seeds) and mbt2018-mean (all {steps['edic']:,} steps, same recipe)" if runs > 1 else (
            f"EDIC and mbt2018-mean (both {steps['edic']:,} steps, same recipe)")
    else:
        title = f"EDIC ({steps['edic']:,} steps) and mbt2018-mean (only {steps['mbt2018-mean']:,} steps)"
    draw_curves(curves, f"Held-out photos: {title} vs JPEG", path)


if __name__ == "__main__":
    main()

"""J4D on Fashion-MNIST: learned JPEG tables for frozen classifiers against IJG JPEG, mozjpeg and
sensitivity (GRACE-like) tables, in real bytes and real accuracy.

Budget (about an hour on 2 CPU cores, most of it evaluation):
- classifiers (trained here or reused from runs/bench-j4d): resnet8 and vgg8 (tables are learned
  for them) and ShuffleNetV2 (held out), the first 30,000 training images, 4 epochs, SGD 0.05
  cosine, batch 128, seed 0;
- tables learned on training images 30,000..37,679 (never seen by the classifiers, never the
  test set): cross-entropy + lambda x analytic rate, straight-through rounding in the forward
  pass and the rate of the soft PMF with hardness h = 8 (the best proxy of
  benchmarks/j4d_proxy_ablation.py), Adam 0.05 on log steps, 3 epochs of 30 batches of 256, from
  IJG quality-50 tables; per model and "universal" (resnet8 + vgg8 together);
- evaluation on the full 10,000-image test set: every point is real grayscale JPEG files
  (libjpeg-turbo through Pillow, baseline, optimized Huffman; mozjpeg 4.0.3 is progressive)
  decoded by Pillow and classified; rates: payload bpp (entropy-coded data alone, as when a
  dataset shares its tables) and whole-file bpp (headers included).

Also the rate estimate's calibration (J4D's E1): analytic bpp (hardness 8, as trained, and 2)
against the real payload, over the IJG sweep and the learned tables.

Run: python benchmarks/j4d_fashion_mnist.py   (writes results/j4d_fashion_mnist.json and .png)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_results

from jpegdl.data import create_dataset
from jpegdl.evaluate.rate_accuracy import CodecSpec, classify, compare, evaluate_codecs, format_comparisons
from jpegdl.files import to_uint8
from jpegdl.j4d.learn import learn_tables
from jpegdl.jpeg.codec import analyze, component_steps
from jpegdl.jpeg.quantize import SoftQuantizer
from jpegdl.jpeg.rate import estimate_rate
from jpegdl.jpeg.tables import QuantTables
from jpegdl.plots import plot_rate_accuracy
from jpegdl.tables import frequency_sensitivity
from jpegdl.train import TrainConfig, Trainer, load_classifier

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "bench-j4d"
LEARNED, HELD_OUT = ("resnet8", "vgg8"), "ShuffleNetV2"
CLASSIFIER = {"epochs": 4, "limit_train": 30_000, "seed": 0}
QUALITIES = (5, 10, 15, 20, 30, 40, 50, 70, 90)
MOZ_QUALITIES = (5, 10, 20, 30, 50, 70, 90)
SCALES = (1, 2, 4, 8, 16, 32, 64)
LAMBDAS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)


def classifier(model: str) -> tuple[torch.nn.Module, float]:
    """Train (or reuse) one classifier; return it and its uncompressed test accuracy."""
    out = RUNS / f"{model}-seed0"
    summary_file = out / "summary.json"
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        if any(summary["config"][k] != v for k, v in CLASSIFIER.items()):
            raise SystemExit(f"{out}: settings differ from {CLASSIFIER}; delete the folder")
    else:
        config = TrainConfig(model=model, dataset="fashion-mnist", batch_size=128, lr=0.05, schedule="cosine",
                             out=str(out), amp=False, **CLASSIFIER)  # fmt: skip
        summary = Trainer(config).fit()
    return load_classifier(out)[0], summary["test_acc"]


def calibration(images: torch.Tensor, tables: QuantTables, hardness: float) -> float:
    """Analytic bpp of the whole set (one pooled batch) for grayscale 4:4:4."""
    with torch.no_grad():
        coefficients = analyze(images, "4:4:4")
        steps = component_steps(tables.to(dtype=torch.float32), 1, torch.float32)
        quantizer = SoftQuantizer(alpha=hardness / steps[0].square())
        return estimate_rate(coefficients, steps, quantizer, tuple(images.shape[-2:]), "4:4:4").bpp.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-test", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hardness", type=float, default=8.0)
    parser.add_argument("--quantizer", default="ste", choices=("soft", "ste", "sampled"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(LAMBDAS))
    parser.add_argument("--summarize-only", action="store_true",
                        help="recompute comparisons, calibration summary and plot from the results JSON's points"
                        " (those of this lambda grid only)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(2)
    start = time.perf_counter()
    if args.summarize_only:
        previous = json.loads((RESULTS / "j4d_fashion_mnist.json").read_text())
        grid = {f"lambda{lam:g}" for lam in args.lambdas}
        keep = [r for r in previous["points"] if not r["codec"].startswith("learned") or r["setting"] in grid]
        calib = [c for c in previous["calibration"] if c["codec"] == "ijg" or c["setting"] in grid]
        finish(args, previous["seconds"], previous["uncompressed_accuracy"], previous["learning"], keep, calib,
               previous["settings"]["test_images"], dropped=len(previous["points"]) - len(keep))  # fmt: skip
        return
    models, uncompressed_acc = {}, {}
    for name in (*LEARNED, HELD_OUT):
        models[name], uncompressed_acc[name] = classifier(name)
    print("classifiers:", {k: round(v, 4) for k, v in uncompressed_acc.items()}, flush=True)

    train_plain, _ = create_dataset("fashion-mnist", "train", augment=False)
    table_data = DataLoader(Subset(train_plain, range(30_000, 30_000 + 30 * 256)), batch_size=256, shuffle=True,
                            generator=torch.Generator().manual_seed(0))  # fmt: skip
    test_set, _ = create_dataset("fashion-mnist", "test", augment=False)
    count = min(args.limit_test, len(test_set))
    test_images = torch.stack([test_set[i][0] for i in range(count)])
    labels = torch.tensor([test_set[i][1] for i in range(count)])
    arrays = [to_uint8(image) for image in test_images]
    uncompressed = classify(models, test_images, labels)

    # Learn tables: per model and universal, one lambda sweep each.
    learned_dirs, learning = {}, []
    groups = {name: [name] for name in LEARNED} | {"universal": list(LEARNED)}
    for group, members in groups.items():
        folder = RUNS / "tables" / group
        learned_dirs[group] = folder
        for stale in folder.glob("*.json"):  # a curve holds this run's lambdas only
            stale.unlink()
        for lam in args.lambdas:
            began = time.perf_counter()
            result = learn_tables([models[m] for m in members], table_data, lam, init=50, hardness=args.hardness,
                                  quantizer=args.quantizer, epochs=args.epochs, progress=False)  # fmt: skip
            result.save(folder / f"lambda{lam:g}.json")
            last = result.history[-10:]
            learning.append({"group": group, "lambda": lam, "seconds": time.perf_counter() - began,
                             "task_loss": float(np.mean([h["task"] for h in last])),
                             "estimated_bpp": float(np.mean([h["bpp"] for h in last])),
                             "rounded_tables": result.rounded.to_dict()["luma"]})  # fmt: skip
            print(f"learned {group} lambda {lam:g}: task {learning[-1]['task_loss']:.3f},"
                  f" est. bpp {learning[-1]['estimated_bpp']:.3f} ({learning[-1]['seconds']:.0f} s)", flush=True)

    # Real files: baselines on every model, learned tables on their own models (universal: all three).
    sens_loader = DataLoader(Subset(train_plain, range(30_000, 40_000)), batch_size=500)
    everything = dict(models)
    points = []
    common = {"images": arrays, "labels": labels, "subsampling": "4:4:4", "workers": args.workers,
              "progress": False}  # fmt: skip
    for spec in (CodecSpec("ijg"), CodecSpec("mozjpeg")):
        points += evaluate_codecs([spec], models=everything, qualities=QUALITIES if spec.kind == "ijg" else
                                  MOZ_QUALITIES, **common)  # fmt: skip
        print(f"{spec.kind}: done ({time.perf_counter() - start:.0f} s)", flush=True)
    for name in LEARNED:
        sensitivity = frequency_sensitivity(models[name], sens_loader)
        for p in evaluate_codecs([CodecSpec("sensitivity")], models={name: models[name]}, scales=SCALES,
                                 sensitivity=sensitivity, **common):  # fmt: skip
            p.codec = f"sensitivity-{name}"
            points.append(p)
        points += evaluate_codecs([CodecSpec("learned", str(learned_dirs[name]))], models={name: models[name]},
                                  probabilistic_seeds=(0, 1, 2) if name == "resnet8" else (), **common)  # fmt: skip
        print(f"{name}: sensitivity and learned done ({time.perf_counter() - start:.0f} s)", flush=True)
    points += evaluate_codecs([CodecSpec("learned", str(learned_dirs["universal"]))], models=everything, **common)
    records = [p.to_dict() for p in points]

    # Rate-estimate calibration (E1): IJG sweep and learned tables against the real payload.
    calib = []
    for r in records:
        if r["codec"] == "ijg":
            tables = QuantTables.from_quality(int(r["setting"]))
        elif r["codec"].startswith("learned") and not r["codec"].endswith("+prob"):
            group = r["codec"].split(":", 1)[1]
            tables = QuantTables.load(learned_dirs[group] / f"{r['setting']}.json").rounded()
        else:
            continue
        calib.append({"codec": r["codec"], "setting": r["setting"], "payload_bpp": r["payload_bpp"],
                      "estimate_trained_h": calibration(test_images, tables, args.hardness),
                      "estimate_h2": calibration(test_images, tables, 2.0)})  # fmt: skip
    finish(args, time.perf_counter() - start, uncompressed, learning, records, calib, count)


def finish(args, seconds: float, uncompressed: dict, learning: list, records: list, calib: list, count: int,
           dropped: int = 0) -> None:  # fmt: skip
    """Comparisons against IJG, the rate-estimate calibration summary, the plot and the JSON."""
    comparisons = compare(records, uncompressed)
    prob = [r for r in records if r["codec"].endswith("+prob")]
    calibration_summary = {}
    for key in ("estimate_trained_h", "estimate_h2"):
        est, real = np.array([c[key] for c in calib]), np.array([c["payload_bpp"] for c in calib])
        calibration_summary[key] = {"spearman": float(spearmanr(est, real).statistic),
                                    "mean_ratio_estimate_over_payload": float(np.mean(est / real)),
                                    "mean_abs_relative_error": float(np.mean(np.abs(est / real - 1)))}  # fmt: skip
    plot = plot_rate_accuracy(records, RESULTS / "j4d_fashion_mnist.png", list(uncompressed),
                              uncompressed=uncompressed, title="Fashion-MNIST test set, real grayscale JPEG files")
    print(f"\nuncompressed accuracy: {uncompressed}")
    print(format_comparisons(comparisons))
    print("rate estimate vs real payload:", calibration_summary)
    settings = {k: v for k, v in vars(args).items() if k != "summarize_only"}
    path = write_results("j4d_fashion_mnist", {
        "description": "J4D learned tables vs IJG (libjpeg-turbo), mozjpeg and GRACE-like sensitivity tables on"
        " Fashion-MNIST; real grayscale JPEG files decoded by Pillow; BD metrics against IJG with PCHIP,"
        " accuracy ceiling = uncompressed - 0.2 points",
        "settings": settings | {"classifier": CLASSIFIER, "learned_for": LEARNED, "held_out": HELD_OUT,
                                "qualities": QUALITIES, "mozjpeg_qualities": MOZ_QUALITIES, "scales": SCALES,
                                "table_learning": "CE + lambda*bpp, Adam 0.05 on log steps, 30 batches of 256"
                                " per epoch (train images 30000-37679), init IJG q50", "test_images": count},
        "uncompressed_accuracy": uncompressed, "learning": learning, "points": records,
        "comparisons_vs_ijg": comparisons, "calibration": calib, "calibration_summary": calibration_summary,
        "probabilistic_points": len(prob), "plot": str(plot.relative_to(ROOT)),
        "points_dropped_by_summarize_only": dropped, "seconds": round(seconds, 1),
    })  # fmt: skip
    print(f"wrote {path} and {plot}")


if __name__ == "__main__":
    main()

"""J4D on Fashion-MNIST: learned JPEG tables for frozen classifiers against IJG JPEG, mozjpeg and
sensitivity tables, in real bytes and real accuracy.

- Classifiers, trained here with the project's trainer and cached under runs/bench-j4d/
  (gitignored): resnet8 and resnet14 (tables are learned for them; the first 30,000 training
  images, 5 epochs) and vgg8 (held out of all table learning; 10,000 images, 2 epochs: it is 2.7x
  slower per image), SGD 0.05 cosine, batch 128, seed 0, one thread.
- Tables learned on training images 30,000..30,383 (never seen by the classifiers nor the test
  set; a quarter held out inside the learner): the exact objective (cross-entropy on real
  decodes + lambda x entropy of the hard indices); method "search" (coordinate descent, 1 sweep)
  per model and "universal" (resnet8 + resnet14 together), method "gradient" (40 Adam steps of
  128 images, held-out check every 25) for resnet8.
- Encoders at the learned tables: libjpeg rounding (Pillow), RD-optimised rounding ("-rd") and
  probabilistic draws ("+prob", hardness 8, seed 0) for resnet8.
- Model-guided encoding (``jpegdl.j4d.guided``): per image, the coarsest tables of a ladder whose
  decode keeps the guiding model's output within ``max_kl`` nats (KL) of the uncompressed image's;
  ladders: the guide's sensitivity tables (24 scales, "guided:MODEL", files classified by every
  model to measure transfer) and IJG qualities 2..95 ("guided-ijg:MODEL", the guide only).
- Evaluation on the first 3,000 test images: real grayscale JPEG files (libjpeg-turbo through
  Pillow, baseline, optimized Huffman; mozjpeg 4.0.3 is progressive) decoded by Pillow and
  classified; rates: payload bpp (entropy-coded data, as when a dataset shares its tables) and
  whole-file bpp. BD metrics (PCHIP) against IJG, mozjpeg and the model's sensitivity tables,
  with a paired bootstrap 95 % interval on the payload BD-rate (1,000 resamples of the test images).

Run: python benchmarks/j4d_fashion_mnist.py   (writes results/j4d_fashion_mnist.json and .png)
     --summarize-only recomputes comparisons and the plot from the JSON's points.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_results

from jpegdl.data import create_dataset
from jpegdl.evaluate.bootstrap import bootstrap_bd_rates, format_bootstrap
from jpegdl.evaluate.codecs import CodecSpec
from jpegdl.evaluate.guided_points import guided_points
from jpegdl.evaluate.measurement import correct_per_image, evaluate_codecs
from jpegdl.evaluate.per_image import pack_flags, unpack_flags
from jpegdl.evaluate.report import compare, format_comparisons
from jpegdl.files import to_uint8
from jpegdl.j4d import learn_tables
from jpegdl.j4d.guided import quality_ladder, sensitivity_ladder
from jpegdl.plots import plot_rate_accuracy
from jpegdl.tables.sensitivity import frequency_sensitivity
from jpegdl.train import TrainConfig, Trainer, load_classifier

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "bench-j4d"
LEARNED, HELD_OUT = ("resnet8", "resnet14"), "vgg8"
CLASSIFIER = {"resnet8": {"epochs": 5, "limit_train": 30_000, "seed": 0},
              "resnet14": {"epochs": 5, "limit_train": 30_000, "seed": 0},
              "vgg8": {"epochs": 2, "limit_train": 10_000, "seed": 0}}  # vgg8: 2.7x slower per image
TABLE_IMAGES = range(30_000, 30_384)
QUALITIES = (5, 10, 15, 20, 30, 50, 70, 90)
MOZ_QUALITIES = (5, 10, 20, 30, 50, 70, 90)
SCALES = (1, 2, 4, 8, 16, 32, 64)
LAMBDAS = (0.01, 0.03, 0.1, 0.3)
GUIDED_THRESHOLDS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # max KL (nats) of the guided encoder
BOOTSTRAP_ROUNDS = 1000  # paired resamples of the test images for the BD-rate intervals


def classifier(model: str, settings: dict | None = None, prefix: str = "") -> tuple[torch.nn.Module, float]:
    """Train (or reuse) one classifier (``settings``: epochs, limit_train, seed; default
    ``CLASSIFIER[model]``) under ``runs/bench-j4d/PREFIXMODEL-seedS``; return it and its test accuracy."""
    settings = CLASSIFIER[model] if settings is None else settings
    out = RUNS / f"{prefix}{model}-seed{settings['seed']}"
    summary_file = out / "summary.json"
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        if any(summary["config"][k] != v for k, v in settings.items()):
            raise SystemExit(f"{out}: settings differ from {settings}; delete the folder")
    else:
        config = TrainConfig(model=model, dataset="fashion-mnist", batch_size=128, lr=0.05, schedule="cosine",
                             out=str(out), amp=False, device="cpu", **settings)  # fmt: skip
        summary = Trainer(config).fit()
    return load_classifier(out)[0], summary["test_acc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-test", type=int, default=3_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(LAMBDAS))
    parser.add_argument("--table-images", type=int, default=len(TABLE_IMAGES), help="a smaller number: smoke test")
    parser.add_argument("--held-out-model", default=HELD_OUT, help="smoke test: an already trained model")
    parser.add_argument("--name", default="j4d_fashion_mnist", help="results name (smoke tests: another one)")
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.summarize_only:
        previous = json.loads((RESULTS / f"{args.name}.json").read_text())
        clean = {name: unpack_flags(flags) for name, flags in previous.get("uncompressed_correct", {}).items()}
        finish(args.name, previous["settings"], previous["seconds"], clean, previous["learning"],
               previous["points"])  # fmt: skip
        return
    start = time.perf_counter()
    models, trained_acc = {}, {}
    for name in LEARNED:  # the held-out classifier is trained (or loaded) after table learning
        models[name], trained_acc[name] = classifier(name)

    train_plain, _ = create_dataset("fashion-mnist", "train", augment=False)
    table_images = range(TABLE_IMAGES.start, TABLE_IMAGES.start + args.table_images)
    table_data = DataLoader(Subset(train_plain, table_images), batch_size=256)
    test_set, _ = create_dataset("fashion-mnist", "test", augment=False)
    count = min(args.limit_test, len(test_set))
    test_images = torch.stack([test_set[i][0] for i in range(count)])
    labels = torch.tensor([test_set[i][1] for i in range(count)])
    arrays = [to_uint8(image) for image in test_images]

    # Learn tables: search per model and universal, gradient for resnet8; one lambda sweep each.
    runs = [(name, [name], "search") for name in LEARNED] + [("universal", list(LEARNED), "search"),
                                                              ("resnet8", ["resnet8"], "gradient")]  # fmt: skip
    folders, learning = {}, []
    for group, members, method in runs:
        folder = RUNS / "tables" / args.name / f"{group}-{method}"
        folders[(group, method)] = folder
        for stale in folder.glob("*.json"):  # a curve holds this run's lambdas only
            stale.unlink()
        for lam in args.lambdas:
            result = learn_tables([models[m] for m in members], table_data, lam, method=method, sweeps=1, steps=40,
                                  batch_size=128, progress=False)  # fmt: skip
            result.save(folder / f"lambda{lam:g}.json")
            scores = result.history[-1]["scores"]
            learning.append({"group": group, "method": method, "lambda": lam, "seconds": result.settings["seconds"],
                             "chosen": result.settings["chosen"], "held_out": scores,
                             "rounded_luma": result.rounded().luma.tolist()})  # fmt: skip
            start_obj, end_obj = scores["warm_start"]["objective"], scores[result.settings["chosen"]]["objective"]
            print(f"learned {group} {method} lambda {lam:g}: held-out objective {start_obj:.4f} -> {end_obj:.4f}"
                  f" ({result.settings['chosen']}, {result.settings['seconds']:.0f} s)", flush=True)

    held_out = args.held_out_model
    models[held_out], trained_acc[held_out] = classifier(held_out)
    print("classifiers (10,000 test images):", {k: round(v, 4) for k, v in trained_acc.items()}, flush=True)
    clean = correct_per_image(models, test_images, labels)

    # Real files.
    common = {"images": arrays, "labels": labels, "subsampling": "4:4:4", "workers": 1, "progress": False}
    points = []
    for spec, qualities in ((CodecSpec("ijg"), QUALITIES), (CodecSpec("mozjpeg"), MOZ_QUALITIES)):
        points += evaluate_codecs([spec], models=models, qualities=qualities, **common)
        print(f"{spec.kind}: done ({time.perf_counter() - start:.0f} s)", flush=True)
    sens_loader = DataLoader(Subset(train_plain, table_images), batch_size=256)
    guided_seconds = {}
    for name in models:
        own = {name: models[name]}
        sensitivity = frequency_sensitivity(models[name], sens_loader, limit=None)
        points += evaluate_codecs([CodecSpec("sensitivity")], models=own, scales=SCALES, sensitivity=sensitivity,
                                  **common)  # fmt: skip
        specs = []
        if name in LEARNED:
            folder = folders[(name, "search")]
            specs = [CodecSpec("learned", str(folder), "learned-search"),
                     CodecSpec("learned-rd", str(folder), "learned-search-rd")]  # fmt: skip
            if name == "resnet8":
                specs.append(CodecSpec("learned", str(folders[(name, "gradient")]), "learned-gradient"))
        points += evaluate_codecs(specs, models=own, probabilistic_seeds=(0,) if name == "resnet8" else (),
                                  **common)  # fmt: skip
        print(f"{name}: sensitivity and learned done ({time.perf_counter() - start:.0f} s)", flush=True)
        guided = time.perf_counter()
        points += guided_points(models[name], sensitivity_ladder(sensitivity), GUIDED_THRESHOLDS, arrays, labels,
                                models, codec=f"guided:{name}")  # fmt: skip
        points += guided_points(models[name], quality_ladder(), GUIDED_THRESHOLDS, arrays, labels, own,
                                codec=f"guided-ijg:{name}")  # fmt: skip
        guided_seconds[name] = round(time.perf_counter() - guided, 1)
        print(f"{name}: guided done ({guided_seconds[name]:.0f} s for both ladders, 3 models)", flush=True)
    points += evaluate_codecs([CodecSpec("learned", str(folders[("universal", "search")]), "universal")],
                              models=models, **common)  # fmt: skip
    settings = vars(args) | {"classifier": CLASSIFIER, "learned_for": LEARNED, "held_out": held_out,
                             "qualities": QUALITIES, "mozjpeg_qualities": MOZ_QUALITIES, "scales": SCALES,
                             "table_images": [table_images.start, table_images.stop], "test_images": count,
                             "trained_test_accuracy_10k": trained_acc, "guided_thresholds": GUIDED_THRESHOLDS,
                             "guided_seconds": guided_seconds}  # fmt: skip
    settings.pop("summarize_only")
    records = [p.to_dict() for p in points]
    # The measurements first (--summarize-only recomputes everything else from them), then the summary.
    write_results(args.name, {"settings": settings, "seconds": round(time.perf_counter() - start, 1),
                              "learning": learning, "points": records,
                              "uncompressed_correct": {name: pack_flags(right) for name, right in clean.items()}})
    finish(args.name, settings, time.perf_counter() - start, clean, learning, records)


def finish(name: str, settings: dict, seconds: float, clean: dict, learning: list, records: list) -> None:
    """Comparisons against IJG, mozjpeg and sensitivity tables (with paired bootstrap intervals on the
    payload BD-rate), the plot and the JSON. ``clean``: model -> per-image right answers uncompressed."""
    uncompressed = {name: float(right.mean()) for name, right in clean.items()}
    references = ("ijg", "mozjpeg", "sensitivity")
    comparisons = {ref: compare(records, uncompressed, ref) for ref in references}
    pixels = 28 * 28
    bootstrap = {ref: bootstrap_bd_rates(records, clean, pixels, ref, rounds=BOOTSTRAP_ROUNDS) for ref in references}
    plot = plot_rate_accuracy(records, RESULTS / f"{name}.png", list(uncompressed),
                              rate_keys=("payload_bpp",), uncompressed=uncompressed,
                              title="Fashion-MNIST test set (3,000 images), real grayscale JPEG files")  # fmt: skip
    print(f"\nuncompressed accuracy: {uncompressed}")
    for ref, rows in comparisons.items():
        print(f"\nagainst {ref}:")
        print(format_comparisons(rows))
        print(format_bootstrap(bootstrap[ref]))
    path = write_results(name, {
        "description": "J4D learned tables vs IJG (libjpeg-turbo), mozjpeg and sensitivity tables on Fashion-MNIST;"
        " real grayscale JPEG files decoded by Pillow; BD metrics with PCHIP, accuracy ceiling = uncompressed - 0.2"
        " points",
        "settings": settings, "uncompressed_accuracy": uncompressed, "learning": learning, "points": records,
        "comparisons": comparisons, "bootstrap_rounds": BOOTSTRAP_ROUNDS, "bootstrap": bootstrap,
        "uncompressed_correct": {name: pack_flags(right) for name, right in clean.items()},
        "plot": str(plot.relative_to(ROOT)), "seconds": round(seconds, 1),
    })  # fmt: skip
    print(f"wrote {path} and {plot}")


if __name__ == "__main__":
    main()

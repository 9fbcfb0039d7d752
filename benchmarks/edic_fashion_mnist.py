"""DNN-oriented EDIC vs J4D tables vs IJG on Fashion-MNIST: rate-accuracy of one frozen classifier.

Classifier: resnet8, 5 epochs on the first 30,000 training images (the J4D benchmark's, shared
through runs/bench-j4d/resnet8-seed0). Codecs, each fitted to that classifier on training images
it was not trained on:

- EDIC for the classifier (``jpegdl.edic.task``): a small EDIC (N 32, M 48, 3 mixture components,
  attention, one enhancement group) trained from scratch on rate + w x the classifier's
  cross-entropy on the reconstruction, for w in {1, 3, 10, 30}; 1,000 Adam steps (lr 5e-4) of
  16 images drawn from training images 30,000..39,999; images go through as RGB padded to 64x64.
- J4D tables: ``learn_tables`` (search) on training images 30,000..30,383 at lambda in
  {0.01, 0.03, 0.1, 0.3}, written by libjpeg-turbo.
- Sensitivity tables (closed form) and IJG's quality sweep.

Every point is the first 2,000 test images as real files (``.edic`` strings; grayscale baseline
JPEG), decoded by the codec's decoder, classified. BD-rate on the payload (entropy-coded bytes,
no headers) against IJG; the training time of each codec is reported.

Run: python benchmarks/edic_fashion_mnist.py [--steps 1000 --limit-test 2000 --threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_results
from j4d_fashion_mnist import classifier

from jpegdl.data import create_dataset
from jpegdl.edic import CodecConfig
from jpegdl.edic.training import TrainSettings, train_task_codec
from jpegdl.evaluate.codecs import parse_codecs
from jpegdl.evaluate.measurement import classify, evaluate_codecs
from jpegdl.evaluate.report import compare, format_comparisons
from jpegdl.files import to_uint8
from jpegdl.j4d import learn_tables
from jpegdl.plots import plot_rate_accuracy
from jpegdl.tables.sensitivity import frequency_sensitivity

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "bench-edic-fm"
CONFIG = CodecConfig(channels=32, latent_channels=48, enhance_channels=16, enhance_blocks=1)
TASK_WEIGHTS = (1.0, 3.0, 10.0, 30.0)
CODEC_IMAGES = range(30_000, 40_000)
TABLE_IMAGES = range(30_000, 30_384)
LAMBDAS = (0.01, 0.03, 0.1, 0.3)
QUALITIES = (5, 10, 15, 20, 30, 50, 70, 90)
SCALES = (1, 2, 4, 8, 16, 32, 64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--limit-test", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model, trained_acc = classifier("resnet8")
    train_plain, _ = create_dataset("fashion-mnist", "train", augment=False)
    codec_data = [train_plain[i] for i in CODEC_IMAGES]
    images = torch.stack([item[0] for item in codec_data])
    labels = torch.tensor([int(item[1]) for item in codec_data])

    training = []
    edic_folder = RUNS / "edic-task"
    for weight in TASK_WEIGHTS:
        settings = TrainSettings(lmbda=0.0, task_weight=weight, steps=args.steps, batch_size=16, lr=5e-4,
                                 checkpoint_every=250)  # fmt: skip
        began = time.perf_counter()
        _, history = train_task_codec(CONFIG, settings, images, labels, model, edic_folder / f"task-{weight:g}",
                                      resume=True, progress=False)  # fmt: skip
        last = history[-100:]
        row = {"task_weight": weight, "seconds": round(time.perf_counter() - began, 1),
               "train_bpp": sum(r["bpp"] for r in last) / len(last),
               "train_cross_entropy": sum(r["task"] for r in last) / len(last)}  # fmt: skip
        training.append(row)
        print(f"EDIC task weight {weight:g}: training bpp {row['train_bpp']:.3f}, cross-entropy"
              f" {row['train_cross_entropy']:.3f} ({row['seconds']:.0f} s)", flush=True)  # fmt: skip

    table_data = DataLoader(Subset(train_plain, TABLE_IMAGES), batch_size=256)
    tables_folder = RUNS / "j4d-tables"
    for lam in LAMBDAS:
        began = time.perf_counter()
        result = learn_tables(model, table_data, lam, method="search", sweeps=1, progress=False)
        result.save(tables_folder / f"lambda{lam:g}.json")
        training.append({"j4d_lambda": lam, "seconds": round(time.perf_counter() - began, 1)})
        print(f"J4D lambda {lam:g}: {time.perf_counter() - began:.0f} s", flush=True)

    test_set, _ = create_dataset("fashion-mnist", "test", augment=False)
    count = min(args.limit_test, len(test_set))
    test_images = torch.stack([test_set[i][0] for i in range(count)])
    test_labels = torch.tensor([int(test_set[i][1]) for i in range(count)])
    models = {"resnet8": model}
    uncompressed = classify(models, test_images, test_labels)
    sensitivity = frequency_sensitivity([model], DataLoader(Subset(train_plain, range(30_000, 40_000)),
                                                            batch_size=256), "4:4:4")  # fmt: skip
    specs = parse_codecs(f"ijg,sensitivity,learned:{tables_folder},edic:{edic_folder}")
    points = evaluate_codecs(specs, [to_uint8(i) for i in test_images], test_labels, models, qualities=QUALITIES,
                             scales=SCALES, sensitivity=sensitivity, progress=False)  # fmt: skip
    records = [p.to_dict() for p in points]
    comparisons = compare(records, uncompressed, "ijg")
    plot = plot_rate_accuracy(records, RESULTS / "edic_fashion_mnist.png", list(models), rate_keys=("payload_bpp",),
                              uncompressed=uncompressed, title=f"Fashion-MNIST test set ({count} images), resnet8")
    print(f"\nuncompressed accuracy {uncompressed}; classifier test accuracy (10,000 images) {trained_acc:.4f}")
    for point in records:
        print(f"{point['codec']:>24} {point['setting']!s:>14} payload {point['payload_bpp']:.3f} bpp,"
              f" file {point['bpp']:.3f} bpp, accuracy {100 * point['accuracy']['resnet8']:.2f}%")
    print(format_comparisons(comparisons))
    seconds = round(time.perf_counter() - start, 1)
    print(f"wall time {seconds:.0f} s")
    path = write_results("edic_fashion_mnist", {
        "description": "EDIC trained for a frozen resnet8 (rate + w x cross-entropy) vs J4D learned tables, sensitivity"
        " tables and IJG on Fashion-MNIST; real files decoded by each codec's decoder; BD-rate on the payload",
        "settings": {"codec": CONFIG.to_dict(), "task_weights": TASK_WEIGHTS, "steps": args.steps, "batch_size": 16,
                     "lr": 5e-4, "codec_images": [CODEC_IMAGES.start, CODEC_IMAGES.stop],
                     "table_images": [TABLE_IMAGES.start, TABLE_IMAGES.stop], "lambdas": LAMBDAS,
                     "test_images": count, "threads": args.threads},
        "uncompressed_accuracy": uncompressed, "training": training, "points": records,
        "comparisons": comparisons, "plot": str(plot.relative_to(ROOT)), "seconds": seconds,
    })  # fmt: skip
    print(f"wrote {path} and {plot}")


if __name__ == "__main__":
    main()

"""Distillation on Fashion-MNIST: a resnet20 teacher, a resnet8 student, six ways to train the student.

Teacher: resnet20 on all 60,000 training images, 6 epochs (SGD 0.05 cosine, batch 128), a
checkpoint kept every 2 epochs (RCO's route: epochs 2, 4, 6). Students: resnet8 on the first
20,000 training images, 5 epochs, the same optimiser, seeds 0-2 - the JPEG-DL benchmark's
recipe, so "student alone" is its baseline. Methods with their default weights
(``jpegdl.distill.objective``): KD (0.1 CE + 0.9 KD, T 4), TTM (gamma 0.25, beta 36), WTTM
(gamma 0.25, beta 36 / U-bar), CCKD (KD + 1 x correlation congruence, 4 images per class per
batch), RCO (KD along the 3 anchors), and WTTM with a JPEG-DL student (layer alpha 1,
IJG-90 init). Test accuracy on the full 10,000-image test set; mean +- std over seeds.

Run: python benchmarks/distill_fashion_mnist.py [--seeds 0 1 2 --methods ...]   (about 1 hour
on 2 CPU cores; finished runs in runs/bench-distill are reused when their settings match).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results

from jpegdl.train import TrainConfig, Trainer

RUNS = Path(__file__).resolve().parent.parent / "runs" / "bench-distill"
STUDENT = {"model": "resnet8", "epochs": 5, "limit_train": 20_000}
TEACHER = {"model": "resnet20", "epochs": 6, "limit_train": None, "save_every": 2}
COMMON = {"dataset": "fashion-mnist", "batch_size": 128, "lr": 0.05, "schedule": "cosine", "amp": False}
JPEG_STUDENT = {"jpeg": {"quality": 90, "alpha": 1.0, "step_min": 1.0}}
METHODS = {
    "student": {},
    "kd": {"distill": "kd"},
    "ttm": {"distill": "ttm"},
    "wttm": {"distill": "wttm"},
    "cckd": {"distill": "cckd"},
    "rco": {"distill": "rco"},
    "wttm+jpeg": {"distill": "wttm"} | JPEG_STUDENT,
}


def train(config: TrainConfig) -> dict:
    """Train, or reuse a finished run of the same configuration."""
    finished = Path(config.out) / "summary.json"
    if finished.is_file():
        summary = json.loads(finished.read_text())
        if summary["config"] == config.to_dict():
            return summary
    return Trainer(config, overwrite=True).fit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when sharing the CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    teacher_out = RUNS / "teacher-resnet20"
    teacher = train(TrainConfig(**COMMON, **TEACHER, seed=0, out=str(teacher_out)))
    print(f"teacher resnet20: test acc {teacher['test_acc']:.4f}", flush=True)
    runs = []
    for method in args.methods:
        for seed in args.seeds:
            options = METHODS[method] | ({"teacher": str(teacher_out)} if "distill" in METHODS[method] else {})
            config = TrainConfig(**COMMON, **STUDENT, **options, seed=seed, out=str(RUNS / f"{method}-seed{seed}"))
            summary = train(config)
            runs.append({"method": method, "seed": seed, "test_acc": summary["test_acc"],
                         "test_acc_hard": summary.get("test_acc_hard"), "distill": summary.get("distill"),
                         "mean_epoch_seconds": summary["mean_epoch_seconds"]})  # fmt: skip
            print(f"{method:10} seed {seed}: test acc {summary['test_acc']:.4f}", flush=True)
    rows = {}
    for method in args.methods:
        acc = np.array([r["test_acc"] for r in runs if r["method"] == method])
        seconds = np.mean([r["mean_epoch_seconds"] for r in runs if r["method"] == method])
        rows[method] = {"runs": len(acc), "test_acc_mean": float(acc.mean()),
                        "test_acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                        "epoch_seconds_mean": float(seconds)}  # fmt: skip
    alone = rows.get("student", {}).get("test_acc_mean")
    print(f"\nteacher resnet20 (60000 images, 6 epochs): {100 * teacher['test_acc']:.2f}%; student resnet8 on 20000"
          f" images, 5 epochs; Fashion-MNIST test set (10000); seeds {args.seeds}")  # fmt: skip
    print(f"{'method':12} {'test acc (%)':>16} {'vs alone':>9} {'s/epoch':>8}")
    for method, row in rows.items():
        delta = "" if alone is None else f"{100 * (row['test_acc_mean'] - alone):+9.2f}"
        print(f"{method:12} {100 * row['test_acc_mean']:>9.2f} +- {100 * row['test_acc_std']:.2f} {delta:>9}"
              f" {row['epoch_seconds_mean']:>8.1f}")  # fmt: skip
    path = write_results(
        "distill_fashion_mnist",
        {
            "description": "resnet20 teacher (60k images, 6 epochs, anchors every 2 epochs) -> resnet8 student"
            " (20k images, 5 epochs); default weights of jpegdl.distill; full Fashion-MNIST test set",
            "settings": {"student": STUDENT | COMMON, "teacher": TEACHER | COMMON, "jpeg_student": JPEG_STUDENT,
                         "seeds": args.seeds},
            "teacher_test_acc": teacher["test_acc"],
            "summary": rows,
            "runs": runs,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

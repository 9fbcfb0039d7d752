"""Distillation on Fashion-MNIST: a resnet20 teacher, a resnet8 student, paired by seed.

Teacher: resnet20 on all 60,000 training images, 4 epochs (SGD 0.05 cosine, batch 128), a
checkpoint kept every 2 epochs (RCO's route). Students: resnet8 on the first 20,000 training
images, 4 epochs, the same optimiser. The teacher therefore learned from 40,000 images that no
student sees: every gain over "student alone" includes that extra data, passed on through the
teacher's outputs, and is not the gain a teacher trained on the students' 20,000 images would
give (not measured). The distillation methods are compared with this one teacher.
Every method of a seed sees the same initial weights and the same data order as "student alone"
of that seed, so the benchmark reports paired differences (mean, std, 95 % t-interval over the
seeds; "*" when the interval excludes zero).

Methods run with the package's defaults (``jpegdl.distill.DistillSettings``): KD (0.1 CE + 0.9 KD,
T 4), TTM (CE 1/15, gamma 0.5, beta 2.4), WTTM (CE 1/15, gamma 0.5, beta 2.4 / U-bar), as
recorded per run in the results JSON; optional CCKD, RCO and WTTM with a JPEG-DL student.

``--tune``: the grid that chose TTM's and WTTM's defaults, at a smaller budget (the first 10,000
training images, 3 epochs) on a validation split (3,000 of those images, never trained on; the
test set is not touched; the teacher has seen them, alike for every arm). Writes
``distill_fashion_mnist_tuning.json``.

Run: python benchmarks/distill_fashion_mnist.py [--seeds 0 1 2 3 4]; the grid: --tune --seeds 0 1
(finished runs in runs/bench-distill are reused when their settings match).
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
from common import format_interval, paired_interval, write_results

from jpegdl.train import TrainConfig, Trainer

RUNS = Path(__file__).resolve().parent.parent / "runs" / "bench-distill"
STUDENT = {"model": "resnet8", "epochs": 4, "limit_train": 20_000}
TUNING_STUDENT = {"model": "resnet8", "epochs": 3, "limit_train": 10_000}
TEACHER = {"model": "resnet20", "epochs": 4, "limit_train": None, "save_every": 2}
COMMON = {"dataset": "fashion-mnist", "batch_size": 128, "lr": 0.05, "schedule": "cosine", "amp": False}
JPEG_STUDENT = {"jpeg": True}
METHODS = {
    "student": {},
    "kd": {"distill": "kd"},
    "ttm": {"distill": "ttm"},
    "wttm": {"distill": "wttm"},
    "cckd": {"distill": "cckd"},
    "rco": {"distill": "rco"},
    "wttm+jpeg": {"distill": "wttm"} | JPEG_STUDENT,
}
VALIDATION = 3_000
TUNING_GRID = {  # the CE weight stays at 1/15; "default" = the package's beta (WTTM: 2.4 / U-bar, about 1)
    "ttm-b1.2": {"distill": {"method": "ttm", "beta": 1.2}},
    "ttm-default": {"distill": "ttm"},
    "ttm-b4.8": {"distill": {"method": "ttm", "beta": 4.8}},
    "ttm-g0.5": {"distill": {"method": "ttm", "gamma": 0.5}},
    "wttm-b0.5": {"distill": {"method": "wttm", "beta": 0.5}},
    "wttm-default": {"distill": "wttm"},
    "wttm-b2": {"distill": {"method": "wttm", "beta": 2.0}},
    "wttm-g0.5": {"distill": {"method": "wttm", "gamma": 0.5}},
}


def train(config: TrainConfig) -> dict:
    """Train, or reuse a finished run of the same configuration."""
    finished = Path(config.out) / "summary.json"
    if finished.is_file():
        summary = json.loads(finished.read_text())
        if summary["config"] == config.to_dict():
            return summary
    return Trainer(config, overwrite=True).fit()


def run_arms(arms: dict[str, dict], seeds: list[int], teacher: Path, folder: str, metric: str, student: dict,
             **extra) -> list[dict]:  # fmt: skip
    """Train every arm for every seed; one row per run with ``metric`` as ``acc``."""
    runs = []
    for seed in seeds:
        for name, options in arms.items():
            options = options | ({"teacher": str(teacher)} if "distill" in options else {})
            out = RUNS / folder / f"{name}-seed{seed}"
            summary = train(TrainConfig(**COMMON, **student, **options, **extra, seed=seed, out=str(out)))
            runs.append({"method": name, "seed": seed, "acc": summary[metric],
                         "acc_hard": summary.get(f"{metric}_hard"), "distill": summary.get("distill"),
                         "mean_epoch_seconds": summary["mean_epoch_seconds"]})  # fmt: skip
            print(f"seed {seed} {name:16} {metric} {summary[metric]:.4f}", flush=True)
    return runs


def paired_table(runs: list[dict], names: list[str], reference: str, pairs: list[tuple[str, str]]) -> dict:
    """Per-method mean/std, and paired intervals of every method against ``reference`` and of ``pairs``."""
    by = {name: {r["seed"]: r for r in runs if r["method"] == name} for name in names}
    seeds = sorted(set.intersection(*(set(v) for v in by.values())))
    rows = {}
    for name in names:
        acc = np.array([by[name][s]["acc"] for s in seeds])
        rows[name] = {"runs": len(acc), "acc_mean": float(acc.mean()),
                      "acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                      "epoch_seconds_mean": float(np.mean([by[name][s]["mean_epoch_seconds"] for s in seeds]))}
        if name != reference:
            rows[name]["minus_" + reference] = paired_interval([by[name][s]["acc"] - by[reference][s]["acc"]
                                                                 for s in seeds])  # fmt: skip
    steps = {f"{a}_minus_{b}": paired_interval([by[a][s]["acc"] - by[b][s]["acc"] for s in seeds])
             for a, b in pairs if a in by and b in by}  # fmt: skip
    return {"seeds": seeds, "methods": rows, "pairs": steps}


def print_table(table: dict, reference: str, label: str) -> None:
    print(f"{'method':18} {label + ' (%)':>16} {'vs ' + reference + ' (points, 95% CI)':>34} {'s/epoch':>8}")
    for name, row in table["methods"].items():
        delta = format_interval(row["minus_" + reference]) if "minus_" + reference in row else ""
        print(f"{name:18} {100 * row['acc_mean']:>9.2f} +- {100 * row['acc_std']:.2f} {delta:>34}"
              f" {row['epoch_seconds_mean']:>8.1f}")  # fmt: skip
    for name, entry in table["pairs"].items():
        print(f"{name:18} {format_interval(entry):>52}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=["student", "kd", "ttm", "wttm"])
    parser.add_argument("--tune", action="store_true", help="the validation grid for TTM/WTTM instead")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when sharing the CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    teacher_out = RUNS / "teacher-resnet20"
    teacher = train(TrainConfig(**COMMON, **TEACHER, seed=0, out=str(teacher_out)))
    print(f"teacher resnet20: test acc {teacher['test_acc']:.4f}", flush=True)
    if args.tune:
        arms = {"student": {}, "kd": {"distill": "kd"}} | TUNING_GRID
        runs = run_arms(arms, args.seeds, teacher_out, "tune", "val_acc", TUNING_STUDENT, validation=VALIDATION)
        table = paired_table(runs, list(arms), "kd", [])
        print(f"\nvalidation ({VALIDATION} of the first {TUNING_STUDENT['limit_train']} images), seeds {args.seeds}")
        print_table(table, "kd", "val acc")
        name, settings = "distill_fashion_mnist_tuning", {"grid": TUNING_GRID, "validation": VALIDATION,
                                                          "tuning_student": TUNING_STUDENT}
    else:
        runs = run_arms({m: METHODS[m] for m in args.methods}, args.seeds, teacher_out, "test", "test_acc", STUDENT)
        pairs = [("kd", "student"), ("ttm", "kd"), ("wttm", "ttm"), ("wttm", "kd")]
        table = paired_table(runs, args.methods, "student", pairs)
        print(f"\nteacher resnet20 (60000 images, {TEACHER['epochs']} epochs): {100 * teacher['test_acc']:.2f}%;"
              f" student resnet8 on {STUDENT['limit_train']} images, {STUDENT['epochs']} epochs; Fashion-MNIST test"
              f" set (10000); seeds {args.seeds}")  # fmt: skip
        print_table(table, "student", "test acc")
        name, settings = "distill_fashion_mnist", {"methods": {m: METHODS[m] for m in args.methods}}
    seconds = round(time.perf_counter() - start, 1)
    epochs = (TUNING_STUDENT if args.tune else STUDENT)["epochs"]
    training_seconds = round(sum(r["mean_epoch_seconds"] * epochs for r in runs), 1)
    print(f"wall time {seconds:.0f} s (training epochs of all students: {training_seconds:.0f} s; runs reused)")
    path = write_results(
        name,
        {
            "description": "resnet20 teacher -> resnet8 student on Fashion-MNIST; methods paired by seed (same"
            " initial weights and data order); differences with 95 % t-intervals over seeds",
            "settings": settings | {"student": STUDENT | COMMON, "teacher": TEACHER | COMMON, "seeds": args.seeds,
                                    "threads": args.threads},
            "teacher_test_acc": teacher["test_acc"],
            "table": table,
            "runs": runs,
            "seconds": seconds,
            "training_seconds": training_seconds,
        },
    )  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""JPEG-DL on Fashion-MNIST: the same model and budget with and without the trainable JPEG layer,
paired by seed.

Default budget: resnet8, all 60,000 training images, 2 epochs, SGD lr 0.05 cosine, batch 128,
seeds 0-4; evaluation on the full 10,000-image test set. The layer uses the package's defaults
(``jpegdl.runs.JPEGConfig``: IJG quality-50 initial tables, log-space steps in [1, 255] trained
by Adam at 3e-3, soft quantizer alpha 5). Each seed's two runs share initial weights and data
order, so the gain is a paired difference: mean, std and 95 % t-interval over seeds ("*" when it
excludes zero). Also reported: accuracy with hard quantization (what real JPEG files with the
rounded tables give), bits per pixel of the test set written as real JPEG files, how far the
tables moved, and the epoch-time overhead.

Run: python benchmarks/jpegdl_fashion_mnist.py [--epochs 2 --seeds 0 1 2 3 4]
Variants: --jpeg-init sensitivity --q-max 10 --tag sensitivity (the sensitivity initialisation
reads the baseline run of the same seed), --jpeg-quality 90, --alpha 1.
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

RUNS = Path(__file__).resolve().parent.parent / "runs" / "bench-jpegdl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit-train", type=int, default=None, help="first N training images (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jpeg-quality", type=int, default=50)
    parser.add_argument("--alpha", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1, help="quantization rounds of the layer")
    parser.add_argument("--jpeg-init", default="ijg", choices=("ijg", "lsq", "sensitivity"))
    parser.add_argument("--q-max", type=float, default=10.0, help="largest luma step of the sensitivity init")
    parser.add_argument("--tag", default="", help="suffix of the results file and JPEG run folders")
    parser.add_argument("--reuse-baseline", action="store_true", help="reuse finished baseline runs")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when sharing the CPU)")
    args = parser.parse_args()
    suffix = f"-{args.tag}" if args.tag else ""
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    runs = []
    arms = [(seed, jpeg) for seed in args.seeds for jpeg in (False, True)]
    if args.reuse_baseline:  # the layer's runs first: the baselines may still be finishing in another process
        arms.sort(key=lambda arm: not arm[1])
    for seed, jpeg in arms:
        base_run = RUNS / f"base-seed{seed}"
        config = TrainConfig(
            model=args.model, dataset="fashion-mnist", epochs=args.epochs, batch_size=128, lr=0.05,
            schedule="cosine", seed=seed, limit_train=args.limit_train,
            jpeg={"init": args.jpeg_init, "quality": args.jpeg_quality, "alpha": args.alpha, "step_min": 1.0,
                  "rounds": args.rounds, "q_max": args.q_max,
                  "sensitivity_run": str(base_run) if args.jpeg_init == "sensitivity" else None} if jpeg else None,
            out=str(RUNS / f"jpeg{suffix}-seed{seed}") if jpeg else str(base_run), amp=False,
        )  # fmt: skip
        finished = Path(config.out) / "summary.json"
        summary = json.loads(finished.read_text()) if finished.is_file() else None
        if summary is not None and not jpeg and args.reuse_baseline:
            if {k: summary["config"][k] for k in ("model", "epochs", "seed", "limit_train")} != {
                "model": args.model,
                "epochs": args.epochs,
                "seed": seed,
                "limit_train": args.limit_train,
            }:
                raise SystemExit(f"{finished}: baseline settings differ; run without --reuse-baseline")
        elif summary is None or summary["config"] != config.to_dict():  # reuse only the very same run
            summary = Trainer(config, overwrite=True).fit()
        runs.append(
            {
                "seed": seed,
                "jpeg": jpeg,
                "test_acc": summary["test_acc"],
                "test_acc_hard": summary["test_acc_hard"],
                "mean_epoch_seconds": summary["mean_epoch_seconds"],
                "test_files": summary.get("test_files"),
                "tables_rounded": summary.get("tables_rounded"),
                "tables_movement": summary.get("tables_movement"),
            }
        )
        print(f"seed {seed} {'JPEG-DL ' if jpeg else 'baseline'}: test acc {summary['test_acc']:.4f}", flush=True)
    rows = {}
    for jpeg in (False, True):
        group = [r for r in runs if r["jpeg"] == jpeg]
        acc = np.array([r["test_acc"] for r in group])
        row = {
            "runs": len(group),
            "test_acc_mean": float(acc.mean()),
            "test_acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            "epoch_seconds_mean": float(np.mean([r["mean_epoch_seconds"] for r in group])),
        }
        if jpeg:
            hard = np.array([r["test_acc_hard"] for r in group])
            movement = [r["tables_movement"] for r in group]
            row |= {
                "test_acc_hard_mean": float(hard.mean()),
                "test_acc_hard_std": float(hard.std(ddof=1)) if len(hard) > 1 else 0.0,
                "bpp_mean": float(np.mean([r["test_files"]["bpp"] for r in group])),
                "payload_bpp_mean": float(np.mean([r["test_files"]["payload_bpp"] for r in group])),
                "movement_mean_abs_log_ratio": float(np.mean([m["mean_abs_log_ratio"] for m in movement])),
                "movement_rounded_changed_fraction": float(np.mean([m["rounded_changed_fraction"] for m in movement])),
            }
        rows["jpeg" if jpeg else "baseline"] = row
    base, layer = rows["baseline"], rows["jpeg"]
    by_seed = {(r["seed"], r["jpeg"]): r for r in runs}
    gain = paired_interval([by_seed[s, True]["test_acc"] - by_seed[s, False]["test_acc"] for s in args.seeds])
    gain_hard = paired_interval([by_seed[s, True]["test_acc_hard"] - by_seed[s, False]["test_acc"]
                                 for s in args.seeds])  # fmt: skip
    overhead = 100 * (layer["epoch_seconds_mean"] / base["epoch_seconds_mean"] - 1)
    images = args.limit_train or 60_000
    print(f"\n{args.model}, Fashion-MNIST ({images} train images, full test set), {args.epochs} epochs,"
          f" seeds {args.seeds}")  # fmt: skip
    print(f"{'':10} {'test acc (soft)':>18} {'test acc (hard)':>18} {'bpp file':>9} {'bpp payload':>11} {'s/epoch':>8}")
    print(f"{'baseline':10} {100 * base['test_acc_mean']:>11.2f} +- {100 * base['test_acc_std']:.2f}"
          f" {'-':>18} {'-':>9} {'-':>11} {base['epoch_seconds_mean']:>8.1f}")  # fmt: skip
    print(f"{'JPEG-DL':10} {100 * layer['test_acc_mean']:>11.2f} +- {100 * layer['test_acc_std']:.2f}"
          f" {100 * layer['test_acc_hard_mean']:>11.2f} +- {100 * layer['test_acc_hard_std']:.2f}"
          f" {layer['bpp_mean']:>9.3f} {layer['payload_bpp_mean']:>11.3f}"
          f" {layer['epoch_seconds_mean']:>8.1f}")  # fmt: skip
    print(f"paired gain, points (95% CI): soft {format_interval(gain)}, hard {format_interval(gain_hard)}")
    print(f"tables moved: mean |log(q/q0)| {layer['movement_mean_abs_log_ratio']:.3f},"
          f" {100 * layer['movement_rounded_changed_fraction']:.0f}% of the rounded steps changed;"
          f" epoch-time overhead {overhead:+.1f}%")  # fmt: skip
    seconds = round(time.perf_counter() - start, 1)
    training_seconds = round(sum(r["mean_epoch_seconds"] * args.epochs for r in runs), 1)
    print(f"wall time {seconds:.0f} s (training epochs of all runs: {training_seconds:.0f} s; finished runs reused)")
    path = write_results(
        f"jpegdl_fashion_mnist{suffix.replace('-', '_')}",
        {
            "description": "same model and budget with and without the JPEG-DL layer; test accuracy on the full"
            " Fashion-MNIST test set; bpp of the test set as real JPEG files (libjpeg-turbo, grayscale,"
            " optimized Huffman) with the rounded learned tables; hard = accuracy with hard quantization",
            "settings": vars(args) | {"batch_size": 128, "lr": 0.05, "schedule": "cosine", "table_lr": 3e-3,
                                      "threads": torch.get_num_threads()},
            "summary": rows,
            "paired_gain": gain,
            "paired_gain_hard": gain_hard,
            "epoch_overhead_percent": overhead,
            "runs": runs,
            "seconds": seconds,
            "training_seconds": training_seconds,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

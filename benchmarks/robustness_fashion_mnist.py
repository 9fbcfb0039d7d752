"""Robustness of JPEG-DL on Fashion-MNIST: white-box FGSM and PGD against baseline and JPEG-DL runs.

Models: the resnet8 runs of ``benchmarks/jpegdl_fashion_mnist.py`` (20,000 training images,
5 epochs, seeds 0-2): ``runs/bench-jpegdl/base-seed*`` and ``runs/bench-jpegdl/jpeg-<tag>-seed*``.
Attacks (JPEG-DL's protocol, torchattacks): FGSM, and PGD with 5 steps of 2.5 * eps / 5 and a
random start, at eps in {1, 2, 4, 8}/255, on the first ``--images`` test images. Robust
accuracy counts an image when its clean and its attacked version are both classified right.

A quantizing layer can hide gradients, so the JPEG-DL models are attacked four ways:
``soft`` (the paper: through the soft quantizer), ``hard`` (rounded tables, straight-through
gradient), ``bpda`` (the layer's forward, the identity's gradient) and ``classifier`` (crafted
without the layer, evaluated with it). The honest robustness figure is the worst of the four.

Run: python benchmarks/robustness_fashion_mnist.py [--images 5000 --tags alpha1 --seeds 0 1 2]
(about 40 minutes on 2 CPU cores; finished records are cached in runs/bench-robustness, so an
interrupted run continues; the runs must exist: python benchmarks/jpegdl_fashion_mnist.py
--alpha 1 --tag alpha1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_results

from jpegdl.data import create_dataset
from jpegdl.robust import robust_accuracy
from jpegdl.robust.attacks import settings_for
from jpegdl.train import load_classifier

RUNS = Path(__file__).resolve().parent.parent / "runs" / "bench-jpegdl"
CACHE = Path(__file__).resolve().parent.parent / "runs" / "bench-robustness" / "records.jsonl"
EPSILONS = [1 / 255, 2 / 255, 4 / 255, 8 / 255]
# (label, gradient surface, layer mode) for JPEG-DL models; baselines have a single surface.
SURFACES = [("soft", "layer", "soft"), ("hard", "layer", "hard"), ("bpda", "bpda", "soft"),
            ("classifier", "classifier", "soft")]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--tags", nargs="+", default=["alpha1"], help="JPEG-DL run tags (jpeg-<tag>-seed*)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (1 when sharing the CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    test, _ = create_dataset("fashion-mnist", "test", None, augment=False)
    test = Subset(test, range(min(args.images, len(test))))
    groups = {"baseline": [("plain", "layer", None)]} | {f"jpeg-{tag}": SURFACES for tag in args.tags}
    folders = {name: [RUNS / (f"base-seed{s}" if name == "baseline" else f"{name}-seed{s}") for s in args.seeds]
               for name in groups}  # fmt: skip
    missing = [str(f) for paths in folders.values() for f in paths if not (f / "last.pt").is_file()]
    if missing:
        raise SystemExit(f"missing runs {missing}; train them with benchmarks/jpegdl_fashion_mnist.py")
    records = []
    cache = Cache(CACHE)
    for name, surfaces in groups.items():
        for seed, folder in zip(args.seeds, folders[name], strict=True):
            model, _ = load_classifier(folder, strip_jpeg=False)
            for surface, gradient, mode in surfaces:
                for attack in ("fgsm", "pgd"):
                    key = {"model": name, "seed": seed, "surface": surface, "attack": attack, "images": len(test)}
                    record = cache.get(key, folder)
                    if record is None:
                        began = time.perf_counter()
                        result = robust_accuracy(model, test, settings_for(attack, EPSILONS), gradient, mode,
                                                 args.batch_size, "cpu", seed=seed, progress=False)  # fmt: skip
                        record = key | result | {"seconds": round(time.perf_counter() - began, 1)}
                        cache.put(record, folder)
                    records.append(record)
                    result = record
                    worst = ", ".join(f"{100 * p['robust']:.1f}" for p in result["points"])
                    print(f"{name} seed {seed} {surface:10} {attack}: clean {100 * result['clean']:.2f},"
                          f" eps 1,2,4,8/255: {worst}", flush=True)  # fmt: skip
    summary = summarize(records)
    print_table(summary, args)
    plot = plot_summary(summary, RESULTS / "robustness_fashion_mnist.png")
    path = write_results(
        "robustness_fashion_mnist",
        {
            "description": "white-box FGSM / PGD (5 steps, 2.5*eps/5, random start; torchattacks) on resnet8"
            " Fashion-MNIST runs of the JPEG-DL benchmark; robust = clean and attacked image both right;"
            " JPEG-DL attacked through the soft layer, the hard layer (straight-through), BPDA and the"
            " classifier alone; worst = the lowest of these per seed",
            "settings": vars(args) | {"eps": EPSILONS, "pgd_steps": 5, "pgd_step": "2.5*eps/5", "random_start": True,
                                      "model": "resnet8", "train": "20000 images, 5 epochs"},
            "summary": summary,
            "records": records,
            "plot": plot.name,
            "seconds": round(time.perf_counter() - start, 1),
        },
    )  # fmt: skip
    print(f"wrote {path} and {plot}")


class Cache:
    """Finished records (one JSON line each), so an interrupted run picks up where it stopped.

    A record is reused only while its model's checkpoint is unchanged (same modification time).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

    def get(self, key: dict, folder: Path) -> dict | None:
        stamp = (folder / "last.pt").stat().st_mtime
        for record in self.records:
            if {k: record.get(k) for k in key} == key and record.get("checkpoint_mtime") == stamp:
                return {k: v for k, v in record.items() if k != "checkpoint_mtime"}
        return None

    def put(self, record: dict, folder: Path) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as file:
            file.write(json.dumps(record | {"checkpoint_mtime": (folder / "last.pt").stat().st_mtime}) + "\n")


def summarize(records: list[dict]) -> list[dict]:
    """Mean +- std over seeds per (model, surface, attack) and epsilon, plus each JPEG-DL model's
    per-seed worst case over its surfaces."""
    rows = []
    keys = list(dict.fromkeys((r["model"], r["surface"], r["attack"]) for r in records))
    for model in dict.fromkeys(k[0] for k in keys):
        surfaces = list(dict.fromkeys(k[1] for k in keys if k[0] == model))
        for attack in ("fgsm", "pgd"):
            per_surface = {s: [r for r in records if (r["model"], r["surface"], r["attack"]) == (model, s, attack)]
                           for s in surfaces}  # fmt: skip
            if len(per_surface) > 1:
                per_surface["worst"] = _worst_per_seed(list(per_surface.values()))
            for surface, group in per_surface.items():
                clean = np.array([r["clean"] for r in group])
                robust = np.array([[p["robust"] for p in r["points"]] for r in group])
                rows.append({
                    "model": model, "surface": surface, "attack": attack, "seeds": len(group),
                    "clean_mean": float(clean.mean()), "clean_std": float(clean.std(ddof=1)),
                    "robust_mean": robust.mean(0).tolist(), "robust_std": robust.std(0, ddof=1).tolist(),
                })  # fmt: skip
    return rows


def _worst_per_seed(surfaces: list[list[dict]]) -> list[dict]:
    """For each seed, the lowest clean and robust accuracy over the attack surfaces."""
    worst = []
    for seed_runs in zip(*surfaces, strict=True):
        robust = np.min([[p["robust"] for p in r["points"]] for r in seed_runs], axis=0)
        worst.append({"clean": min(r["clean"] for r in seed_runs), "points": [{"robust": v} for v in robust]})
    return worst


def print_table(summary: list[dict], args: argparse.Namespace) -> None:
    print(f"\nresnet8, Fashion-MNIST (trained on 20000 images, 5 epochs), first {args.images} test images,"
          f" seeds {args.seeds}; robust top-1 %, mean +- std")  # fmt: skip
    header = f"{'model':16} {'attack':6} {'surface':10} {'clean':>13}" + "".join(
        f"{f'{255 * e:g}/255':>15}" for e in EPSILONS
    )
    print(header)
    for row in summary:
        cells = "".join(f"{100 * m:>7.2f} +- {100 * s:5.2f}" for m, s in zip(row["robust_mean"], row["robust_std"],
                                                                            strict=True))  # fmt: skip
        print(f"{row['model']:16} {row['attack']:6} {row['surface']:10} {100 * row['clean_mean']:>6.2f} +-"
              f" {100 * row['clean_std']:4.2f}{cells}")  # fmt: skip


def plot_summary(summary: list[dict], output: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [0] + [255 * e for e in EPSILONS]
    for axis, attack in zip(axes, ("fgsm", "pgd"), strict=True):
        for row in (r for r in summary if r["attack"] == attack):
            means = [100 * row["clean_mean"]] + [100 * m for m in row["robust_mean"]]
            stds = [100 * row["clean_std"]] + [100 * s for s in row["robust_std"]]
            label = "baseline" if row["model"] == "baseline" else f"{row['model']} ({row['surface']})"
            style = "-" if row["surface"] in ("plain", "worst") else ":"
            axis.errorbar(xs, means, yerr=stds, linestyle=style, marker="o", markersize=3, capsize=2, label=label)
        axis.set_title(f"{attack.upper()} (white box)")
        axis.set_xlabel("epsilon (x 1/255)")
        axis.set_ylabel("robust top-1 (%)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("resnet8 on Fashion-MNIST: baseline vs JPEG-DL; dotted = single attack surface, solid = worst")
    figure.tight_layout()
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output


if __name__ == "__main__":
    main()

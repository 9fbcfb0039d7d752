"""LAW against plain cross-entropy and the small-loss baseline on Fashion-MNIST with noisy labels.

For each seed and each uniform noise rate (share of training labels flipped to another class), the
three methods train the same small CNN with the same data order, augmentation, schedule and budget
(``jpegdl.weighting.train_weighted``). LAW first searches its policy (``search_policy``: episodes of
a shortened run on a subset, with a duplicate reference network for the reward, on a clean validation
split carved from the training set), then trains with the best policy. Reported: clean test accuracy,
paired differences with 95 % t-intervals, and the AUC of the last epoch's weights separating flipped
from clean labels.

Sized for ~40 minutes of one CPU core (single thread). Reproduce:

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/law_fashion_mnist.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import paired_interval, write_results

from jpegdl.data import create_dataset
from jpegdl.data.noisy import NoisyLabels, train_val_indices
from jpegdl.evaluate import top1_accuracy
from jpegdl.weighting import (
    LoopSettings,
    SearchSettings,
    SmallLossWeighting,
    UniformWeighting,
    policy_weighting,
    search_policy,
    separation_auc,
    train_weighted,
)

METHODS = ("ce", "small-loss", "law")
PAIRS = (("law", "ce"), ("small-loss", "ce"), ("law", "small-loss"))


def small_cnn() -> nn.Module:
    """conv16-BN-pool, conv32-BN-pool, fc64, fc10 (about 105k parameters); input (B, 1, 28, 28) in [0, 1]."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def _recording(policy, actions: list):
    """``policy``, also appending each action it takes (one per stage) to ``actions``."""

    def act(state: torch.Tensor) -> torch.Tensor:
        action = policy(state)
        actions.append([round(float(v), 4) for v in action])
        return action

    return act


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    device = torch.device("cpu")
    base_train, _ = create_dataset("fashion-mnist", "train")
    plain_train, _ = create_dataset("fashion-mnist", "train", augment=False)
    test_set, _ = create_dataset("fashion-mnist", "test")
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
    pool = args.train_size + args.val_size
    train_idx, val_idx = train_val_indices(pool, args.val_size, seed=1234)
    val_set = Subset(plain_train, val_idx)
    loop = dict(epochs=args.epochs, batch_size=100, lr=0.05, momentum=0.9, weight_decay=5e-4)
    records, started = [], time.perf_counter()
    for seed in range(args.seeds):
        for noise in args.noise:
            noisy = NoisyLabels(Subset(base_train, range(pool)), 10, noise, "uniform", seed=seed)
            train_set = Subset(noisy, train_idx)
            flipped = noisy.flipped[train_idx]
            row = {"seed": seed, "noise": noise, "flipped_share": float(flipped.float().mean())}
            for method in args.methods:
                cpu = time.process_time()
                if method == "ce":
                    weighting, stages = UniformWeighting(), 1
                elif method == "small-loss":
                    weighting, stages = SmallLossWeighting(args.small_loss_drop, 0.25), 1
                else:
                    episode_set = Subset(train_set, range(args.episode_size))
                    settings = SearchSettings(
                        episodes=args.episodes, num_stages=args.stages, warmup_stages=args.warmup_stages,
                        loop=LoopSettings(**{**loop, "epochs": args.episode_epochs}), actor_lr=args.actor_lr,
                        seed=seed,
                    )  # fmt: skip
                    search = search_policy(small_cnn, episode_set, val_set, settings, device)
                    row["law_rewards"] = search["rewards"]
                    row["law_best_episode"] = search["policy"]["episode"] + 1
                    row["law_replay_reward"] = search["policy"].get("confirmed_reward")
                    row["law_uniform_fallback"] = bool(search["policy"].get("uniform"))
                    row["law_search_cpu_s"] = time.process_time() - cpu
                    weighting, stages = policy_weighting(search["policy"]), args.stages
                    weighting.policy = _recording(weighting.policy, row.setdefault("law_actions", []))
                torch.manual_seed(10_000 + seed)
                model = small_cnn()
                out = train_weighted(model, train_set, weighting, LoopSettings(**loop, seed=seed), device, stages)
                row[f"{method}_test_acc"] = 100 * top1_accuracy(model, test_loader, device)
                row[f"{method}_auc"] = separation_auc(out["last_epoch_weights"], flipped) if flipped.any() else None
                row[f"{method}_cpu_s"] = time.process_time() - cpu
                print(f"seed {seed} noise {noise:.0%} {method:10s}: test {row[f'{method}_test_acc']:.2f} %"
                      f" auc {row[f'{method}_auc'] if row[f'{method}_auc'] is None else round(row[f'{method}_auc'], 3)}"
                      f" ({row[f'{method}_cpu_s']:.0f} s cpu, {time.perf_counter() - started:.0f} s wall)",
                      flush=True)  # fmt: skip
            records.append(row)
            write(args, records, time.perf_counter() - started, final=False)
    return write(args, records, time.perf_counter() - started, final=True)


def summarise(records: list[dict], noise_levels: list[float], methods: list[str]) -> dict:
    summary = {}
    for noise in noise_levels:
        rows = [r for r in records if r["noise"] == noise]
        if not rows:
            continue
        entry = {"seeds": len(rows)}
        for method in methods:
            entry[f"{method}_test_acc"] = sum(r[f"{method}_test_acc"] for r in rows) / len(rows)
            aucs = [r[f"{method}_auc"] for r in rows if r[f"{method}_auc"] is not None]
            entry[f"{method}_auc"] = sum(aucs) / len(aucs) if aucs else None
        for a, b in PAIRS:
            if a not in methods or b not in methods:
                continue
            entry[f"{a}_minus_{b}"] = paired_interval([r[f"{a}_test_acc"] - r[f"{b}_test_acc"] for r in rows])
        summary[f"{noise:.2f}"] = entry
    return summary


def write(args: argparse.Namespace, records: list[dict], wall: float, final: bool) -> dict:
    summary = summarise(records, args.noise, args.methods)
    payload = {
        "setup": {
            "model": "small CNN (conv16-conv32-fc64, BatchNorm, ~105k parameters)",
            "data": f"Fashion-MNIST: {args.train_size} noisy training images + {args.val_size} clean validation"
                    " images carved from the training set (LAW's reward only), full 10,000-image clean test set",
            "noise": "uniform: each training label flipped to another class with probability = noise rate",
            "schedule": f"SGD lr 0.05 momentum 0.9 wd 5e-4, batch 100, {args.epochs} epochs, lr x0.1 at 75 %"
                        " and 87.5 % of steps; same seeds, data order and augmentation for every method",
            "small_loss": f"drop the largest {args.small_loss_drop:.0%} losses per batch, ramped over the first"
                          " 25 % of steps (the noise rate is not given to it)",
            "law": f"{args.episodes} episodes x ({args.episode_epochs} epochs on {args.episode_size} images, target"
                   f" + duplicate), {args.stages} stages ({args.warmup_stages} warm-up), actor lr"
                   f" {args.actor_lr}; best-reward policy used for the final run",
            "threads": 1,
        },
        "command": "OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/law_fashion_mnist.py " + " ".join(sys.argv[1:]),
        "complete": final,
        "wall_seconds": wall,
        "cpu_seconds": sum(r.get(f"{m}_cpu_s", 0.0) for r in records for m in args.methods),
        "law_search_cpu_seconds": sum(r.get("law_search_cpu_s", 0.0) for r in records),
        "summary": summary,
        "runs": records,
    }
    path = write_results(args.name, payload)
    if final:
        print_table(summary, args.methods)
        print(f"wrote {path}")
    return payload


def print_table(summary: dict, methods: list[str]) -> None:
    def interval(entry: dict | None) -> str:
        if entry is None:
            return "-"
        if entry["low"] is None:
            return f"{entry['mean']:+.2f}"
        return f"{entry['mean']:+.2f} [{entry['low']:+.2f}, {entry['high']:+.2f}]"

    pairs = [f"{a}_minus_{b}" for a, b in PAIRS if a in methods and b in methods]
    print("| noise | " + " | ".join(methods) + " | " + " | ".join(p.replace("_minus_", " - ") for p in pairs)
          + " | " + " | ".join(f"AUC {m}" for m in methods) + " |")  # fmt: skip
    print("|---" * (1 + 2 * len(methods) + len(pairs)) + "|")
    for noise, e in summary.items():
        accuracies = [f"{e[f'{m}_test_acc']:.2f}" for m in methods]
        aucs = [("n/a" if e[f"{m}_auc"] is None else f"{e[f'{m}_auc']:.3f}") for m in methods]
        differences = [interval(e.get(p)) for p in pairs]
        print(f"| {float(noise):.0%} | " + " | ".join(accuracies + differences + aucs) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.3, 0.4])
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--val-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--episode-size", type=int, default=4000)
    parser.add_argument("--episode-epochs", type=int, default=2)
    parser.add_argument("--stages", type=int, default=8)
    parser.add_argument("--warmup-stages", type=int, default=2)
    parser.add_argument("--actor-lr", type=float, default=1e-3)
    parser.add_argument("--small-loss-drop", type=float, default=0.2)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--name", default="law_fashion_mnist")
    args = parser.parse_args()
    run(args)


if __name__ == "__main__":
    main()

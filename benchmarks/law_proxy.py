"""LAW searched on a cheap proxy, then used once for a full resnet8 run, against cross-entropy, CE with
the best epoch chosen on clean validation, the small-loss baseline and generalized cross-entropy.

1. Proxy search (one per noise rate): ``--episodes`` episodes of an MLP on ``--proxy-size`` noisy
   training images (2x2 average-pooled, held in memory), ``--stages`` stages, DDPG with additive
   exploration; the reward is the accuracy gain over an unweighted duplicate on a clean validation
   split carved from the training set (never the test set). The replay guard re-runs the kept policy
   once; if it does not beat the duplicate, the policy is uniform weights (a *fallback*: such LAW runs
   are plain cross-entropy and are counted as fallbacks, not as LAW).
2. Full runs, for every seed and noise rate, with the same noisy labels (``NoisyLabels`` seeded by the
   seed), data order, augmentation, initialisation and schedule for every method: ``--model`` on the
   whole noisy training set minus the validation split, ``--epochs`` epochs.

Resumable at the granularity of one search episode and one (noise, seed, method) run: finished runs
are in the results JSON (``"partial": true`` until all are done) and a re-run of the same command
skips them (a finished search is reused from its record in the JSON and ``WORK/policy_NOISE.pt``);
``--max-minutes`` stops starting new work after that much wall time. Single thread.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/law_proxy.py --work runs/law_proxy
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, paired_interval, write_results

from jpegdl.data import create_dataset
from jpegdl.data.noisy import NoisyLabels, train_val_indices
from jpegdl.evaluate import top1_accuracy
from jpegdl.models import create
from jpegdl.plots import plot_search_curve
from jpegdl.weighting import (
    LoopSettings,
    SearchSettings,
    SmallLossWeighting,
    UniformWeighting,
    load_policy,
    moving_average,
    policy_weighting,
    save_policy,
    separation_auc,
    train_weighted,
)
from jpegdl.weighting.proxy import ProxySettings, proxy_search, tensor_subset
from jpegdl.weighting.robust_loss import gce_criterion

METHODS = ("ce", "law", "small-loss", "gce")
COLUMNS = ("ce", "ce-best", "small-loss", "gce", "law")
PAIRS = (("law", "ce"), ("law", "ce-best"), ("law", "small-loss"), ("law", "gce"), ("ce-best", "ce"),
         ("small-loss", "ce"), ("gce", "ce"), ("oracle", "ce"), ("oracle", "law"))  # fmt: skip
DEFAULTS = {"--epochs": 5, "--batch-size": 128, "--lr": 0.05, "--weight-decay": 5e-4, "--val-size": 2000,
            "--episodes": 200, "--proxy-size": 2000, "--proxy-epochs": 15, "--stages": 8, "--warmup-stages": 1,
            "--actor-lr": 2e-5, "--full-passes": 2, "--explore-prob": 0.5, "--explore-scale": 3.0,
            "--small-loss-drop": 0.2, "--gce-q": 0.7, "--window": 20}  # fmt: skip
VAL_SEED = 1234
PROXY_NOISE_SEED = 1000


class ChannelsLast(nn.Module):
    """Runs ``model`` in channels-last memory format (about 1.4x faster for resnet8 on one CPU thread)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.contiguous(memory_format=torch.channels_last))


def search(args: argparse.Namespace, noise: float, plain_train, val_tensors, work: Path) -> dict:
    """The proxy search for ``noise`` (continued from ``work``); returns its rows and policy."""
    train_idx, _ = train_val_indices(60000, args.val_size, VAL_SEED)
    noisy = NoisyLabels(plain_train, 10, noise, "uniform", seed=PROXY_NOISE_SEED)
    proxy_train = tensor_subset(noisy, train_idx[:args.proxy_size])
    settings = ProxySettings(
        size=args.proxy_size, epochs=args.proxy_epochs, lr=args.lr,
        search=SearchSettings(episodes=args.episodes, num_stages=args.stages, warmup_stages=args.warmup_stages,
                              actor_lr=args.actor_lr, seed=0, full_passes=args.full_passes, explore="add",
                              explore_prob=args.explore_prob, explore_scale=args.explore_scale),
    )  # fmt: skip
    out = proxy_search(proxy_train, val_tensors, 10, settings, checkpoint=work / f"search_{noise}.pt",
                       log=work / f"episodes_{noise}.csv", progress=args.progress)  # fmt: skip
    save_policy(out["policy"], work / f"policy_{noise}.pt")
    return out


def full_run(args: argparse.Namespace, noise: float, seed: int, method: str, data: dict, policy: dict | None) -> dict:
    """One full training run; returns its record (test accuracy, validation curve, CPU seconds)."""
    cpu = time.process_time()
    noisy = NoisyLabels(data["train"], 10, noise, "uniform", seed=seed)
    train_set = Subset(noisy, data["train_idx"])
    flipped = noisy.flipped[data["train_idx"]]
    if method == "oracle":  # an upper bound, not a method: CE on the examples whose label was not flipped
        train_set = Subset(noisy, [i for i, f in zip(data["train_idx"], flipped.tolist(), strict=True) if not f])
    criterion, stages = None, 1
    if method in ("ce", "oracle"):
        weighting = UniformWeighting()
    elif method == "small-loss":
        weighting = SmallLossWeighting(args.small_loss_drop, 0.25)
    elif method == "gce":
        weighting, criterion = UniformWeighting(), gce_criterion(args.gce_q)
    else:
        weighting = policy_weighting(policy)
        stages = weighting.num_stages
    actions: list = []
    if method == "law":
        act = weighting.policy

        def recorded(state: torch.Tensor) -> torch.Tensor:
            action = act(state)
            actions.append([round(float(v), 4) for v in action])
            return action

        weighting.policy = recorded
    torch.manual_seed(10_000 + seed)
    model = ChannelsLast(create(args.model, 10, 1))
    val_curve: list[float] = []
    best = {"acc": -1.0, "state": None, "epoch": -1}

    def epoch_end(epoch: int) -> None:
        accuracy = 100 * top1_accuracy(model, data["val_loader"], torch.device("cpu"))
        val_curve.append(round(accuracy, 2))
        if method == "ce" and accuracy > best["acc"]:
            best.update(acc=accuracy, state=copy.deepcopy(model.state_dict()), epoch=epoch)
        if args.progress:
            print(f"  epoch {epoch + 1}: val {accuracy:.2f} % ({time.process_time() - cpu:.0f} s cpu)", flush=True)

    loop = LoopSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=0.9,
                        weight_decay=args.weight_decay, seed=seed)  # fmt: skip
    extra = {"criterion": criterion} if criterion is not None else {}
    out = train_weighted(model, train_set, weighting, loop, "cpu", stages, on_epoch_end=epoch_end, **extra)
    record = {"noise": noise, "seed": seed, "method": method, "val_curve": val_curve,
              "test_acc": 100 * top1_accuracy(model, data["test_loader"], torch.device("cpu")),
              "auc": None}  # fmt: skip
    if method in ("small-loss", "law"):
        record["auc"] = separation_auc(out["last_epoch_weights"], flipped)
    if method == "ce":
        model.load_state_dict(best["state"])
        record["best_epoch"] = best["epoch"] + 1
        record["best_epoch_test_acc"] = 100 * top1_accuracy(model, data["test_loader"], torch.device("cpu"))
    if method == "law":
        record["actions"] = actions
    record["cpu_s"] = time.process_time() - cpu
    return record


def fallback_record(ce: dict) -> dict:
    """A LAW run whose policy fell back to uniform weights trains exactly like CE (same seed, weights all
    1): its record is CE's, marked as a fallback (no compute spent)."""
    return {**{k: ce[k] for k in ("noise", "seed", "val_curve", "test_acc")}, "method": "law", "fallback": True,
            "auc": None, "cpu_s": 0.0}  # fmt: skip


def summarise(args: argparse.Namespace, runs: list[dict], searches: dict) -> dict:
    summary = {}
    for noise in args.noise:
        by_seed: dict[int, dict] = {}
        for run in runs:
            if run["noise"] == noise:
                by_seed.setdefault(run["seed"], {})[run["method"]] = run
        for methods in by_seed.values():
            if "ce" in methods:
                methods["ce-best"] = {"test_acc": methods["ce"]["best_epoch_test_acc"]}
        entry: dict = {"seeds_per_method": {m: sum(m in v for v in by_seed.values()) for m in COLUMNS}}
        for method in COLUMNS:
            values = [v[method]["test_acc"] for v in by_seed.values() if method in v]
            entry[f"{method}_test_acc"] = sum(values) / len(values) if values else None
        oracle = [v["oracle"]["test_acc"] for v in by_seed.values() if "oracle" in v]
        if oracle:  # the upper bound of --methods oracle
            entry["oracle_test_acc"] = sum(oracle) / len(oracle)
            entry["oracle_seeds"] = len(oracle)
        for a, b in PAIRS:
            diffs = [v[a]["test_acc"] - v[b]["test_acc"] for v in by_seed.values() if a in v and b in v]
            if diffs:
                entry[f"{a}_minus_{b}"] = paired_interval(diffs)
        law_runs = [v["law"] for v in by_seed.values() if "law" in v]
        entry["fallbacks"] = sum(bool(r.get("fallback")) for r in law_runs)
        entry["law_runs"] = len(law_runs)
        found = searches.get(str(noise))
        if found is not None:
            entry["search_cpu_minutes"] = found["cpu_minutes"]
            entry["search_episodes"] = found["episodes"]
            entry["policy_fell_back"] = found["uniform"]
        for method in METHODS:
            costs = [v[method]["cpu_s"] for v in by_seed.values() if method in v and not v[method].get("fallback")]
            entry[f"{method}_cpu_minutes_per_run"] = sum(costs) / len(costs) / 60 if costs else None
        summary[str(noise)] = entry
    return summary


def setup(args: argparse.Namespace) -> dict:
    return {
        "model": f"{args.model} (channels-last), {args.epochs} epochs, batch {args.batch_size}, SGD lr {args.lr}"
                 f" momentum 0.9 wd {args.weight_decay}, lr x0.1 at 75 % and 87.5 % of steps",
        "data": f"Fashion-MNIST: {60000 - args.val_size} noisy training images (random crop + flip), {args.val_size}"
                " clean validation images carved from the training set (LAW's reward and CE's best epoch), the"
                " 10,000-image clean test set (reported only)",
        "noise": "uniform (symmetric): each training label moved to another class with probability = noise rate;"
                 " NoisyLabels seeded by the run's seed, identical for every method",
        "proxy": f"{args.episodes} episodes per noise rate: MLP (196-128-10) on {args.proxy_size} noisy images"
                 f" (2x2-pooled, separate noise draw), {args.proxy_epochs} epochs, {args.stages} stages"
                 f" ({args.warmup_stages} warm-up), DDPG actor lr {args.actor_lr}, additive exploration"
                 f" (prob {args.explore_prob}, scale {args.explore_scale}), {args.full_passes} FDU passes; kept"
                 " policy replayed once (guard)",
        "small_loss": f"drop the largest {args.small_loss_drop:.0%} losses per batch, ramped over the first 25 %",
        "gce": f"generalized cross-entropy (Zhang & Sabuncu 2018), q = {args.gce_q}",
        "ce_best": "CE's test accuracy at the epoch with the best clean-validation accuracy",
        "threads": 1,
    }


COMMAND = "OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/law_proxy.py " + " ".join(sys.argv[1:])


def write(args: argparse.Namespace, runs: list[dict], searches: dict, complete: bool) -> dict:
    summary = summarise(args, runs, searches)
    payload = {
        "setup": setup(args),
        "command": COMMAND,
        "commands": args.commands,
        "partial": not complete,
        "summary": summary,
        "searches": searches,
        "runs": runs,
    }
    write_results(args.name, payload)
    return payload


def write_curve(args: argparse.Namespace, searches: dict) -> None:
    """The searches' learning curves: ``NAME_search.json`` and ``NAME_search.png``."""
    curves = {noise: {"rewards": found["rewards"], "moving_average": moving_average(found["rewards"], args.window),
                      "window": args.window} for noise, found in searches.items()}  # fmt: skip
    plot_search_curve({f"{float(noise):.0%} noise": (c["rewards"], c["moving_average"]) for noise, c in curves.items()},
                      RESULTS / f"{args.name}_search.png")  # fmt: skip
    write_results(f"{args.name}_search", {"setup": setup(args)["proxy"], "curves": curves})


def print_table(args: argparse.Namespace, summary: dict) -> None:
    def interval(entry: dict | None) -> str:
        if entry is None:
            return "-"
        if entry["low"] is None:
            return f"{entry['mean']:+.2f} (n=1)"
        mark = " *" if entry["significant"] else ""
        return f"{entry['mean']:+.2f} [{entry['low']:+.2f}, {entry['high']:+.2f}]{mark}"

    def number(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    print(f"\n{setup(args)['model']}; {setup(args)['data']}")
    print("| noise | seeds | CE | CE best epoch | small-loss | GCE | LAW | LAW - CE | LAW - small-loss | LAW - GCE"
          " | fallbacks | search CPU-min | full run CPU-min |")
    print("|---" * 13 + "|")
    for noise, e in summary.items():
        seeds = min(e["seeds_per_method"].values())
        accuracies = [number(e[f"{m}_test_acc"]) for m in COLUMNS]
        diffs = [interval(e.get(f"law_minus_{b}")) for b in ("ce", "small-loss", "gce")]
        costs = f"{number(e.get('search_cpu_minutes'), 1)} | {number(e['ce_cpu_minutes_per_run'], 1)}"
        print(f"| {float(noise):.0%} | {seeds} | " + " | ".join(accuracies + diffs)
              + f" | {e['fallbacks']}/{e['law_runs']} | {costs} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.3, 0.4])
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--limit-train", type=int, default=None, help="smoke tests only: train on fewer images")
    for flag, default in DEFAULTS.items():
        parser.add_argument(flag, type=type(default), default=default)
    parser.add_argument("--methods", nargs="+", choices=(*METHODS, "oracle"), default=list(METHODS),
                        help="'oracle' (not in the default list; its runs join the same JSON, paired with CE and LAW by"
                             " seed): CE on only the examples whose label was not flipped, what a weighting that knew"
                             " the noise could gain (an upper bound)")
    parser.add_argument("--max-minutes", type=float, default=None, help="start no new search or run after this")
    parser.add_argument("--work", default="runs/law_proxy", help="search checkpoints and policies")
    parser.add_argument("--name", default="law_proxy")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()

    def out_of_time() -> bool:
        return args.max_minutes is not None and time.perf_counter() - started > 60 * args.max_minutes

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    previous = RESULTS / f"{args.name}.json"
    before = json.loads(previous.read_text()) if previous.is_file() else {}
    runs, finished_searches = before.get("runs", []), before.get("searches", {})
    args.commands = before.get("commands", [before["command"]] if "command" in before else [])
    if COMMAND not in args.commands:
        args.commands.append(COMMAND)
    done = {(r["noise"], r["seed"], r["method"]) for r in runs}
    train, _ = create_dataset("fashion-mnist", "train")
    plain, _ = create_dataset("fashion-mnist", "train", augment=False)
    test, _ = create_dataset("fashion-mnist", "test")
    train_idx, val_idx = train_val_indices(60000, args.val_size, VAL_SEED)
    val_tensors = tensor_subset(plain, val_idx)
    data = {"train": train, "train_idx": train_idx[:args.limit_train] if args.limit_train else train_idx,
            "val_loader": DataLoader(val_tensors, batch_size=1000),
            "test_loader": DataLoader(test, batch_size=1000)}  # fmt: skip
    searches, policies = {}, {}
    complete = True
    for noise in args.noise:
        if "law" not in args.methods:
            break
        known = finished_searches.get(str(noise))
        if known is not None and known["episodes"] == args.episodes and (work / f"policy_{noise}.pt").is_file():
            searches[str(noise)], policies[noise] = known, load_policy(work / f"policy_{noise}.pt")
            continue  # finished in an earlier session: its policy file is enough
        if out_of_time():
            complete = False
            break
        out = search(args, noise, plain, val_tensors, work)
        policies[noise] = load_policy(work / f"policy_{noise}.pt")
        searches[str(noise)] = {
            "episodes": len(out["rows"]), "rewards": out["rewards"],
            "cpu_minutes": (sum(r["cpu_seconds"] for r in out["rows"])
                            + out["policy"].get("confirm_cpu_seconds", 0.0)) / 60,
            "best_episode": out["policy"]["episode"] + 1, "replay_reward": out["policy"].get("confirmed_reward"),
            "uniform": bool(out["policy"].get("uniform")),
        }  # fmt: skip
        print(f"search {noise:.0%}: {len(out['rows'])} episodes, best {out['policy']['episode'] + 1}, replay reward"
              f" {out['policy'].get('confirmed_reward')}, fallback {searches[str(noise)]['uniform']}", flush=True)
    if searches:
        write_curve(args, searches)
    for noise, known in finished_searches.items():  # a run without 'law' keeps the searches it did not redo
        searches.setdefault(noise, known)
    for seed in range(args.seeds):
        for noise in args.noise:
            for method in args.methods:
                if (noise, seed, method) in done:
                    continue
                if out_of_time() or (method == "law" and noise not in policies):
                    complete = False
                    continue
                ce = next((r for r in runs if (r["noise"], r["seed"], r["method"]) == (noise, seed, "ce")), None)
                if method == "law" and policies[noise].get("uniform") and ce is not None:
                    record = fallback_record(ce)
                else:
                    record = full_run(args, noise, seed, method, data, policies.get(noise))
                    record["fallback"] = bool(method == "law" and policies[noise].get("uniform"))
                runs.append(record)
                done.add((noise, seed, method))
                write(args, runs, searches, complete=False)
                print(f"seed {seed} noise {noise:.0%} {method:10s}: test {record['test_acc']:.2f} % val"
                      f" {record['val_curve']} ({record['cpu_s'] / 60:.1f} CPU-min,"
                      f" {(time.perf_counter() - started) / 60:.0f} min wall)", flush=True)  # fmt: skip
    payload = write(args, runs, searches, complete=complete)
    print_table(args, payload["summary"])
    print(f"wrote {RESULTS / (args.name + '.json')}" + ("" if complete else " (partial: re-run the same command)"))


if __name__ == "__main__":
    main()

"""``jpegdl law search``: LAW's policy search on a cheap proxy (hundreds of episodes on a CPU).

The policy it writes (``OUT/policy.pt``) drives a full run unchanged:
``jpegdl train --weighting law --weighting-policy OUT/policy.pt ...``. Running the same command again
continues an interrupted search exactly (``OUT/search.pt``).
"""

from __future__ import annotations

import argparse
import json

from jpegdl.cli.arguments import add_data_flags, bounded, non_negative_int, output_folder, positive, positive_int

NOISE_RATE = bounded(float, 0, 0.95)


def _cmd_search(args: argparse.Namespace) -> None:
    import torch

    from jpegdl.data import create_dataset
    from jpegdl.data.noisy import NoisyLabels, train_val_indices
    from jpegdl.plots import plot_search_curve
    from jpegdl.weighting import SearchSettings, moving_average, save_policy
    from jpegdl.weighting.proxy import ProxySettings, proxy_search, tensor_subset

    out = output_folder(args.out)
    search = SearchSettings(episodes=args.episodes, num_stages=args.stages, warmup_stages=args.warmup_stages,
                            actor_lr=args.actor_lr, seed=args.seed, full_passes=args.full_passes, explore="add",
                            explore_prob=args.explore_prob, explore_scale=args.explore_scale)  # fmt: skip
    settings = ProxySettings(size=args.proxy_size, hidden=args.hidden, pool=args.pool, epochs=args.proxy_epochs,
                             batch_size=args.batch_size, lr=args.lr, search=search)  # fmt: skip
    torch.set_num_threads(args.threads)
    plain, info = create_dataset(args.dataset, "train", args.data_root, augment=False)
    if args.proxy_size + args.val_size > len(plain):
        raise ValueError(f"proxy_size: the proxy ({args.proxy_size}) and the validation split ({args.val_size})"
                         f" need {args.proxy_size + args.val_size} of the {len(plain)} training images")  # fmt: skip
    check_same_data(out / "search_data.json", {"dataset": args.dataset, "label_noise": args.label_noise,
                                               "noise_kind": args.noise_kind, "noise_seed": args.noise_seed,
                                               "val_size": args.val_size})  # fmt: skip
    train_idx, val_idx = train_val_indices(len(plain), args.val_size, args.noise_seed)
    noisy = NoisyLabels(plain, info.num_classes, args.label_noise, args.noise_kind, args.noise_seed)
    proxy_train = tensor_subset(noisy, train_idx[:args.proxy_size])
    val = tensor_subset(plain, val_idx)
    result = proxy_search(proxy_train, val, info.num_classes, settings, checkpoint=out / "search.pt",
                          log=out / "episodes.csv", stop_after=args.stop_after, progress=True)  # fmt: skip
    rewards = result["rewards"]
    curve = {"rewards": rewards, "moving_average": moving_average(rewards, args.window), "window": args.window}
    (out / "search_curve.json").write_text(json.dumps(curve) + "\n")
    plot_search_curve({f"noise {args.label_noise:g}": (rewards, curve["moving_average"])}, out / "search_curve.png")
    if not result["done"]:
        print(f"stopped after {len(rewards)} of {args.episodes} episodes; run the same command to continue")
        return
    policy = save_policy(result["policy"], out / "policy.pt")
    verdict = ("fell back to uniform weights (the replay did not beat the unweighted duplicate)"
               if result["policy"].get("uniform") else "kept")  # fmt: skip
    print(f"policy of episode {result['policy']['episode'] + 1}: {verdict}; wrote {policy}")
    print(f"train with it: jpegdl train --weighting law --weighting-policy {policy}"
          f" --label-noise {args.label_noise} ...")


def check_same_data(path, data: dict) -> None:
    """Write ``data`` (what the search trains on) to ``path``, or, when a search is being continued,
    refuse data other than the recorded (``ValueError`` naming the fields)."""
    from pathlib import Path

    path = Path(path)
    if path.is_file() and (path.parent / "search.pt").is_file():
        try:
            recorded = json.loads(path.read_text())
        except (ValueError, OSError):
            recorded = {}
        changed = sorted(k for k in data if not isinstance(recorded, dict) or recorded.get(k) != data[k])
        if changed:
            raise ValueError(f"out: {str(path.parent)!r} holds a search on other data ({', '.join(changed)});"
                             " use another --out or the same data flags")  # fmt: skip
    path.write_text(json.dumps(data) + "\n")


def add_law_parsers(commands: argparse._SubParsersAction) -> None:
    law = commands.add_parser("law", help="LAW example weighting: search a policy on a cheap proxy")
    actions = law.add_subparsers(dest="law_command", required=True, metavar="ACTION",
                                 help="search: find a weighting policy on a cheap proxy")
    search = actions.add_parser(
        "search", help="search a LAW weighting policy on a proxy (an MLP on a few thousand noisy images)",
        description=__doc__.split("\n\n")[0] + " Train with it: jpegdl train --weighting law --weighting-policy"
                    " OUT/policy.pt.",
    )  # fmt: skip
    search.add_argument("--out", required=True, help="folder for search.pt, episodes.csv, policy.pt, search_curve.*")
    add_data_flags(search, "fashion-mnist")
    search.set_defaults(dataset="fashion-mnist")
    search.add_argument("--label-noise", type=NOISE_RATE, required=True, metavar="P",
                        help="share of training labels corrupted, in [0, 0.95] (as the full run's)")  # fmt: skip
    search.add_argument("--noise-kind", choices=("uniform", "pair"), default="uniform",
                        help="symmetric (uniform) or pairwise label noise (default: uniform)")
    search.add_argument("--noise-seed", type=non_negative_int, default=0,
                        help="seeds the noisy labels and the validation split")  # fmt: skip
    groups = {
        "proxy": [("--proxy-size", positive_int, 2000, "noisy training images of the proxy"),
                  ("--val-size", positive_int, 2000, "clean validation images carved from the training set"),
                  ("--hidden", positive_int, 128, "MLP hidden units"),
                  ("--pool", positive_int, 2, "average pooling of the images (frozen features)"),
                  ("--proxy-epochs", positive_int, 15, "epochs of each episode"),
                  ("--batch-size", positive_int, 100, "batch size of each episode"),
                  ("--lr", positive, 0.05, "base learning rate (use the full run's: it is part of the state)")],
        "search": [("--episodes", positive_int, 200, "episodes"),
                   ("--stages", bounded(int, 1, 1000), 8, "stages per run (the action is fixed within one)"),
                   ("--warmup-stages", non_negative_int, 1, "first stages trained unweighted"),
                   ("--actor-lr", positive, 2e-5, "DDPG actor learning rate"),
                   ("--explore-prob", bounded(float, 0, 1), 0.5, "probability of exploring an action"),
                   ("--explore-scale", positive, 3.0, "scale of the additive exploration noise"),
                   ("--full-passes", positive_int, 2, "Full Data Update passes over the replay buffer"),
                   ("--seed", non_negative_int, 0, "seeds the agent and the episodes"),
                   ("--window", positive_int, 20, "moving-average window of the learning curve"),
                   ("--threads", positive_int, 1, "torch threads"),
                   ("--stop-after", positive_int, None, "stop after this many episodes of this call")],
    }  # fmt: skip
    for title, flags in groups.items():
        group = search.add_argument_group(title)
        for flag, kind, default, text in flags:
            group.add_argument(flag, type=kind, default=default, help=f"{text} (default: {default})")
    search.set_defaults(handler=_cmd_search)

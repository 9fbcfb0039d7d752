"""Training subcommands: train, show-tables, demo."""

from __future__ import annotations

import argparse
import sys

from jpegdl.cli.arguments import quality
from jpegdl.cli.options import add_dataclass_flags, given_values


def _cmd_demo(args: argparse.Namespace) -> None:
    from jpegdl.cli.demo import run_demo

    run_demo(tuple(args.qualities), train=not args.codec_only)


RESUME_OVERRIDES = ("out", "epochs", "device", "workers")


def config_from_args(args: argparse.Namespace):
    """The run's ``TrainConfig``: preset, then flags; with ``--resume``, the checkpoint's own config
    with only ``RESUME_OVERRIDES`` taken from the flags."""
    from dataclasses import replace

    from jpegdl.distill import DistillSettings
    from jpegdl.runs import PRESETS, JPEGConfig, RunFolder, TrainConfig, load_checkpoint
    from jpegdl.runs.model import check_state_fits
    from jpegdl.weighting import WeightingConfig

    values = given_values(args, TrainConfig)
    jpeg_values = given_values(args, JPEGConfig, "jpeg.")
    distill_values = given_values(args, DistillSettings, "distill.")
    weighting_values = given_values(args, WeightingConfig, "weighting.")
    if args.resume:
        changed = sorted(set(values) - set(RESUME_OVERRIDES)) + [f"jpeg-{k}" for k in jpeg_values]
        changed += [f"distill {k}" for k in distill_values] + (["preset"] if args.preset else [])
        changed += ["jpeg"] if args.jpeg else []
        changed += [f"weighting {k}" for k in weighting_values]
        if changed:
            raise ValueError(f"resume: a resumed run keeps its settings; only --{', --'.join(RESUME_OVERRIDES)} may"
                             f" be given, got {', '.join(changed)}")  # fmt: skip
        if "out" not in values:
            raise ValueError("resume: name the run to continue with --out RUN")
        folder = RunFolder(values["out"])
        checkpoint = folder.checkpoint
        if not checkpoint.is_file() and (folder.path / "law" / "search.pt").is_file() and folder.config.is_file():
            return replace(TrainConfig.load(folder.config), **values)  # an interrupted LAW policy search
        if not checkpoint.is_file():
            raise ValueError(f"resume: no checkpoint {str(checkpoint)!r} to resume from")
        state = load_checkpoint(checkpoint, "resume")
        saved = TrainConfig.from_dict(state.get("config", {}))
        if not isinstance(state.get("model"), dict):
            raise ValueError(f"resume: {str(checkpoint)!r} holds no model weights")
        check_state_fits(saved, state["model"], str(checkpoint), "resume")
        return replace(saved, **values)
    if (jpeg_values and not args.jpeg) or (args.jpeg is False and jpeg_values):
        raise ValueError(f"jpeg: --jpeg-* options ({', '.join(sorted(jpeg_values))}) need --jpeg")
    merged = dict(PRESETS[args.preset]) if args.preset else {}
    merged |= values
    if args.jpeg:
        merged["jpeg"] = jpeg_values
    if distill_values:
        if "method" not in distill_values:
            raise ValueError("distill: distillation options need a method: --distill kd|ttm|wttm|cckd|rco")
        merged["distill"] = distill_values
    if weighting_values:
        if "method" not in weighting_values:
            raise ValueError("weighting: weighting options need a method: --weighting uniform|small-loss|law")
        merged["weighting"] = weighting_values
    return TrainConfig.from_dict(merged)


def _cmd_train(args: argparse.Namespace) -> None:
    import os
    import signal

    from jpegdl.train import Trainer

    config = config_from_args(args)
    trainer = Trainer(config, resume=args.resume, overwrite=args.overwrite)

    def terminate(signum, frame):  # SIGTERM (a scheduler ending the job) behaves like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        summary = trainer.fit()
    except KeyboardInterrupt:
        if trainer.saved_checkpoint:
            sys.stderr.write(f"jpegdl train: interrupted; the last finished epoch is saved in {config.out}/last.pt;"
                             f" continue with: jpegdl train --out {config.out} --resume\n")  # fmt: skip
        elif trainer.folder.has_progress():
            sys.stderr.write(f"jpegdl train: interrupted; no epoch finished in this session; what {config.out} held"
                             f" before is kept: continue with: jpegdl train --out {config.out} --resume\n")  # fmt: skip
        else:
            sys.stderr.write("jpegdl train: interrupted before the first epoch ended; no checkpoint was saved."
                             " Run the same command again to start over\n")  # fmt: skip
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if int(os.environ.get("RANK", "0")) == 0:
        split = "test" if summary.get("test_acc") is not None else "val"
        print(f"done: {split} accuracy {summary[f'{split}_acc']:.4f}", end="")
        if summary.get(f"{split}_acc_hard") is not None:
            files = summary.get("test_files", {})
            print(f", hard {summary[f'{split}_acc_hard']:.4f}", end="")
            if files:
                print(f"; test set as real JPEG: {files['bpp']:.3f} bpp ({files['payload_bpp']:.3f} payload)", end="")
        print(f"\nrun folder: {config.out}")


def _cmd_show_tables(args: argparse.Namespace) -> None:
    from jpegdl.plots import plot_tables
    from jpegdl.runs import run_tables

    tables = run_tables(args.run)
    for name in ("luma", "chroma"):
        if name in tables:
            print(f"{name} steps (natural order):")
            for row in tables[name]:
                print("    " + " ".join(f"{v:6.2f}" for v in row))
    moved = tables.get("movement")
    if moved:
        changed = 100 * moved["rounded_changed_fraction"]
        print(f"moved from the initial tables: mean |log(q/q0)| {moved['mean_abs_log_ratio']:.4f}, max"
              f" {moved['max_abs_log_ratio']:.4f}; rounded steps changed: {changed:.1f}%")  # fmt: skip
    path = plot_tables(tables, args.output or f"{args.run}/tables.png", title=str(args.run))
    print(f"wrote {path}")


def add_train_parsers(commands: argparse._SubParsersAction) -> None:
    from jpegdl.distill import DistillSettings
    from jpegdl.runs import PRESETS, JPEGConfig, TrainConfig
    from jpegdl.weighting import WeightingConfig

    train = commands.add_parser(
        "train",
        help="train a classifier, optionally behind a trainable JPEG layer (JPEG-DL)",
        description="Train a model; launch with torchrun for several processes (DDP).",
    )
    train.add_argument("--preset", choices=sorted(PRESETS), help="a paper recipe; other flags override it")
    add_dataclass_flags(train, TrainConfig)
    train.add_argument("--resume", action="store_true",
                       help="continue RUN (--out) from its last.pt with its own settings; only --epochs (to extend),"
                            " --device and --workers may change")  # fmt: skip
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    jpeg = train.add_argument_group("JPEG-DL layer")
    jpeg.add_argument("--jpeg", action="store_true", default=None, help="prepend a trainable JPEG layer")
    add_dataclass_flags(jpeg, JPEGConfig, prefix="jpeg-", dest_prefix="jpeg.")
    distill = train.add_argument_group(
        "distillation", "train against a frozen --teacher run (defaults per method: see jpegdl.distill.objective)"
    )
    add_dataclass_flags(distill, DistillSettings, dest_prefix="distill.")
    weighting = train.add_argument_group(
        "example weighting", "per-example loss weights for noisy labels (--label-noise): uniform, small-loss, or a"
        " LAW policy searched by reinforcement learning first (RUN/law/) or loaded with --weighting-policy"
    )  # fmt: skip
    add_dataclass_flags(weighting, WeightingConfig, dest_prefix="weighting.")
    train.set_defaults(handler=_cmd_train)

    show = commands.add_parser("show-tables", help="heatmap PNG of a run's learned tables")
    show.add_argument("run", help="run folder (with summary.json or last.pt)")
    show.add_argument("--output", "-o", help="PNG path (default RUN/tables.png)")
    show.set_defaults(handler=_cmd_show_tables)

    demo = commands.add_parser(
        "demo", help="the codec against libjpeg-turbo on bundled photos, then a short JPEG-DL training"
    )
    demo.add_argument("--qualities", type=quality, nargs="+", default=[10, 50, 75, 90],
                      help="IJG qualities of the codec comparison (default: 10 50 75 90)")  # fmt: skip
    demo.add_argument("--codec-only", action="store_true", help="skip the training part")
    demo.set_defaults(handler=_cmd_demo)

"""Training subcommands: train, show-tables, demo."""

from __future__ import annotations

import argparse

from jpegdl.cli.arguments import quality


def _cmd_demo(args: argparse.Namespace) -> None:
    from jpegdl.demo import run_demo

    run_demo(tuple(args.qualities), train=not args.codec_only)


def _cmd_train(args: argparse.Namespace) -> None:
    from dataclasses import fields

    from jpegdl.train import PRESETS, TrainConfig, Trainer

    values = dict(PRESETS[args.preset]) if args.preset else {}
    for field in fields(TrainConfig):
        given = getattr(args, field.name, None)
        if given is not None:
            values[field.name] = given
    config = TrainConfig.from_dict(values)
    summary = Trainer(config, resume=args.resume).fit()
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        print(f"done: test accuracy {summary['test_acc']:.4f}", end="")
        if summary.get("test_acc_hard") is not None:
            files = summary.get("test_files", {})
            print(f", hard {summary['test_acc_hard']:.4f}", end="")
            if files:
                print(f"; test set as real JPEG: {files['bpp']:.3f} bpp ({files['payload_bpp']:.3f} payload)", end="")
        print(f"\nrun folder: {config.out}")


def _cmd_show_tables(args: argparse.Namespace) -> None:
    from jpegdl.plots import plot_tables

    path = plot_tables(args.run, args.output)
    print(f"wrote {path}")


def add_train_parsers(commands: argparse._SubParsersAction) -> None:
    from jpegdl.data import DATASETS
    from jpegdl.train import PRESETS

    train = commands.add_parser(
        "train",
        help="train a classifier, optionally behind a trainable JPEG layer (JPEG-DL)",
        description="Train a model; launch with torchrun for several processes (DDP).",
    )
    train.add_argument("--preset", choices=sorted(PRESETS), help="a paper recipe; other flags override it")
    train.add_argument("--model", help="zoo name (resnet20, wrn_40_2, ...), torchvision or timm name")
    train.add_argument("--dataset", help=f"one of {', '.join(DATASETS)}")
    train.add_argument("--data-root", dest="data_root", help="folder holding the dataset files")
    train.add_argument("--out", help="run folder (checkpoints, metrics.csv, summary.json)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", dest="batch_size", type=int)
    train.add_argument("--optimizer", choices=("sgd", "adamw"))
    train.add_argument("--lr", type=float)
    train.add_argument("--weight-decay", dest="weight_decay", type=float)
    train.add_argument("--schedule", choices=("cosine", "step", "constant"))
    train.add_argument("--milestones", type=int, nargs="+", help="epochs where 'step' multiplies the lr by gamma")
    train.add_argument("--seed", type=int)
    train.add_argument("--workers", type=int, help="data-loading processes")
    train.add_argument("--device", help="auto (default), cpu or cuda")
    train.add_argument("--limit-train", dest="limit_train", type=int, help="use only the first N training images")
    train.add_argument("--limit-test", dest="limit_test", type=int, help="use only the first N test images")
    train.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    jpeg = train.add_argument_group("JPEG-DL layer")
    jpeg.add_argument("--jpeg", action="store_const", const=True, help="prepend a trainable JPEG layer")
    jpeg.add_argument("--jpeg-init", dest="jpeg_init", choices=("ijg", "flat", "lsq", "sensitivity"))
    jpeg.add_argument("--jpeg-q-max", dest="jpeg_q_max", type=float, help="largest luma step for 'sensitivity'")
    jpeg.add_argument(
        "--jpeg-sensitivity-run", dest="jpeg_sensitivity_run", help="trained run (no layer) for 'sensitivity'"
    )
    jpeg.add_argument("--jpeg-quality", dest="jpeg_quality", type=quality, help="IJG quality of the initial tables")
    jpeg.add_argument("--jpeg-alpha", dest="jpeg_alpha", type=float, help="soft-quantizer hardness (default 5)")
    jpeg.add_argument("--jpeg-hardness", dest="jpeg_hardness", type=float, help="alpha = hardness / q^2 instead")
    jpeg.add_argument("--jpeg-rounds", dest="jpeg_rounds", type=int)
    jpeg.add_argument("--jpeg-step-min", dest="jpeg_step_min", type=float)
    jpeg.add_argument("--jpeg-step-max", dest="jpeg_step_max", type=float)
    jpeg.add_argument("--jpeg-subsampling", dest="jpeg_subsampling", choices=("4:4:4", "4:2:0"))
    jpeg.add_argument("--table-lr", dest="table_lr", type=float, help="Adam learning rate of the tables (3e-3)")
    distill = train.add_argument_group(
        "distillation", "train against a frozen teacher run (defaults per method: see jpegdl.distill.objective)"
    )
    distill.add_argument("--teacher", metavar="RUN", help="run folder (or checkpoint) of the trained teacher")
    distill.add_argument("--distill", choices=("kd", "ttm", "wttm", "cckd", "rco"), help="distillation method")
    distill.add_argument("--gamma", dest="distill_gamma", type=float, metavar="G",
                         help="TTM/WTTM power on the teacher, 1/T (default 0.25)")  # fmt: skip
    distill.add_argument("--beta", dest="distill_beta", type=float, metavar="B",
                         help="weight of the distillation term (kd 0.9, ttm 36, wttm 36/U, cckd 1)")  # fmt: skip
    distill.add_argument("--ce-weight", dest="distill_ce", type=float, metavar="W",
                         help="cross-entropy weight (kd 0.1, else 1)")  # fmt: skip
    distill.add_argument("--temperature", dest="distill_temperature", type=float, metavar="T",
                         help="KD temperature (4)")  # fmt: skip
    distill.add_argument("--rco-loss", dest="rco_loss", choices=("kd", "ttm", "wttm"), help="RCO's logit loss (kd)")
    distill.add_argument("--cckd-per-class", dest="cckd_per_class", type=int, metavar="K",
                         help="CCKD: images per class in a batch (4; 0 = uniform batches)")  # fmt: skip
    distill.add_argument("--save-every", dest="save_every", type=int, metavar="N",
                         help="keep a checkpoint every N epochs in OUT/anchors (to be an RCO teacher)")  # fmt: skip
    train.set_defaults(handler=_cmd_train)

    show = commands.add_parser("show-tables", help="heatmap PNG of a run's learned tables")
    show.add_argument("run", help="run folder (with summary.json or last.pt)")
    show.add_argument("--output", "-o", help="PNG path (default RUN/tables.png)")
    show.set_defaults(handler=_cmd_show_tables)

    demo = commands.add_parser(
        "demo", help="the codec against libjpeg-turbo on bundled photos, then a short JPEG-DL training"
    )
    demo.add_argument("--qualities", type=quality, nargs="+", default=[10, 50, 75, 90])
    demo.add_argument("--codec-only", action="store_true", help="skip the training part")
    demo.set_defaults(handler=_cmd_demo)

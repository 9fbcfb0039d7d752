"""The ``jpegdl`` command line: one thin subcommand per task."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _quality(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer 0..100, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected an integer 0..100, got {value}")
    return value


def _cmd_tables(args: argparse.Namespace) -> None:
    from jpegdl.jpeg import QuantTables

    tables = QuantTables.from_quality(args.quality, force_baseline=not args.no_baseline)
    text = tables.to_cjpeg() if args.format == "cjpeg" else json.dumps(tables.to_dict(), indent=1) + "\n"
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)


def _read_picture(path: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not Path(path).is_file():
        raise ValueError(f"input: no such file {path!r}")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L" if image.mode in ("L", "I;16", "I", "1") else "RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"input: cannot read image {path!r} ({err})") from None


def _cmd_encode(args: argparse.Namespace) -> None:
    from jpegdl.files import bits_per_pixel, payload_bytes, save_jpeg
    from jpegdl.jpeg import QuantTables

    pixels = _read_picture(args.input)
    tables = QuantTables.load(args.tables) if args.tables else QuantTables.from_quality(args.quality)
    data = save_jpeg(pixels, tables, args.subsampling, optimize=not args.no_optimize)
    Path(args.output).write_bytes(data)
    height, width = pixels.shape[:2]
    print(
        f"wrote {args.output}: {width}x{height}, {len(data)} bytes"
        f" ({bits_per_pixel(len(data), height, width):.3f} bpp), payload {payload_bytes(data)} bytes"
        f" ({bits_per_pixel(payload_bytes(data), height, width):.3f} bpp)"
    )


def _cmd_info(args: argparse.Namespace) -> None:
    from jpegdl.files import inspect

    info = inspect(args.file)
    if args.json:
        print(json.dumps(info.to_dict(), indent=1))
        return
    print(f"file        {args.file}")
    print(f"size        {info.width}x{info.height}, {info.components} component(s), {info.frame}")
    if info.components == 3:
        print(f"sampling    {info.subsampling}")
    print(f"bytes       {info.file_bytes} ({info.bpp:.3f} bpp)")
    print(f"payload     {info.payload_bytes} ({info.payload_bpp:.3f} bpp, entropy-coded scan data)")
    names = ("luma",) if info.components == 1 else ("luma", "chroma")
    for name in names:
        table = getattr(info.tables, name)
        print(f"{name} table (natural order)")
        for row in table.tolist():
            print("    " + " ".join(f"{v:3d}" for v in row))


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


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
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
    jpeg.add_argument("--jpeg-quality", dest="jpeg_quality", type=_quality, help="IJG quality of the initial tables")
    jpeg.add_argument("--jpeg-alpha", dest="jpeg_alpha", type=float, help="soft-quantizer hardness (default 5)")
    jpeg.add_argument("--jpeg-hardness", dest="jpeg_hardness", type=float, help="alpha = hardness / q^2 instead")
    jpeg.add_argument("--jpeg-rounds", dest="jpeg_rounds", type=int)
    jpeg.add_argument("--jpeg-step-min", dest="jpeg_step_min", type=float)
    jpeg.add_argument("--jpeg-step-max", dest="jpeg_step_max", type=float)
    jpeg.add_argument("--jpeg-subsampling", dest="jpeg_subsampling", choices=("4:4:4", "4:2:0"))
    jpeg.add_argument("--table-lr", dest="table_lr", type=float, help="Adam learning rate of the tables (3e-3)")
    train.set_defaults(handler=_cmd_train)

    show = commands.add_parser("show-tables", help="heatmap PNG of a run's learned tables")
    show.add_argument("run", help="run folder (with summary.json or last.pt)")
    show.add_argument("--output", "-o", help="PNG path (default RUN/tables.png)")
    show.set_defaults(handler=_cmd_show_tables)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jpegdl",
        description="JPEG-aware deep learning: a libjpeg-exact differentiable codec and real JPEG files.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tables = commands.add_parser("tables", help="print IJG quantization tables for a quality")
    tables.add_argument("--quality", "-q", type=_quality, default=75, help="IJG quality 0..100 (default 75)")
    tables.add_argument("--format", choices=("json", "cjpeg"), default="json", help="json, or cjpeg -qtables text")
    tables.add_argument(
        "--no-baseline", action="store_true", help="do not clamp entries to 255 (cjpeg without -baseline)"
    )
    tables.add_argument("--output", "-o", help="write to this file instead of stdout")
    tables.set_defaults(handler=_cmd_tables)

    encode = commands.add_parser("encode", help="write a standard JPEG with given tables or quality")
    encode.add_argument("input", help="any image Pillow reads (PNG, JPEG, ...)")
    encode.add_argument("output", help="JPEG file to write")
    source = encode.add_mutually_exclusive_group(required=True)
    source.add_argument("--tables", "-t", help="tables JSON (from 'jpegdl tables' or learned)")
    source.add_argument("--quality", "-q", type=_quality, help="IJG quality 0..100")
    encode.add_argument("--subsampling", "-s", choices=("4:2:0", "4:4:4"), default="4:2:0")
    encode.add_argument("--no-optimize", action="store_true", help="standard Huffman tables instead of optimized ones")
    encode.set_defaults(handler=_cmd_encode)

    info = commands.add_parser("info", help="size, sampling, tables and bytes of a JPEG file")
    info.add_argument("file")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_cmd_info)

    _add_train_parser(commands)

    demo = commands.add_parser(
        "demo", help="the codec against libjpeg-turbo on bundled photos, then a short JPEG-DL training"
    )
    demo.add_argument("--qualities", type=_quality, nargs="+", default=[10, 50, 75, 90])
    demo.add_argument("--codec-only", action="store_true", help="skip the training part")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except ValueError as err:
        parser.exit(2, f"jpegdl {args.command}: error: {err}\n")
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

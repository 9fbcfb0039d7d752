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


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _load_models(paths: Sequence[str], dataset: str | None) -> tuple[dict, str]:
    """Frozen classifiers from run folders; all must share one dataset (``dataset`` if given)."""
    from jpegdl.train import load_classifier

    models, datasets = {}, set()
    for path in paths:
        model, config = load_classifier(path)
        taken = {k.split(":")[0] for k in models}
        models[f"{config.model}:{Path(path).name}" if config.model in taken else config.model] = model
        datasets.add(config.dataset)
    chosen = dataset or (datasets.pop() if len(datasets) == 1 else None)
    if chosen is None:
        raise ValueError(f"model: the runs were trained on different datasets {sorted(datasets)}; pass --dataset")
    return models, chosen


def _device(name: str):
    from jpegdl.train.distributed import DistContext, resolve_device

    return resolve_device(name, DistContext())


def _cmd_learn_tables(args: argparse.Namespace) -> None:
    from torch.utils.data import DataLoader, Subset

    from jpegdl.data import create_dataset
    from jpegdl.j4d import learn_tables

    models, dataset = _load_models(args.model, args.dataset)
    train, _ = create_dataset(dataset, "train", args.data_root, augment=False)
    if args.offset >= len(train):
        raise ValueError(f"offset: the training set has {len(train)} images, got offset {args.offset}")
    subset = Subset(train, range(args.offset, min(len(train), args.offset + args.images)))
    device = _device(args.device)
    import torch

    loader = DataLoader(subset, args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(args.seed))
    out = Path(args.out)
    lambdas = args.sweep if args.sweep else [args.lam]
    print(f"learning tables for {', '.join(models)} on {len(subset)} {dataset} training images")
    print(f"{'lambda':>8} {'task loss':>10} {'est. bpp':>9}  file")
    for lam in lambdas:
        result = learn_tables(
            list(models.values()), loader, lam, init=args.init_quality, subsampling=args.subsampling,
            hardness=args.hardness, learn_hardness=args.learn_hardness, quantizer=args.quantizer, loss=args.loss,
            epochs=args.epochs, lr=args.lr, device=device, seed=args.seed,
        )  # fmt: skip
        result.settings |= {"models": list(args.model), "dataset": dataset}
        path = result.save(out / f"lambda{lam:g}.json")
        tail = result.history[-min(10, len(result.history)) :]
        task = sum(h["task"] for h in tail) / len(tail)
        bpp = sum(h["bpp"] for h in tail) / len(tail)
        print(f"{lam:>8g} {task:>10.4f} {bpp:>9.3f}  {path}")


def _cmd_compress(args: argparse.Namespace) -> None:
    from jpegdl.j4d import compress_folder, load_hardness
    from jpegdl.jpeg import QuantTables

    tables = QuantTables.load(args.tables).rounded() if args.round else QuantTables.load(args.tables)
    hardness = args.hardness if args.hardness is not None else load_hardness(args.tables)
    summary = compress_folder(
        args.in_dir, args.out_dir, tables, args.subsampling, "probabilistic" if args.probabilistic else "rounded",
        hardness, args.seed, args.workers,
    )  # fmt: skip
    print(
        f"wrote {summary['files']} JPEG files to {args.out_dir}: {summary['bytes']} bytes"
        f" ({summary['bpp']:.3f} bpp), payload {summary['payload_bytes']} bytes ({summary['payload_bpp']:.3f} bpp)"
    )
    if summary["skipped"]:
        print(f"skipped {summary['skipped']} unreadable file(s)")


def _cmd_rate_accuracy(args: argparse.Namespace) -> None:
    import torch
    from torch.utils.data import DataLoader, Subset

    from jpegdl.data import create_dataset
    from jpegdl.evaluate.rate_accuracy import classify, compare, evaluate_codecs, format_comparisons, parse_codecs
    from jpegdl.files import to_uint8
    from jpegdl.plots import plot_rate_accuracy
    from jpegdl.table_init import frequency_sensitivity

    specs = parse_codecs(args.codecs)
    models, dataset = _load_models(args.model, args.dataset)
    device = _device(args.device)
    for model in models.values():
        model.to(device)
    test, _ = create_dataset(dataset, "test", args.data_root, augment=False)
    count = len(test) if args.limit_test is None else min(args.limit_test, len(test))
    images = [test[i][0] for i in range(count)]
    arrays = [to_uint8(image) for image in images]
    labels = torch.tensor([int(test[i][1]) for i in range(count)])
    clean = classify(models, torch.stack(images), labels, device=device)
    sensitivity = None
    if any(s.kind == "sensitivity" for s in specs):
        if len(models) > 1:
            raise ValueError("codecs: 'sensitivity' tables are per model; give one --model")
        train, _ = create_dataset(dataset, "train", args.data_root, augment=False)
        loader = DataLoader(Subset(train, range(min(len(train), args.sensitivity_images))), batch_size=256)
        sensitivity = frequency_sensitivity(next(iter(models.values())), loader, args.subsampling, device=device)
    points = evaluate_codecs(
        specs, arrays, labels, models, args.subsampling, args.qualities, args.scales, sensitivity,
        args.probabilistic_seeds, workers=args.workers, device=device,
    )  # fmt: skip
    records = [p.to_dict() for p in points]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    comparisons = compare(records, clean) if any(s.kind == "ijg" for s in specs) else []
    result = {
        "dataset": dataset, "test_images": count, "subsampling": args.subsampling, "decoder": "Pillow (libjpeg-turbo)",
        "huffman": "optimized (mozjpeg: progressive)", "rates": "bpp: whole files, headers included;"
        " payload_bpp: entropy-coded scan data alone", "models": list(args.model), "uncompressed_accuracy": clean,
        "points": records, "comparisons_vs_ijg": comparisons,
    }  # fmt: skip
    (out / "rate_accuracy.json").write_text(json.dumps(result, indent=1) + "\n")
    plot = plot_rate_accuracy(records, out / "rate_accuracy.png", list(models), uncompressed=clean,
                              title=f"{dataset}: real JPEG files ({args.subsampling})")  # fmt: skip
    print(f"{dataset} test set ({count} images), {args.subsampling}, decoded by Pillow (libjpeg-turbo);"
          " optimized Huffman tables (mozjpeg: progressive); bpp = whole files with headers, payload ="
          " entropy-coded scan data alone")  # fmt: skip
    print(f"uncompressed: {', '.join(f'{k} {100 * v:.2f}%' for k, v in clean.items())}")
    print(f"{'codec':28} {'setting':>12} {'bpp':>7} {'payload':>8}  accuracy")
    for p in records:
        accuracy = ", ".join(f"{k} {100 * v:.2f}%" for k, v in p["accuracy"].items())
        seed = f" seed {p['seed']}" if p["seed"] is not None else ""
        print(f"{p['codec']:28} {p['setting']!s:>12} {p['bpp']:>7.3f} {p['payload_bpp']:>8.3f}  {accuracy}{seed}")
    if comparisons:
        print()
        print(format_comparisons(comparisons))
    print(f"wrote {out / 'rate_accuracy.json'} and {plot}")


def _add_j4d_parsers(commands: argparse._SubParsersAction) -> None:
    from jpegdl.evaluate.rate_accuracy import DEFAULT_QUALITIES, DEFAULT_SCALES

    learn = commands.add_parser(
        "learn-tables",
        help="learn JPEG tables for frozen classifiers: task loss + lambda x rate (J4D)",
        description="Learn luma/chroma tables for one or several frozen classifiers (several: universal tables)."
        " Writes OUT/lambda<L>.json per lambda: the rounded baseline tables (what 'encode --tables' and"
        " 'compress' read), the float steps, the hardness and the training history.",
    )
    learn.add_argument("--model", action="append", required=True, help="run folder of 'jpegdl train' (repeatable)")
    learn.add_argument("--dataset", help="default: the dataset the models were trained on")
    learn.add_argument("--data-root", dest="data_root")
    rate = learn.add_mutually_exclusive_group(required=True)
    rate.add_argument("--lambda", dest="lam", type=_non_negative, help="weight of the rate (bits per pixel)")
    rate.add_argument("--sweep", type=_non_negative, nargs="+", help="several lambdas: one tables file each")
    learn.add_argument("--out", required=True, help="output folder")
    learn.add_argument("--images", type=_positive_int, default=10_000, help="training images used (10000)")
    learn.add_argument("--offset", type=int, default=0, help="index of the first training image used (0)")
    learn.add_argument("--batch-size", dest="batch_size", type=_positive_int, default=256)
    learn.add_argument("--epochs", type=_positive_int, default=2)
    learn.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on the log steps (0.05)")
    learn.add_argument("--init-quality", dest="init_quality", type=_quality, default=50)
    learn.add_argument("--hardness", type=float, default=8.0, help="soft-quantizer hardness h, alpha = h/q^2 (8)")
    learn.add_argument("--learn-hardness", dest="learn_hardness", action="store_true")
    learn.add_argument("--quantizer", choices=("ste", "soft", "sampled"), default="ste",
                       help="forward pass while learning: ste (rounding), soft or sampled (default ste)")  # fmt: skip
    learn.add_argument("--loss", choices=("ce", "kl"), default="ce", help="ce: labels; kl: uncompressed output")
    learn.add_argument("--subsampling", choices=("4:4:4", "4:2:0"), default="4:4:4")
    learn.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    learn.add_argument("--seed", type=int, default=0)
    learn.set_defaults(handler=_cmd_learn_tables)

    compress = commands.add_parser(
        "compress", help="compress a folder of images to standard JPEG files with given tables",
        description="Every image under IN_DIR becomes OUT_DIR/<same path>.jpg (baseline, optimized Huffman)."
        " Unreadable files are skipped with a warning and counted.",
    )  # fmt: skip
    compress.add_argument("in_dir")
    compress.add_argument("out_dir")
    compress.add_argument("--tables", "-t", required=True, help="tables JSON (learned or from 'jpegdl tables')")
    compress.add_argument("--probabilistic", action="store_true", help="draw indices from the soft PMF (jpeglib)")
    compress.add_argument("--hardness", type=float, help="hardness of the draws (default: from the tables JSON, or 8)")
    compress.add_argument("--round", action="store_true", help="round float tables to integers 1..255 first")
    compress.add_argument("--subsampling", "-s", choices=("4:2:0", "4:4:4"), default="4:2:0")
    compress.add_argument("--seed", type=int, default=0)
    compress.add_argument("--workers", type=_positive_int, default=1, help="encoding processes (1)")
    compress.set_defaults(handler=_cmd_compress)

    evaluate = commands.add_parser(
        "rate-accuracy",
        help="accuracy on real decoded JPEG files vs bits per pixel, for several codecs; BD-rate against IJG",
        description="Encode the test set with each codec setting (real files), decode with Pillow, classify."
        " Writes OUT/rate_accuracy.json and OUT/rate_accuracy.png.",
    )
    evaluate.add_argument("--model", action="append", required=True, help="run folder (repeatable)")
    evaluate.add_argument("--dataset", help="default: the dataset the models were trained on")
    evaluate.add_argument("--data-root", dest="data_root")
    evaluate.add_argument("--codecs", default="ijg,mozjpeg", help="comma list of ijg, mozjpeg, sensitivity,"
                          " learned:FILE_OR_FOLDER (default ijg,mozjpeg)")  # fmt: skip
    evaluate.add_argument("--qualities", type=_quality, nargs="+", default=list(DEFAULT_QUALITIES))
    evaluate.add_argument("--scales", type=float, nargs="+", default=list(DEFAULT_SCALES),
                          help="steps of the most sensitive frequency for 'sensitivity'")  # fmt: skip
    evaluate.add_argument("--sensitivity-images", dest="sensitivity_images", type=_positive_int, default=10_000)
    evaluate.add_argument("--probabilistic-seeds", dest="probabilistic_seeds", type=int, nargs="*", default=[],
                          help="also write learned tables by probabilistic quantization with these seeds")  # fmt: skip
    evaluate.add_argument("--subsampling", choices=("4:4:4", "4:2:0"), default="4:4:4")
    evaluate.add_argument("--limit-test", dest="limit_test", type=_positive_int)
    evaluate.add_argument("--workers", type=_positive_int, default=1)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.set_defaults(handler=_cmd_rate_accuracy)


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
    _add_j4d_parsers(commands)

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

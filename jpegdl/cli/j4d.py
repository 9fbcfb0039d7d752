"""J4D subcommands: learn-tables, compress, rate-accuracy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jpegdl.cli.arguments import load_models, non_negative, pick_device, positive_int, quality


def _cmd_learn_tables(args: argparse.Namespace) -> None:
    from torch.utils.data import DataLoader, Subset

    from jpegdl.data import create_dataset
    from jpegdl.j4d import learn_tables

    models, dataset = load_models(args.model, args.dataset)
    train, _ = create_dataset(dataset, "train", args.data_root, augment=False)
    if args.offset >= len(train):
        raise ValueError(f"offset: the training set has {len(train)} images, got offset {args.offset}")
    subset = Subset(train, range(args.offset, min(len(train), args.offset + args.images)))
    device = pick_device(args.device)
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
    from jpegdl.tables import frequency_sensitivity

    specs = parse_codecs(args.codecs)
    models, dataset = load_models(args.model, args.dataset)
    device = pick_device(args.device)
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


def add_j4d_parsers(commands: argparse._SubParsersAction) -> None:
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
    rate.add_argument("--lambda", dest="lam", type=non_negative, help="weight of the rate (bits per pixel)")
    rate.add_argument("--sweep", type=non_negative, nargs="+", help="several lambdas: one tables file each")
    learn.add_argument("--out", required=True, help="output folder")
    learn.add_argument("--images", type=positive_int, default=10_000, help="training images used (10000)")
    learn.add_argument("--offset", type=int, default=0, help="index of the first training image used (0)")
    learn.add_argument("--batch-size", dest="batch_size", type=positive_int, default=256)
    learn.add_argument("--epochs", type=positive_int, default=2)
    learn.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on the log steps (0.05)")
    learn.add_argument("--init-quality", dest="init_quality", type=quality, default=50)
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
    compress.add_argument("--workers", type=positive_int, default=1, help="encoding processes (1)")
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
    evaluate.add_argument("--qualities", type=quality, nargs="+", default=list(DEFAULT_QUALITIES))
    evaluate.add_argument("--scales", type=float, nargs="+", default=list(DEFAULT_SCALES),
                          help="steps of the most sensitive frequency for 'sensitivity'")  # fmt: skip
    evaluate.add_argument("--sensitivity-images", dest="sensitivity_images", type=positive_int, default=10_000)
    evaluate.add_argument("--probabilistic-seeds", dest="probabilistic_seeds", type=int, nargs="*", default=[],
                          help="also write learned tables by probabilistic quantization with these seeds")  # fmt: skip
    evaluate.add_argument("--subsampling", choices=("4:4:4", "4:2:0"), default="4:4:4")
    evaluate.add_argument("--limit-test", dest="limit_test", type=positive_int)
    evaluate.add_argument("--workers", type=positive_int, default=1)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.set_defaults(handler=_cmd_rate_accuracy)

"""J4D subcommands: learn-tables, compress, compress-guided, rate-accuracy, and ``tables --sensitivity``."""

from __future__ import annotations

import argparse
import json
import sys

from jpegdl.cli.arguments import (
    add_data_flags,
    add_device_flag,
    load_models,
    max_pixels_flag,
    non_negative,
    non_negative_int,
    output_folder,
    pick_device,
    positive,
    positive_int,
    quality,
    read_tables,
    subsampling,
    tables_hardness,
    write_text_output,
)
from jpegdl.cli.options import add_dataclass_flags, given_values


def _cmd_learn_tables(args: argparse.Namespace) -> None:
    import torch
    from torch.utils.data import DataLoader, Subset

    from jpegdl.data import create_dataset
    from jpegdl.j4d import J4DConfig, learn_tables

    out = output_folder(args.out)
    models, dataset = load_models(args.model, args.dataset)
    train, _ = create_dataset(dataset, "train", args.data_root, augment=False)
    if args.offset >= len(train):
        raise ValueError(f"offset: the training set has {len(train)} images, got offset {args.offset}")
    subset = Subset(train, range(args.offset, min(len(train), args.offset + args.images)))
    device = pick_device(args.device)
    config = J4DConfig(**given_values(args, J4DConfig, "j4d."))
    loader = DataLoader(subset, 256, shuffle=True, generator=torch.Generator().manual_seed(config.seed))
    lambdas = args.sweep if args.sweep else [args.lam]
    print(f"learning tables ({config.method}) for {', '.join(models)} on {len(subset)} {dataset} training images"
          f" ({100 * config.held_out:g} % held out)")  # fmt: skip
    print(f"{'lambda':>8} {'task loss':>10} {'bpp':>7} {'chosen':>12} {'seconds':>8}  file")
    for lam in lambdas:
        result = learn_tables(list(models.values()), loader, lam, config, init=args.init_quality, device=device)
        result.settings |= {"models": list(args.model), "dataset": dataset}
        path = result.save(out / f"lambda{lam:g}.json")
        held = result.history[-1]["scores"][result.settings["chosen"]]
        print(f"{lam:>8g} {held['task']:>10.4f} {held['bpp']:>7.3f} {result.settings['chosen']:>12}"
              f" {result.settings['seconds']:>8.1f}  {path}")  # fmt: skip


SUBSAMPLING_HELP = "chroma subsampling of colour images (default: 4:4:4; grayscale has none)"


def _recorded_subsampling(data: dict) -> str:
    """The subsampling a tables JSON was learned for (``4:2:0``, libjpeg's default, when it says none)."""
    recorded = data.get("subsampling")
    return recorded if recorded in ("4:4:4", "4:2:0") else "4:2:0"


def _cmd_compress(args: argparse.Namespace) -> None:
    from jpegdl.j4d import compress_folder

    tables, data = read_tables(args.tables)
    tables = tables.rounded() if args.round else tables
    hardness = args.hardness if args.hardness is not None else tables_hardness(data, args.tables)
    subsampling = args.subsampling or _recorded_subsampling(data)
    summary = compress_folder(
        args.in_dir, args.out_dir, tables, subsampling, "probabilistic" if args.probabilistic else "rounded",
        hardness, args.seed, args.workers, overwrite=args.overwrite, **_pixels(args),
    )  # fmt: skip
    if summary["files"]:
        print(
            f"wrote {summary['files']} JPEG files to {args.out_dir}: {summary['bytes']} bytes ({summary['bpp']:.3f}"
            f" bpp), payload {summary['payload_bytes']} bytes ({summary['payload_bpp']:.3f} bpp)"
        )
    _report_skipped(summary)


def _pixels(args: argparse.Namespace) -> dict:
    return {"max_pixels": args.max_pixels} if args.max_pixels is not None else {}


def _report_skipped(summary: dict) -> None:
    """The skipped files on stderr, one line each; exit 1 (2 when nothing was written)."""
    if summary["skipped"]:
        print(f"skipped {summary['skipped']} file(s):", file=sys.stderr)
        for reason in summary["skipped_files"]:
            print(f"  {reason}", file=sys.stderr)
        raise SystemExit(1 if summary["files"] else 2)


def _cmd_compress_guided(args: argparse.Namespace) -> None:
    from torch.utils.data import DataLoader, Subset

    from jpegdl.data import create_dataset
    from jpegdl.j4d.compress import compress_folder_guided
    from jpegdl.j4d.guided import quality_ladder, sensitivity_ladder
    from jpegdl.tables.sensitivity import frequency_sensitivity

    models, dataset = load_models([args.model], args.dataset)
    model, device = next(iter(models.values())), pick_device(args.device)
    if args.ladder == "ijg":
        ladder = quality_ladder()
    else:
        train, _ = create_dataset(dataset, "train", args.data_root, augment=False)
        loader = DataLoader(Subset(train, range(min(len(train), args.images))), batch_size=256)
        ladder = sensitivity_ladder(frequency_sensitivity(model, loader, args.subsampling, None, device))
    summary = compress_folder_guided(args.in_dir, args.out_dir, model, ladder, args.max_kl, args.subsampling, device,
                                     overwrite=args.overwrite, **_pixels(args))  # fmt: skip
    if summary["files"]:
        used = ", ".join(f"{i}: {n}" for i, n in enumerate(summary["levels"]) if n)
        print(f"wrote {summary['files']} JPEG files to {args.out_dir}: {summary['bytes']} bytes ({summary['bpp']:.3f}"
              f" bpp), payload {summary['payload_bytes']} bytes ({summary['payload_bpp']:.3f} bpp)")  # fmt: skip
        print(f"{args.ladder} ladder of {len(ladder)} tables (0 = finest): files per level {{{used}}}")
    _report_skipped(summary)


def _cmd_rate_accuracy(args: argparse.Namespace) -> None:
    from jpegdl.data import create_dataset
    from jpegdl.evaluate.rate_accuracy import format_bootstrap, format_comparisons, parse_codecs, rate_accuracy
    from jpegdl.plots import plot_rate_accuracy

    out = output_folder(args.out)
    specs = parse_codecs(args.codecs)
    models, dataset = load_models(args.model, args.dataset)
    test, _ = create_dataset(dataset, "test", args.data_root, augment=False)
    train = None
    if any(s.kind in ("sensitivity", "guided") for s in specs):
        train, _ = create_dataset(dataset, "train", args.data_root, augment=False)
    result = rate_accuracy(
        models, test, specs, subsampling=args.subsampling, qualities=args.qualities, scales=args.scales,
        sensitivity_data=train, sensitivity_images=args.sensitivity_images,
        probabilistic_seeds=args.probabilistic_seeds, guided_thresholds=args.max_kl, limit=args.limit_test,
        workers=args.workers,
        device=pick_device(args.device), bootstrap_rounds=args.bootstrap,
    )  # fmt: skip
    records, clean = result["points"], result["uncompressed_accuracy"]
    summary = {
        "dataset": dataset, "decoder": "Pillow (libjpeg-turbo)", "huffman": "optimized (mozjpeg: progressive)",
        "rates": "bpp: whole files, headers included; payload_bpp: entropy-coded scan data alone",
        "models": list(args.model), **result,
    }  # fmt: skip
    temporary = out / ".rate_accuracy.json.tmp"
    temporary.write_text(json.dumps(summary, indent=1) + "\n")
    temporary.replace(out / "rate_accuracy.json")
    plot = plot_rate_accuracy(records, out / "rate_accuracy.png", list(models), uncompressed=clean,
                              title=f"{dataset}: real JPEG files ({args.subsampling})")  # fmt: skip
    print(f"{dataset} test set ({result['test_images']} images), {args.subsampling}, decoded by Pillow"
          " (libjpeg-turbo); optimized Huffman tables (mozjpeg: progressive); bpp = whole files with headers,"
          " payload = entropy-coded scan data alone")  # fmt: skip
    print(f"uncompressed: {', '.join(f'{k} {100 * v:.2f}%' for k, v in clean.items())}")
    print(f"{'codec':28} {'setting':>12} {'bpp':>7} {'payload':>8}  accuracy")
    for p in records:
        accuracy = ", ".join(f"{k} {100 * v:.2f}%" for k, v in p["accuracy"].items())
        seed = f" seed {p['seed']}" if p["seed"] is not None else ""
        print(f"{p['codec']:28} {p['setting']!s:>12} {p['bpp']:>7.3f} {p['payload_bpp']:>8.3f}  {accuracy}{seed}")
    if result["comparisons"]:
        print()
        print(format_comparisons(result["comparisons"]))
    if result["bootstrap"]:
        print()
        print(format_bootstrap(result["bootstrap"]))
    print(f"wrote {out / 'rate_accuracy.json'} and {plot}")


def _cmd_sensitivity_tables(args: argparse.Namespace) -> None:
    """``jpegdl tables --sensitivity RUN``: tables from the run's frequency sensitivity."""

    from torch.utils.data import DataLoader, Subset

    from jpegdl.data import create_dataset
    from jpegdl.tables.sensitivity import frequency_sensitivity, lambda_matched_tables, scaled_tables

    models, dataset = load_models([args.sensitivity], args.dataset)
    train, _ = create_dataset(dataset, "train", args.data_root, augment=False)
    loader = DataLoader(Subset(train, range(min(len(train), args.images))), batch_size=256)
    sensitivity = frequency_sensitivity(list(models.values()), loader, args.subsampling, None, pick_device(args.device))
    if args.lam is not None:
        image = train[0][0]
        tables = lambda_matched_tables(sensitivity, args.lam, int(image.shape[-2] * image.shape[-1]))
    else:
        tables = scaled_tables(sensitivity, args.scale)
    text = tables.to_cjpeg() if args.format == "cjpeg" else json.dumps(tables.to_dict(), indent=1) + "\n"
    write_text_output(args.output, text, args.overwrite)


def _extend_tables_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``--sensitivity RUN`` (and its options) to the codec's ``tables`` command."""
    tables = commands.choices.get("tables")
    if tables is None:
        return
    group = tables.add_argument_group("sensitivity tables (q ~ 1/sqrt(E[(dCE/dz)^2]) of a trained model)")
    group.add_argument("--sensitivity", metavar="RUN", help="run folder of 'jpegdl train': tables from its"
                       " frequency sensitivity on training images instead of IJG's")  # fmt: skip
    scale = group.add_mutually_exclusive_group()
    scale.add_argument("--scale", type=float, default=4.0, help="step of the most sensitive luma frequency (4)")
    scale.add_argument("--lambda", dest="lam", type=non_negative,
                       help="lambda-matched steps sqrt(12 lambda / (ln2 pixels s)) instead of --scale")  # fmt: skip
    add_data_flags(group, "the dataset the model was trained on")
    group.add_argument("--images", type=positive_int, default=10_000, help="training images averaged (10000)")
    group.add_argument("--subsampling", type=subsampling, default="4:4:4", help=SUBSAMPLING_HELP)
    add_device_flag(group)
    plain = tables.get_default("handler")

    def handler(args: argparse.Namespace) -> None:
        if args.sensitivity:
            if args.lam is not None and args.lam <= 0:
                raise ValueError(f"lambda: expected a value > 0, got {args.lam}")
            if not args.scale > 0:
                raise ValueError(f"scale: expected a value > 0, got {args.scale}")
            _cmd_sensitivity_tables(args)
        else:
            plain(args)

    tables.set_defaults(handler=handler)


def add_j4d_parsers(commands: argparse._SubParsersAction) -> None:
    from jpegdl.j4d import J4DConfig

    _extend_tables_parser(commands)
    from jpegdl.evaluate.rate_accuracy import DEFAULT_GUIDED_THRESHOLDS, DEFAULT_QUALITIES, DEFAULT_SCALES

    learn = commands.add_parser(
        "learn-tables",
        help="learn JPEG tables for frozen classifiers: task loss + lambda x rate (J4D)",
        description="Learn luma/chroma tables for one or several frozen classifiers (several: universal tables)."
        " Writes OUT/lambda<L>.json per lambda: the rounded baseline tables (what 'encode --tables' and"
        " 'compress' read), the float steps, the hardness and the training history.",
    )
    learn.add_argument("--model", action="append", required=True, help="run folder of 'jpegdl train' (repeatable)")
    add_data_flags(learn, "the dataset the models were trained on")
    rate = learn.add_mutually_exclusive_group(required=True)
    rate.add_argument("--lambda", dest="lam", type=non_negative, help="weight of the rate (bits per pixel)")
    rate.add_argument("--sweep", type=non_negative, nargs="+", help="several lambdas: one tables file each")
    learn.add_argument("--out", required=True, help="output folder")
    learn.add_argument("--images", type=positive_int, default=2048, help="training images used (2048)")
    learn.add_argument("--offset", type=int, default=0, help="index of the first training image used (0)")
    learn.add_argument("--init-quality", dest="init_quality", type=quality,
                       help="also try IJG tables at this quality as a start (default: sensitivity only)")  # fmt: skip
    add_device_flag(learn)
    add_dataclass_flags(learn.add_argument_group("learning (J4DConfig)"), J4DConfig, dest_prefix="j4d.",
                        skip=("limit",))  # fmt: skip
    learn.set_defaults(handler=_cmd_learn_tables)

    compress = commands.add_parser(
        "compress", help="compress a folder of images to standard JPEG files with given tables",
        description="Every image under IN_DIR becomes OUT_DIR/<same path>.jpg (baseline, optimized Huffman)."
        " A file that cannot be read or written is skipped with its reason; the exit status is then 1.",
    )  # fmt: skip
    compress.add_argument("in_dir", help="folder of pictures (read recursively; never modified)")
    compress.add_argument("out_dir", help="output folder, outside IN_DIR")
    compress.add_argument("--overwrite", action="store_true", help="replace JPEG files an earlier compress wrote in"
                          " OUT_DIR (never other files)")  # fmt: skip
    max_pixels_flag(compress)
    compress.add_argument("--tables", "-t", required=True, help="tables JSON (learned or from 'jpegdl tables')")
    compress.add_argument("--probabilistic", action="store_true", help="draw indices from the soft PMF (jpeglib)")
    compress.add_argument("--hardness", type=float, help="hardness of the draws (default: from the tables JSON, or 8)")
    compress.add_argument("--round", action="store_true", help="round float tables to integers 1..255 first")
    compress.add_argument("--subsampling", "-s", type=subsampling, default=None,
                          help="chroma subsampling (default: the tables JSON's, else 4:2:0)")  # fmt: skip
    compress.add_argument("--seed", type=int, default=0, help="seed of the probabilistic draws (default: 0)")
    compress.add_argument("--workers", type=positive_int, default=1, help="encoding processes (1)")
    compress.set_defaults(handler=_cmd_compress)

    guided = commands.add_parser(
        "compress-guided", help="compress a folder to standard JPEG files, tables chosen per picture by a frozen model",
        description="Every image under IN_DIR becomes OUT_DIR/<same path>.jpg at the coarsest tables of a ladder"
        " whose decode (libjpeg-turbo's, exactly) keeps the model's output within --max-kl nats (KL divergence"
        " from its output on the original). Plain baseline JPEG: each file carries its tables. The pictures must"
        " be what the model classifies. A file that cannot be read, written or classified is skipped with its"
        " reason; the exit status is then 1.",
    )  # fmt: skip
    guided.add_argument("in_dir", help="folder of pictures (read recursively; never modified)")
    guided.add_argument("out_dir", help="output folder, outside IN_DIR")
    guided.add_argument("--model", required=True, help="run folder of 'jpegdl train': the model that reads the files")
    guided.add_argument("--max-kl", dest="max_kl", type=non_negative, default=0.03,
                        help="largest KL divergence (nats) of the model's output allowed per picture (default 0.03;"
                        " smaller: more bytes, closer to the uncompressed predictions)")  # fmt: skip
    guided.add_argument("--ladder", choices=("ijg", "sensitivity"), default="ijg",
                        help="candidate tables: IJG qualities 95..2, or the model's sensitivity tables at 24"
                        " scales (needs its training set; measured no better on average: docs/j4d.md)"
                        " (default: ijg)")  # fmt: skip
    add_data_flags(guided, "the dataset the model was trained on")
    guided.add_argument("--images", type=positive_int, default=10_000,
                        help="training images that estimate the sensitivity ladder (default: 10000)")  # fmt: skip
    guided.add_argument("--subsampling", "-s", type=subsampling, default="4:4:4", help=SUBSAMPLING_HELP)
    guided.add_argument("--overwrite", action="store_true", help="replace JPEG files an earlier compress wrote in"
                        " OUT_DIR (never other files)")  # fmt: skip
    max_pixels_flag(guided)
    add_device_flag(guided)
    guided.set_defaults(handler=_cmd_compress_guided)

    evaluate = commands.add_parser(
        "rate-accuracy",
        help="accuracy on real decoded JPEG files vs bits per pixel, for several codecs; BD-rate against IJG",
        description="Encode the test set with each codec setting (real files), decode with Pillow, classify."
        " Writes OUT/rate_accuracy.json and OUT/rate_accuracy.png.",
    )
    evaluate.add_argument("--model", action="append", required=True, help="run folder (repeatable)")
    add_data_flags(evaluate, "the dataset the models were trained on")
    evaluate.add_argument("--codecs", default="ijg,mozjpeg", help="comma list of ijg, mozjpeg, sensitivity,"
                          " guided, guided-ijg (tables chosen per image by the first --model),"
                          " learned:FILE_OR_FOLDER, learned-rd:FILE_OR_FOLDER, edic:CODEC_OR_FOLDER"
                          " (default ijg,mozjpeg)")  # fmt: skip
    evaluate.add_argument("--max-kl", dest="max_kl", type=non_negative, nargs="+",
                          default=list(DEFAULT_GUIDED_THRESHOLDS),
                          help="thresholds (nats) of the guided codecs' points (default: 0.001..1)")  # fmt: skip
    evaluate.add_argument("--qualities", type=quality, nargs="+", default=list(DEFAULT_QUALITIES),
                          help="IJG / mozjpeg qualities of the sweeps (default: 5..95)")  # fmt: skip
    evaluate.add_argument("--scales", type=positive, nargs="+", default=list(DEFAULT_SCALES),
                          help="steps of the most sensitive frequency for 'sensitivity'")  # fmt: skip
    evaluate.add_argument("--sensitivity-images", dest="sensitivity_images", type=positive_int, default=10_000,
                          help="training images that estimate the sensitivity tables (default: 10000)")  # fmt: skip
    evaluate.add_argument("--probabilistic-seeds", dest="probabilistic_seeds", type=int, nargs="*", default=[],
                          help="also write learned tables by probabilistic quantization with these seeds")  # fmt: skip
    evaluate.add_argument("--subsampling", type=subsampling, default="4:4:4", help=SUBSAMPLING_HELP)
    evaluate.add_argument("--limit-test", dest="limit_test", type=positive_int, metavar="N",
                          help="use only the first N test images (default: all)")  # fmt: skip
    evaluate.add_argument("--workers", type=positive_int, default=1, help="encoding processes (default: 1)")
    evaluate.add_argument("--bootstrap", type=non_negative_int, default=1000, metavar="ROUNDS",
                          help="paired bootstrap resamples of the test images for the 95 %% interval of each"
                          " payload BD-rate (default: 1000; 0: none)")  # fmt: skip
    add_device_flag(evaluate)
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.set_defaults(handler=_cmd_rate_accuracy)

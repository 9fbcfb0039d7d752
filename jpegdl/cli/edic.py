"""EDIC subcommands: train a learned codec, compress / decompress files, evaluate rate-distortion."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jpegdl.cli.arguments import non_negative, non_negative_int, pick_device, positive, positive_int

REFINE_LR = 0.03  # jpegdl.edic.RefineSettings' default (that module needs CompressAI, this parser must not)
PRECISIONS = ("auto", "float32", "bfloat16")  # jpegdl.edic.precision.PRECISIONS (imports torch; this parser must not)


def _read_rgb(path: str, max_pixels: int | None = None):
    """A picture through jpegdl's one reader, as float ``(3, H, W)`` in [0, 1]."""
    import torch

    from jpegdl.files.pictures import read_rgb
    from jpegdl.limits import EDIC_PIXELS

    pixels = read_rgb(path, EDIC_PIXELS.value() if max_pixels is None else max_pixels, name="input")
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255


def _threads(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def _needs_compressai(handler):
    """Turn a missing optional dependency into the CLI's one-line error (exit 2)."""

    def run(args: argparse.Namespace) -> None:
        try:
            import jpegdl.edic  # noqa: F401
        except ImportError as err:
            raise ValueError(str(err)) from None
        handler(args)

    return run


def _cmd_train(args: argparse.Namespace) -> None:
    from jpegdl.edic import CodecConfig
    from jpegdl.utils import init_distributed, resolve_device, shutdown

    _threads(args)
    args.lmbda_given = args.lmbda is not None
    if args.task_model and args.lmbda_given and len(args.lmbda) != 1:
        raise ValueError("lmbda: with --task-model give one MSE weight (the sweep is --task-weight)")
    args.lmbda = args.lmbda if args.lmbda_given else [0.013]
    if args.variable_rate and (args.task_model or args.metric != "mse" or len(set(args.lmbda)) < 2):
        raise ValueError("variable-rate: needs two or more distinct --lmbda values, MSE, and no --task-model")
    _check_codec_folders(args)
    config = CodecConfig(
        architecture=args.architecture, channels=args.channels, latent_channels=args.latent_channels,
        components=args.components, attention=not args.no_attention, enhancement=not args.no_enhancement,
        enhance_channels=args.enhance_channels, enhance_blocks=args.enhance_blocks,
        lmbdas=tuple(sorted(args.lmbda)) if args.variable_rate else (),
    )
    context = init_distributed()  # under torchrun: one process per GPU (or CPU process on gloo)
    try:
        device = resolve_device(args.device, context)
        say = print if context.is_main else (lambda *_, **__: None)
        if args.task_model:
            _train_task_codecs(args, config, device, context, say)
        else:
            _train_photo_codecs(args, config, device, context, say)
    finally:
        shutdown(context)


def _codec_folder(args: argparse.Namespace, name: str) -> Path:
    """Where one codec is trained; a finished codec there is kept unless ``--overwrite`` (every ``.edic``
    file made with it would become undecodable)."""
    folder = Path(args.out) / name
    codec = folder / "codec.pt"
    if codec.exists() and not args.overwrite and not (args.resume and (folder / "train.pt").is_file()):
        raise ValueError(f"out: {str(codec)!r} already exists; files compressed with it need it to decode. Pass"
                         " --overwrite to train a new codec in its place, or choose another --out")  # fmt: skip
    return folder


def _check_codec_folders(args: argparse.Namespace) -> None:
    """All ``_codec_folder`` checks before any training starts."""
    if args.task_model:
        names = [f"task-{w:g}" for w in args.task_weight]
    else:
        names = ["variable-rate"] if args.variable_rate else [f"lambda-{v:g}" for v in args.lmbda]
    for name in names:
        _codec_folder(args, name)


def _train_photo_codecs(args: argparse.Namespace, config, device, context, say) -> None:
    from jpegdl.edic.data import WALLPAPER_FOLDERS, deduplicate, find_images, load_training_images
    from jpegdl.edic.training import TrainSettings, train_and_save

    paths = find_images(args.data or [f for f in WALLPAPER_FOLDERS if Path(f).is_dir()])
    images = load_training_images(deduplicate(paths), short_side=args.short_side, min_side=args.crop)
    say(f"data: {len(images)} distinct images from {len(paths)} files")
    for lmbda in [max(args.lmbda)] if args.variable_rate else args.lmbda:
        settings = TrainSettings(lmbda=lmbda, metric=args.metric, steps=args.steps, batch_size=args.batch_size,
                                 lr=args.lr, checkpoint_every=args.checkpoint_every, lr_drops=tuple(args.lr_drops))
        folder = _codec_folder(args, "variable-rate" if args.variable_rate else f"lambda-{lmbda:g}")
        _, history = train_and_save(config, settings, images, folder, crop=args.crop, seed=args.seed,
                                    resume=args.resume, device=device, context=context)  # fmt: skip
        last = history[-min(len(history), 50):]
        say(f"lambda {lmbda:g}: {folder / 'codec.pt'}; last {len(last)} steps: "
              f"bpp {sum(r['bpp'] for r in last) / len(last):.3f}, "
              f"distortion {sum(r['distortion'] for r in last) / len(last):.5f}")


def _train_task_codecs(args: argparse.Namespace, config, device, context, say) -> None:
    """The DNN-oriented variant: one codec per --task-weight, for the frozen --task-model."""
    import torch

    from jpegdl.data import dataset_slice
    from jpegdl.edic.training import TrainSettings, train_task_codec
    from jpegdl.runs import load_classifier

    classifier, _ = load_classifier(args.task_model)
    data = dataset_slice(args.task_dataset, "train", args.data_root, args.task_images)
    images = torch.stack([data[i][0] for i in range(len(data))])
    labels = torch.tensor([int(data[i][1]) for i in range(len(data))])
    say(f"data: {len(images)} {args.task_dataset} training images of shape {tuple(images.shape[1:])}")
    lmbda = args.lmbda[0] if args.lmbda_given else 0.0
    for weight in args.task_weight:
        settings = TrainSettings(lmbda=lmbda, task_weight=weight, steps=args.steps, batch_size=args.batch_size,
                                 lr=args.lr, checkpoint_every=args.checkpoint_every)  # fmt: skip
        folder = _codec_folder(args, f"task-{weight:g}")
        _, history = train_task_codec(config, settings, images, labels, classifier, folder, seed=args.seed,
                                      resume=args.resume, device=device, context=context)  # fmt: skip
        last = history[-min(len(history), 50):]
        say(f"task weight {weight:g}: {folder / 'codec.pt'}; last {len(last)} steps: "
              f"bpp {sum(r['bpp'] for r in last) / len(last):.3f}, "
              f"cross-entropy {sum(r['task'] for r in last) / len(last):.4f}")


def _open_codec(args: argparse.Namespace, suffix: str):
    """The codec of ``--model`` (or the shipped ``--codec``; ``None`` for decompress without ``--model``),
    the output folder and the planned ``(input, output)`` pairs.

    Outputs are checked before any codec is loaded: see :class:`jpegdl.files.outputs.OutputFolder`.
    """
    from jpegdl.edic.checkpoint import load_codec
    from jpegdl.edic.shipped import load_shipped
    from jpegdl.files.outputs import OutputFolder

    _threads(args)
    out = OutputFolder(args.output, args.overwrite, "output")
    pairs = [(Path(path), out.path / (Path(path).stem + suffix)) for path in args.inputs]
    out.plan(pairs, inputs=[Path(args.model)] if args.model else [])
    if args.model:
        model, config = load_codec(args.model)
    elif suffix == ".edic":
        model, config = load_shipped(args.codec)
    else:
        model = config = None
    return model, config, out, pairs


def _quality_to_rate(quality: int, config) -> int:
    if not 1 <= quality <= config.rates:
        span = "1" if config.rates == 1 else f"1..{config.rates}"
        raise ValueError(f"quality: this codec has {config.rates} rate point(s), expected {span}, got {quality}")
    return quality - 1


def _batch(pairs, work) -> None:
    """``work(input, output)`` for every pair; a failing input is reported and the batch goes on.

    One input that fails: its one-line error (exit 2). Several inputs, some failing: each named with
    its reason on stderr, exit 1 (2 when none succeeded).
    """
    import sys

    failed = []
    for source, target in pairs:
        try:
            print(work(source, target))
        except (ValueError, OSError, MemoryError) as err:
            reason = " ".join(str(err).split()) if not isinstance(err, MemoryError) else "out of memory"
            failed.append(reason if str(source) in reason else f"{source}: {reason}")
    if len(pairs) == 1 and failed:
        raise ValueError(failed[0])
    if failed:
        print(f"skipped {len(failed)} of {len(pairs)} file(s):", file=sys.stderr)
        for reason in failed:
            print(f"  {reason}", file=sys.stderr)
        raise SystemExit(2 if len(failed) == len(pairs) else 1)


def _cmd_compress(args: argparse.Namespace) -> None:
    import sys

    from jpegdl.edic import RefineSettings, encode_image, model_id

    model, config, out, pairs = _open_codec(args, ".edic")
    rate = _quality_to_rate(args.quality if args.quality is not None else min(2, config.rates), config)
    identity = model_id(model, config, rate)
    refine = RefineSettings(steps=args.refine, learning_rate=args.refine_lr) if args.refine else None
    if refine and config.architecture != "edic":
        raise ValueError(f"refine: only EDIC codecs can search their latents, not {config.architecture!r}")

    def compress(source: Path, target: Path) -> str:
        image = _read_rgb(str(source), args.max_pixels)
        data = encode_image(model, config, image, identity, rate, refine=refine, lmbda=args.lmbda,
                            progress=sys.stderr.isatty())  # fmt: skip
        out.write(target, data)
        height, width = image.shape[-2:]
        return f"wrote {target}: {width}x{height}, {len(data)} bytes ({len(data) * 8 / (height * width):.3f} bpp)"

    _batch(pairs, compress)


def _codec_for_stream(args: argparse.Namespace, data: bytes, path: str, cache: dict):
    """The codec that made ``data``: ``--model`` if given, else the shipped codec its header names."""
    from jpegdl.edic import unpack
    from jpegdl.edic.checkpoint import load_codec
    from jpegdl.edic.codec import model_ids
    from jpegdl.edic.shipped import find_shipped

    if args.model:
        if "model" not in cache:
            model, config = load_codec(args.model)
            cache["model"] = (model, config, model_ids(model, config))
        return cache["model"]
    stream_id = unpack(data).model_id
    if stream_id not in cache:
        found = find_shipped(stream_id)
        if found is None:
            raise ValueError(f"{path}: made by codec {stream_id.hex()}, which is not shipped with this jpegdl;"
                             " pass the codec with --model")  # fmt: skip
        _, model, config = found
        cache[stream_id] = (model, config, model_ids(model, config))
    return cache[stream_id]


def _cmd_decompress(args: argparse.Namespace) -> None:
    import io

    from PIL import Image

    from jpegdl.edic import decode_image
    from jpegdl.edic.bitstream import unpack
    from jpegdl.edic.codec import model_ids
    from jpegdl.limits import EDIC_PIXELS, read_bytes

    model, config, out, pairs = _open_codec(args, ".png")
    cache: dict = {"model": (model, config, model_ids(model, config))} if model is not None else {}
    limit = EDIC_PIXELS.value() if args.max_pixels is None else args.max_pixels

    def decompress(source: Path, target: Path) -> str:
        data = read_bytes(source, "input")
        try:
            unpack(data, limit)  # the header's claims, checked against --max-pixels first
            model, config, ids = _codec_for_stream(args, data, str(source), cache)
            decoded = decode_image(model, config, data, ids, precision=args.precision)
        except ValueError as err:
            message = str(err)
            raise ValueError(message if message.startswith(f"{source}:") else f"{source}: {message}") from None
        pixels = (decoded[0] * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        out.write(target, buffer.getvalue())
        return f"wrote {target}: {pixels.shape[1]}x{pixels.shape[0]}"

    _batch(pairs, decompress)


def _cmd_eval(args: argparse.Namespace) -> None:
    import torch

    from jpegdl.data.photos import PHOTO_NAMES, load_photo
    from jpegdl.edic import RefineSettings
    from jpegdl.edic.checkpoint import load_codec, write_atomically
    from jpegdl.edic.evaluate import evaluate_codec

    _threads(args)
    if args.images:
        images = {Path(p).stem: _read_rgb(p) for p in args.images}
    else:
        images = {n: torch.from_numpy(load_photo(n)).permute(2, 0, 1).float() / 255 for n in PHOTO_NAMES}
    if args.models:
        codecs = {path: load_codec(path, pick_device(args.device)) for path in args.models}
    else:
        from jpegdl.edic.shipped import load_shipped

        codecs = {f"shipped:{args.codec}": load_shipped(args.codec, pick_device(args.device))}
    refine = RefineSettings(steps=args.refine, learning_rate=args.refine_lr) if args.refine else None
    results = {}
    print(f"{'model':40s} {'bpp':>7s} {'PSNR':>7s} {'MS-SSIM':>8s} {'enc s':>7s} {'dec s':>7s}")
    for path, (model, config) in codecs.items():
        for rate in range(config.rates):  # a variable-rate codec: one entry per quality, 'PATH@qQ'
            name = path if config.rates == 1 else f"{path}@q{rate + 1}"
            results[name] = evaluate_codec(model, config, images, rate, refine=refine)
            mean = results[name]["mean"]
            print(f"{name[-40:]:40s} {mean['bpp']:7.3f} {mean['psnr']:7.2f} "
                  f"{mean.get('ms_ssim', float('nan')):8.4f} {mean['encode_s']:7.3f} {mean['decode_s']:7.3f}")
    if args.json:
        write_atomically(args.json, json.dumps(results, indent=1).encode())
        print(f"wrote {args.json}")


def add_edic_parsers(commands: argparse._SubParsersAction) -> None:
    edic = commands.add_parser("edic", help="EDIC learned image codec: train, compress, decompress, eval")
    sub = edic.add_subparsers(dest="edic_command", required=True, metavar="ACTION",
                              help="train, compress, decompress or eval")  # fmt: skip

    train = sub.add_parser("train", help="train codecs (one per --lmbda) on random crops of a photo folder")
    train.add_argument("--data", nargs="+", metavar="DIR", help="image folders (default: Debian wallpapers)")
    train.add_argument("--out", "-o", required=True, help="output folder; one lambda-<value>/ inside per lambda")
    train.add_argument("--architecture", choices=("edic", "bmshj2018-hyperprior", "mbt2018-mean"), default="edic",
                       help="EDIC or one of the two hyperprior baselines (default: edic)")  # fmt: skip
    train.add_argument("--channels", type=positive_int, default=64, metavar="N", help="N (default 64)")
    train.add_argument("--latent-channels", type=positive_int, default=96, metavar="M", help="M (default 96)")
    train.add_argument("--components", type=positive_int, default=3, metavar="K", help="mixture components (3)")
    train.add_argument("--no-attention", action="store_true", help="ablation: no channel attention")
    train.add_argument("--no-enhancement", action="store_true", help="ablation: no decoder-side enhancement")
    train.add_argument("--enhance-channels", type=positive_int, default=16, metavar="C",
                       help="channels of the enhancement network (default: 16)")  # fmt: skip
    train.add_argument("--enhance-blocks", type=positive_int, default=1, metavar="B",
                       help="residual groups of the enhancement network (default: 1)")  # fmt: skip
    train.add_argument("--lmbda", type=non_negative, nargs="+", default=None, metavar="L",
                       help="rate-distortion weights (CompressAI's scale; default 0.013; with --task-model: one"
                       " MSE weight beside the task term, default 0)")  # fmt: skip
    task = train.add_argument_group("DNN-oriented codecs (rate + a frozen classifier's cross-entropy)")
    task.add_argument("--task-model", metavar="RUN", help="trained classifier run folder: train for it instead of"
                      " for pixels, on its labelled dataset")  # fmt: skip
    task.add_argument("--task-weight", type=positive, nargs="+", default=[1.0], metavar="W",
                      help="weights of the cross-entropy against bpp, one codec each (default: 1)")
    task.add_argument("--task-dataset", default="fashion-mnist", help="labelled training images (default:"
                      " fashion-mnist)")  # fmt: skip
    task.add_argument("--task-images", type=positive_int, default=10_000, metavar="N",
                      help="first N training images of --task-dataset (default: 10000)")
    task.add_argument("--data-root", metavar="DIR", help="folder holding --task-dataset's files")
    train.add_argument("--metric", choices=("mse", "ms-ssim"), default="mse", help="distortion (default: mse)")
    train.add_argument("--steps", type=positive_int, default=2000, help="training steps per lambda (default: 2000)")
    train.add_argument("--batch-size", type=positive_int, default=4, help="crops per step (default: 4)")
    train.add_argument("--crop", type=positive_int, default=128, help="crop side in pixels (multiple of 64)")
    train.add_argument("--short-side", type=positive_int, default=512, help="downscale sources to this short side")
    train.add_argument("--lr", type=non_negative, default=1e-4, help="Adam learning rate (default: 1e-4)")
    train.add_argument("--lr-drops", type=positive_int, nargs="+", default=[], metavar="STEP",
                       help="steps at which the learning rate is multiplied by 0.3")
    train.add_argument("--variable-rate", action="store_true",
                       help="one codec for all --lmbda values (per-rate gains; compress with --quality 1..R)")
    train.add_argument("--checkpoint-every", type=positive_int, default=200, metavar="STEPS",
                       help="steps between atomic checkpoints (default: 200)")  # fmt: skip
    train.add_argument("--seed", type=int, default=0, help="seed of weights and crops (default: 0)")
    train.add_argument("--resume", action="store_true", help="continue from train.pt where it exists")
    train.add_argument("--overwrite", action="store_true", help="train again where a codec.pt exists (files"
                       " compressed with the old codec can no longer be decoded)")  # fmt: skip
    train.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    train.add_argument("--threads", type=positive_int, help="torch CPU threads")
    train.set_defaults(handler=_needs_compressai(_cmd_train))

    for name, summary, inputs, handler in (
        ("compress", "images -> .edic files (shipped codec by default)", "images Pillow reads", _cmd_compress),
        ("decompress", ".edic files -> PNG (the codec is found from each file's header)",
         ".edic files", _cmd_decompress),
    ):
        command = sub.add_parser(name, help=summary)
        command.add_argument("inputs", nargs="+", metavar="IN", help=inputs)
        command.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder")
        command.add_argument("--model", "-m", help="codec.pt from 'jpegdl edic train' (default: a shipped codec)")
        if name == "compress":
            command.add_argument("--codec", default="edic", metavar="NAME",
                                 help="shipped codec when no --model is given: edic or mbt2018-mean (default: edic)")
            command.add_argument("--quality", "-q", type=positive_int, metavar="Q",
                                 help="rate point, 1 = lowest rate (shipped codecs: 1..4; default 2)")
            command.add_argument("--refine", type=non_negative_int, default=0, metavar="STEPS",
                                 help="search each image's latents for STEPS gradient steps: fewer bytes and higher"
                                 " PSNR, same decoder, slower encoding (about 1.5 s per step per megapixel on two"
                                 " CPU threads; 50 is a good setting); the file is never worse than without"
                                 " (default 0: off)")
            command.add_argument("--refine-lr", dest="refine_lr", type=positive, default=REFINE_LR,
                                 metavar="LR", help="step size of the search (default %(default)s)")
            command.add_argument("--lmbda", type=positive, help="rate-distortion weight the search aims at (default:"
                                 " the rate's training lambda; needed for a single-rate --model codec)")
        else:
            command.add_argument("--precision", choices=PRECISIONS, default="auto",
                                 help="arithmetic of EDIC's reconstruction: auto = bfloat16 on CPUs with native"
                                 " bfloat16 (about 3x faster synthesis, hundredths of a dB), else float32"
                                 " (default auto)")  # fmt: skip
        command.add_argument("--overwrite", action="store_true", help="replace outputs an earlier 'jpegdl edic'"
                             " run wrote in DIR (never other files, never an input)")  # fmt: skip
        command.add_argument("--max-pixels", dest="max_pixels", type=positive_int, metavar="N",
                             help="largest image in pixels (default: JPEGDL_MAX_EDIC_PIXELS, else 4200000)")
        command.add_argument("--threads", type=positive_int, help="torch CPU threads")
        command.set_defaults(handler=_needs_compressai(handler))

    evaluate = sub.add_parser("eval", help="bpp / PSNR / MS-SSIM / coding time of codecs on photos")
    evaluate.add_argument("models", nargs="*", help="codec.pt files (default: the shipped --codec); a variable-rate"
                          " codec is scored at each of its rates")  # fmt: skip
    evaluate.add_argument("--codec", default="edic", metavar="NAME",
                          help="shipped codec to score when no model is given (default: edic)")
    evaluate.add_argument("--refine", type=non_negative_int, default=0, metavar="STEPS",
                          help="encode with STEPS steps of latent search, as 'compress --refine' (default 0)")
    evaluate.add_argument("--refine-lr", dest="refine_lr", type=positive, default=REFINE_LR, metavar="LR",
                          help="step size of the search (default %(default)s)")
    evaluate.add_argument("--images", nargs="+", help="image files (default: scikit-image's photos)")
    evaluate.add_argument("--json", help="write all points to this JSON file")
    evaluate.add_argument("--device", default="cpu", help="cpu (bit-exact decoding), auto or cuda[:N]")
    evaluate.add_argument("--threads", type=positive_int, help="torch CPU threads")
    evaluate.set_defaults(handler=_needs_compressai(_cmd_eval))

"""sparse-profile: per-layer sparsity, lowered-format bytes and method times of a trained classifier."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from jpegdl.cli.arguments import positive_int


def add_sparse_parsers(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sparse-profile",
        help="profile im2col, MEC, CPO, CPS and PyTorch's conv on every eligible conv layer of a run",
        description="Load a run's classifier, run real test images of its dataset through it, and for every"
        " conv layer with groups 1, dilation 1 and a kernel larger than 1x1 print the input's sparsity, the"
        " bytes of each lowered format (im2col, MEC, CPO, CPS) and the median time of each method on that"
        " real input (lowering/encoding included), and the fastest of {CPO, CPS, im2col, torch}.",
    )
    parser.add_argument("--run", required=True, help="run folder (or checkpoint) written by 'jpegdl train'")
    parser.add_argument("--images", type=positive_int, default=1, metavar="N",
                        help="the first N test images, profiled as one batch (default 1)")  # fmt: skip
    parser.add_argument("--threads", type=positive_int, default=1, metavar="T", help="CPU threads (default 1)")
    parser.add_argument("--repeats", type=positive_int, default=7, help="timed runs per method (median; default 7)")
    parser.add_argument("--data-root", default=None, help="dataset folder (default: the run's or the system's)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the table as JSON")
    parser.set_defaults(handler=_cmd_sparse_profile)


def _cmd_sparse_profile(args: argparse.Namespace) -> None:
    import torch

    from jpegdl.data import create_dataset
    from jpegdl.runs import load_classifier
    from jpegdl.sparse.convert import WHOLE_MODEL_MARGIN, format_profiles, profile_layers, time_selections

    model, config = load_classifier(args.run)
    test, _ = create_dataset(config.dataset, "test", args.data_root or config.data_root, augment=False)
    count = min(args.images, len(test))
    sample = torch.stack([test[i][0] for i in range(count)]).float()
    torch.set_num_threads(args.threads)
    profiles = profile_layers(model.float(), sample, repeats=args.repeats, progress=True)
    print(f"{config.model} on {count} {config.dataset} test image(s), run {Path(args.run).resolve()}")
    print(format_profiles(profiles, args.threads))
    timed = time_selections(model, profiles, sample, args.repeats)
    print(_whole_model_report(timed, WHOLE_MODEL_MARGIN))
    if args.json:
        record = {"run": str(Path(args.run).resolve()), "model": config.model, "dataset": config.dataset,
                  "images": count, "threads": args.threads, "repeats": args.repeats,
                  "layers": [p.to_dict() for p in profiles],
                  "whole_model": [{"choices": choices, "seconds": seconds} for choices, seconds in timed]}  # fmt: skip
        _write_atomic(Path(args.json), json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.json}")


def _whole_model_report(timed: list[tuple[dict[str, str], float]], margin: float) -> str:
    """What ``convert(method="auto")`` would keep, with each candidate selection's whole-model time."""
    (_, plain), *conversions = timed
    lines = [f"whole model (fastest repeat): plain PyTorch {1e3 * plain:.2f} ms"]
    for choices, seconds in conversions:
        methods = ", ".join(f"{m} x{list(choices.values()).count(m)}" for m in sorted(set(choices.values())))
        speedup = plain / seconds
        lines.append(f"  {len(choices)} layer(s) converted ({methods}): {1e3 * seconds:.2f} ms ({speedup:.2f}x)")
    best = min(conversions, key=lambda pair: pair[1], default=None)
    if best is not None and best[1] <= (1 - margin) * plain:
        lines.append(f"convert(method='auto') keeps the {len(best[0])}-layer conversion")
    else:
        lines.append(f"convert(method='auto') keeps plain PyTorch (no conversion {100 * margin:.0f} % faster)")
    return "\n".join(lines)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.replace(temp, path)

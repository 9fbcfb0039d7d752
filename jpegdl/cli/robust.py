"""Robustness subcommands: attack (accuracy under FGSM/PGD), explain (saliency maps)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jpegdl.cli.arguments import (
    add_data_flags,
    add_device_flag,
    load_runs,
    output_file,
    output_folder,
    pick_device,
    positive_int,
)
from jpegdl.data import dataset_slice


def _epsilons(text: str) -> list[float]:
    from jpegdl.robust import parse_epsilons

    try:
        return parse_epsilons(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("eps: ")) from None


def _step_size(text: str) -> float:
    from fractions import Fraction

    from jpegdl.robust import check_epsilon

    try:
        return check_epsilon(float(Fraction(text)), "step size")
    except (ValueError, ZeroDivisionError) as err:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1] like 1/255 ({err})") from None


def _cmd_attack(args: argparse.Namespace) -> None:
    from jpegdl.plots import plot_robustness
    from jpegdl.robust import robust_accuracy
    from jpegdl.robust.attacks import settings_for

    out = output_folder(args.out)
    models, configs, dataset = load_runs(args.run, args.dataset, strip_jpeg=False, label_by="folder")
    epsilons = [eps for eps in args.eps if eps > 0]
    if not epsilons:
        raise ValueError("eps: expected at least one value > 0 (clean accuracy is always reported)")
    test = dataset_slice(dataset, "test", args.data_root, args.images)
    device = pick_device(args.device)
    attacks = {name: settings_for(name, epsilons, args.steps, args.step_size, not args.no_random_start, args.backend)
               for name in args.attack}  # fmt: skip
    results: dict[str, dict] = {}
    for label, model in models.items():
        results[label] = {}
        for name, settings in attacks.items():
            print(f"{label}: {name} on {len(test)} {dataset} test images ...", flush=True)
            results[label][name] = robust_accuracy(
                model, test, settings, args.gradient, args.layer_mode, args.batch_size, device, args.seed
            )
    settings = {
        "attacks": args.attack, "eps": epsilons, "steps": args.steps, "step_size": args.step_size,
        "step_size_default": "2.5 * eps / steps", "random_start": not args.no_random_start,
        "gradient": args.gradient, "layer_mode": args.layer_mode, "backend": args.backend, "seed": args.seed,
        "robust": "correct on the clean and on the attacked image", "adversarial": "correct on the attacked image",
    }  # fmt: skip
    record = {
        "dataset": dataset,
        "images": len(test),
        "settings": settings,
        "runs": {label: {"path": str(Path(path).resolve()), "model": configs[label].model,
                         "jpeg_layer": configs[label].jpeg is not None, "attacks": results[label]}
                 for label, path in zip(models, args.run, strict=True)},
    }  # fmt: skip
    (out / "robustness.json").write_text(json.dumps(record, indent=1) + "\n")
    plot = plot_robustness(results, out / "robustness.png",
                           title=f"{dataset}: white-box, gradient '{args.gradient}'")  # fmt: skip
    print(format_robustness(results))
    print(f"wrote {out / 'robustness.json'} and {plot}")


def format_robustness(results: dict[str, dict]) -> str:
    """Text table: one block per attack, one row per run, robust top-1 (%) per epsilon."""
    lines = []
    attacks = list(dict.fromkeys(a for per_run in results.values() for a in per_run))
    for attack in attacks:
        rows = {label: per_run[attack] for label, per_run in results.items() if attack in per_run}
        epsilons = [p["eps"] for p in next(iter(rows.values()))["points"]]
        width = max(len(label) for label in rows) + 2
        header = f"{attack:<{width}}{'clean':>8}" + "".join(f"{f'{255 * e:g}/255':>9}" for e in epsilons)
        lines += ["", header]
        for label, curve in rows.items():
            values = "".join(f"{100 * p['robust']:>9.2f}" for p in curve["points"])
            lines.append(f"{label:<{width}}{100 * curve['clean']:>8.2f}{values}")
    return "\n".join(lines[1:])


def _cmd_explain(args: argparse.Namespace) -> None:
    import torch

    from jpegdl.plots import plot_saliency_grid
    from jpegdl.robust import layer_mode, saliency_maps
    from jpegdl.runs import inner_classifier

    output_file(args.out, (".png",))
    models, _, dataset = load_runs(args.run, args.dataset, strip_jpeg=False, label_by="folder")
    test = dataset_slice(dataset, "test", args.data_root)
    device = pick_device(args.device)
    for model in models.values():
        model.to(device).eval()
    indices = _pick_images(models, test, args.images, args.select, device)
    images = torch.stack([test[i][0] for i in indices]).to(device)
    labels = [int(test[i][1]) for i in indices]
    names = getattr(getattr(test, "dataset", test), "classes", None)
    maps, captions = {}, {}
    for label, model in models.items():
        with layer_mode(model, args.layer_mode), torch.no_grad():
            predicted = model(images).argmax(1).tolist()
        with layer_mode(model, args.layer_mode):
            maps[label], layer = saliency_maps(model, images, args.method, args.layer, search=inner_classifier(model))
        hits = [p == t for p, t in zip(predicted, labels, strict=True)]
        classes = [names[p] if names else str(p) for p in predicted]
        captions[label] = [f"{'ok' if hit else 'wrong'}: {c}" for c, hit in zip(classes, hits, strict=True)]
        print(f"{label}: {args.method} at layer {layer!r}; {sum(hits)}/{len(labels)} correct")
    pixels = images.cpu().permute(0, 2, 3, 1).numpy()
    pixels = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    path = plot_saliency_grid(pixels, maps, captions, args.out,
                              title=f"{dataset} test images ({args.select}), {args.method}")  # fmt: skip
    print(f"wrote {path}")


def _pick_images(models: dict, test, count: int, select: str, device) -> list[int]:
    """The first ``count`` test images, or (``disagree``) the first ones the first run gets wrong
    and the last run gets right (the paper's choice of examples)."""
    import torch

    if select == "first":
        return list(range(min(count, len(test))))
    if len(models) < 2:
        raise ValueError("select: 'disagree' needs two runs (the first wrong, the last right)")
    runs = list(models.values())
    first, last = runs[0], runs[-1]
    chosen: list[int] = []
    for start in range(0, len(test), 500):
        batch = [test[i] for i in range(start, min(start + 500, len(test)))]
        images = torch.stack([b[0] for b in batch]).to(device)
        labels = torch.tensor([int(b[1]) for b in batch], device=device)
        with torch.no_grad():
            hits = (first(images).argmax(1) != labels) & (last(images).argmax(1) == labels)
        chosen += [start + int(i) for i in hits.nonzero().flatten()]
        if len(chosen) >= count:
            return chosen[:count]
    if not chosen:
        raise ValueError("select: no test image is misclassified by the first run and classified right by the last")
    return chosen


def add_robust_parsers(commands: argparse._SubParsersAction) -> None:
    from jpegdl.robust import ATTACKS, BACKENDS, SALIENCY_METHODS

    attack = commands.add_parser(
        "attack",
        help="accuracy under white-box FGSM/PGD attacks, through the JPEG layer, for runs side by side",
        description="Attack each run's full model (JPEG layer included) on the test set at every epsilon."
        " Robust accuracy counts an image when both it and its attacked version are classified right."
        " A quantizing layer can hide gradients: compare --through-layer with --bpda and --classifier-only."
        " Writes OUT/robustness.json and OUT/robustness.png.",
    )
    attack.add_argument("--run", action="append", required=True, help="run folder of 'jpegdl train' (repeatable)")
    attack.add_argument("--attack", nargs="+", choices=ATTACKS, default=["pgd"], help="default: pgd")
    attack.add_argument("--eps", type=_epsilons, default=_epsilons("1/255,2/255,4/255,8/255"),
                        help="comma list in [0, 1], fractions allowed (default 1/255,2/255,4/255,8/255)")  # fmt: skip
    attack.add_argument("--steps", type=positive_int, default=5, help="PGD iterations (5, as JPEG-DL's protocol)")
    attack.add_argument("--step-size", dest="step_size", type=_step_size, help="PGD step (default 2.5 * eps / steps)")
    attack.add_argument("--no-random-start", dest="no_random_start", action="store_true",
                        help="start PGD at the clean image instead of a random point of the ball")  # fmt: skip
    surface = attack.add_mutually_exclusive_group()
    surface.add_argument("--through-layer", dest="gradient", action="store_const", const="layer",
                         help="differentiate the full model, JPEG layer included (default)")  # fmt: skip
    surface.add_argument("--bpda", dest="gradient", action="store_const", const="bpda",
                         help="the layer's forward pass with the identity's gradient")  # fmt: skip
    surface.add_argument("--classifier-only", dest="gradient", action="store_const", const="classifier",
                         help="craft on the classifier without the layer; evaluate with it")  # fmt: skip
    attack.set_defaults(gradient="layer")
    attack.add_argument("--layer-mode", dest="layer_mode", choices=("soft", "hard"),
                        help="run JPEG layers soft or hard (rounded tables, straight-through gradient)")  # fmt: skip
    attack.add_argument("--backend", choices=BACKENDS, default="torchattacks",
                        help="torchattacks (default) or jpegdl's native few-line FGSM/PGD")  # fmt: skip
    attack.add_argument("--images", type=positive_int, help="first N test images (default: all)")
    add_data_flags(attack)
    attack.add_argument("--batch-size", dest="batch_size", type=positive_int, default=250,
                        help="images attacked at once (default: 250)")  # fmt: skip
    add_device_flag(attack)
    attack.add_argument("--seed", type=int, default=0, help="seed of PGD's random starts")
    attack.add_argument("--out", required=True, help="output folder")
    attack.set_defaults(handler=_cmd_attack)

    explain = commands.add_parser(
        "explain",
        help="saliency maps (GradCAM++) of runs side by side, as a PNG grid",
        description="Class-activation maps for the predicted class at the final feature map (or --layer),"
        " laid over the test images, one column per run.",
    )
    explain.add_argument("--run", action="append", required=True, help="run folder (repeatable: baseline, JPEG-DL)")
    explain.add_argument("--images", type=positive_int, default=8, help="number of test images (8)")
    explain.add_argument("--method", choices=sorted(SALIENCY_METHODS), default="gradcam++",
                         help="class-activation method (default: gradcam++)")  # fmt: skip
    explain.add_argument("--layer", help="module in the network, e.g. layers.2 (default: the final feature map)")
    explain.add_argument("--select", choices=("first", "disagree"), default="first",
                         help="first N test images, or those the first run gets wrong and the last right")  # fmt: skip
    explain.add_argument("--layer-mode", dest="layer_mode", choices=("soft", "hard"),
                         help="run JPEG layers soft or hard (default: as trained, soft)")  # fmt: skip
    add_data_flags(explain)
    add_device_flag(explain)
    explain.add_argument("--out", required=True, help="PNG file to write")
    explain.set_defaults(handler=_cmd_explain)

"""Sparse convolution for inference: im2col, MEC (A/B), CPO, CPS and torch.conv2d on real layers, side by side.

Layers: every non-pointwise conv layer (groups 1, dilation 1) of
- resnet8, resnet20 and vgg8 trained here on Fashion-MNIST (2 epochs on the first 30,000 training images,
  SGD 0.05 cosine, batch 128, seed 0, one thread; cached in runs/bench-sparse, or pass --runs), fed real
  Fashion-MNIST test images, so each layer sees the ReLU sparsity of real data;
- torchvision ResNet-18 with RANDOM weights (nothing is downloaded) on three real photographs resized to
  224x224: its activations are ReLU-sparse because of the ReLUs of a random network, not of trained ones;
- a sparsity sweep: ResNet-18 layer shapes with synthetic random masks at fixed densities.

Per layer, batch 1, at 1 and 2 threads (the machine has 2 cores that other processes may share, so every time
is the median of repeats): wall time of each method (lowering/encoding included; CPO/CPS = encode + scatter
SpMV), bytes of each lowered format (float32 values, uint16 CPO/CPS words, int32 pointers), the choice of the
per-layer selection. Whole model: plain PyTorch against the model converted with the per-layer choice (made
on the first 3 test images, timed on the next 10), and against all-CPO / all-CPS / all-im2col conversions.

Run: python benchmarks/sparse_conv.py   (writes results/sparse_conv.json and sparse_conv.png)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_results

from jpegdl.data import create_dataset
from jpegdl.runs import load_classifier
from jpegdl.sparse.convert import (
    CANDIDATES,
    TORCH_MARGIN,
    LayerProfile,
    capture_inputs,
    choose,
    convert,
    eligible_layers,
    format_profiles,
    profile_layer,
)
from jpegdl.sparse.extension import kernels
from jpegdl.sparse.formats import WIDTHS
from jpegdl.sparse.module import SparseConv2d
from jpegdl.sparse.ops import METHODS
from jpegdl.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "bench-sparse"
MODELS = ("resnet8", "resnet20", "vgg8")
TRAINING = {"epochs": 2, "limit_train": 30_000, "seed": 0}
SWEEP_SHAPES = {"layer1 64@56x56": (64, 56, 64), "layer3 256@14x14": (256, 14, 256), "layer4 512@7x7": (512, 7, 512)}
SWEEP_DENSITIES = (0.5, 0.3, 0.1, 0.05, 0.02)
WHOLE_MODEL_VARIANTS = ("plain", "auto", "auto-per-layer", "cpo", "cps", "im2col")


def trained(model: str, run: str | None) -> tuple[nn.Module, dict]:
    """A run folder's classifier (training it here, single-threaded, when no folder is given or cached)."""
    out = Path(run) if run else RUNS / model
    if (out / "summary.json").is_file() and not run:
        cached = json.loads((out / "summary.json").read_text())["config"]
        if any(cached[k] != v for k, v in TRAINING.items()):
            raise SystemExit(f"{out}: trained with other settings than {TRAINING}; delete the folder")
    if not (out / "summary.json").is_file():
        if run:
            raise SystemExit(f"{run}: no summary.json (not a finished jpegdl train run)")
        config = TrainConfig(model=model, dataset="fashion-mnist", batch_size=128, lr=0.05, schedule="cosine",
                             out=str(out), amp=False, workers=0, **TRAINING)  # fmt: skip
        began = time.perf_counter()
        Trainer(config).fit()
        print(f"trained {model} in {time.perf_counter() - began:.0f} s", flush=True)
    summary = json.loads((out / "summary.json").read_text())
    return load_classifier(out)[0].float().eval(), {"run": str(out), "test_acc": summary["test_acc"],
                                                     "config": {k: summary["config"][k] for k in TRAINING}}  # fmt: skip


def photographs() -> torch.Tensor:
    """Three real photographs (scikit-image), 224x224, ImageNet-normalised, [3, 3, 224, 224]."""
    import torch.nn.functional as F
    from skimage import data

    images = [data.astronaut(), data.chelsea(), data.coffee()]
    batch = []
    for image in images:
        side = min(image.shape[:2])
        crop = torch.from_numpy(np.ascontiguousarray(image[:side, :side])).permute(2, 0, 1).float()[None] / 255
        batch.append(F.interpolate(crop, size=(224, 224), mode="bilinear", antialias=True, align_corners=False))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (torch.cat(batch) - mean) / std


def profile_model(model: nn.Module, images: torch.Tensor, repeats: int) -> list[dict]:
    """Per layer: profiles on each image (batch 1); median time over images, mean sparsity and bytes."""
    names = list(eligible_layers(model))
    per_image: list[list[LayerProfile]] = []
    for image in images:
        inputs = capture_inputs(model, image[None], names)
        per_image.append([profile_layer(n, dict(model.named_modules())[n], inputs[n], METHODS, CANDIDATES, repeats)
                          for n in names if n in inputs])  # fmt: skip
    rows = []
    for layer_index, first in enumerate(per_image[0]):
        group = [profiles[layer_index] for profiles in per_image]
        seconds = {m: statistics.median(p.seconds[m] for p in group) for m in METHODS}
        fastest = {m: min(p.min_seconds[m] for p in group) for m in METHODS}
        nbytes = {f: float(np.mean([p.bytes[f] for p in group])) for f in first.bytes}
        merged = LayerProfile(first.name, first.geometry, float(np.mean([p.sparsity for p in group])),
                              float(np.mean([p.zero_channels for p in group])), nbytes, first.index_bits, seconds,
                              choose(fastest), fastest)  # fmt: skip
        rows.append(merged)
    return rows


def whole_model_times(model: nn.Module, images: torch.Tensor, profiles: list[LayerProfile], repeats: int,
                      check_sample: torch.Tensor) -> dict:  # fmt: skip
    """Median per-image seconds of the plain model and of its conversions (outputs checked against plain).

    "auto" is ``convert``'s default: the per-layer choices confirmed end to end on ``check_sample`` (a
    profiling image, not one of the timed ones); "auto-per-layer" ships the per-layer choices unchecked.
    """
    variants = {"plain": model, "auto": convert(model, check_sample, profiles=profiles, repeats=15),
                "auto-per-layer": convert(model, profiles=profiles, check_whole=False)}  # fmt: skip
    for method in WHOLE_MODEL_VARIANTS[3:]:
        variants[method] = convert(model, method=method)
    times: dict[str, list[float]] = {name: [] for name in variants}
    with torch.no_grad():
        reference = model(images)
        for name, variant in variants.items():
            outputs = torch.cat([variant(image[None]) for image in images])
            scale = reference.abs().max().item()
            if not torch.allclose(outputs, reference, rtol=1e-3, atol=1e-4 * scale):
                raise RuntimeError(f"{name}: converted outputs differ by {(outputs - reference).abs().max():.3g}")
            variant(images[:1])  # warm-up
        for _ in range(repeats):  # round-robin, so load from other processes hits every variant alike
            for name, variant in variants.items():
                for image in images:
                    start = time.perf_counter()
                    variant(image[None])
                    times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    fastest = {name: min(values) for name, values in times.items()}
    choices = {p.name: p.choice for p in profiles}
    kept = [m.method for m in variants["auto"].modules() if isinstance(m, SparseConv2d)]
    return {"seconds_per_image": medians, "speedup_vs_plain": {k: medians["plain"] / v for k, v in medians.items()},
            "fastest_seconds_per_image": fastest,
            "fastest_speedup_vs_plain": {k: fastest["plain"] / v for k, v in fastest.items()},
            "choices": {c: sum(v == c for v in choices.values()) for c in CANDIDATES},
            "confirmed_choices": {c: kept.count(c) for c in CANDIDATES if c != "torch"}}  # fmt: skip


def sweep(repeats: int) -> list[dict]:
    """Synthetic random masks on ResNet-18 layer shapes (3x3, stride 1, padding 1, batch 1)."""
    generator = torch.Generator().manual_seed(0)
    rows = []
    for label, (channels, size, out) in SWEEP_SHAPES.items():
        conv = nn.Conv2d(channels, out, 3, padding=1, bias=False)
        for density in SWEEP_DENSITIES:
            x = torch.randn(1, channels, size, size, generator=generator).abs()
            x = x * (torch.rand(x.shape, generator=generator) < density)
            profile = profile_layer(f"{label} d={density}", conv, x, METHODS, CANDIDATES, repeats)
            rows.append(profile)
    return rows


def summarize(profiles: list[LayerProfile]) -> dict:
    """The goal metrics over the sparsest quarter of the layers (at least one)."""
    ranked = sorted(profiles, key=lambda p: -p.sparsity)
    top = ranked[: max(1, len(ranked) // 4)]

    def best_sparse(p: LayerProfile) -> str:
        return min(("cpo", "cps"), key=p.seconds.__getitem__)

    return {
        "sparsest_layers": [p.name for p in top],
        "sparsity": [round(p.sparsity, 4) for p in top],
        "speedup_vs_im2col": [round(p.seconds["im2col"] / p.seconds[best_sparse(p)], 3) for p in top],
        "speedup_vs_torch": [round(p.seconds["torch"] / p.seconds[best_sparse(p)], 3) for p in top],
        "compression_vs_im2col_cpo": [round(p.compression("cpo"), 2) for p in top],
        "compression_vs_im2col_cps": [round(p.compression("cps"), 2) for p in top],
        "speedup_vs_mec": [round(min(p.seconds["mec_a"], p.seconds["mec_b"]) / p.seconds[best_sparse(p)], 3)
                           for p in top],
        "max_compression_vs_im2col": round(max(max(p.compression("cpo"), p.compression("cps")) for p in profiles), 2),
        "layers_choosing_cpo_or_cps": sum(p.choice in ("cpo", "cps") for p in profiles),
        "layers": len(profiles),
    }


def plot(records: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    markers = {"resnet8": "o", "resnet20": "s", "vgg8": "^", "resnet18-random": "D", "sweep": "x"}
    for ax, threads in zip(axes, ("1", "2"), strict=True):
        for model, per_threads in records.items():
            if threads not in per_threads:
                continue
            layers = per_threads[threads]["layers"]
            xs = [100 * layer["sparsity"] for layer in layers]
            ys = [row["seconds"]["im2col"] / min(row["seconds"]["cpo"], row["seconds"]["cps"]) for row in layers]
            ax.scatter(xs, ys, marker=markers.get(model, "."), label=model, alpha=0.75)
        ax.axhline(1, color="gray", lw=0.8)
        ax.axhline(2, color="gray", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xlabel("input sparsity (% zeros)")
        ax.set_title(f"{threads} thread(s), batch 1")
    axes[0].set_ylabel("im2col time / best of CPO, CPS time")
    axes[0].legend(fontsize=8)
    fig.suptitle("Speed-up of CPO/CPS over im2col+GEMM per conv layer (dashed: the 2x goal)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", default=None, metavar="MODEL=RUN",
                        help="use these run folders instead of training, e.g. resnet20=runs/r20")  # fmt: skip
    parser.add_argument("--images", type=int, default=3, help="test images per layer (batch 1 each)")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per method and image (median)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    began = time.perf_counter()
    torch.set_num_threads(1)
    build_began = time.perf_counter()
    kernels()
    build_seconds = time.perf_counter() - build_began
    given = dict(item.split("=", 1) for item in args.runs or [])
    test_set, _ = create_dataset("fashion-mnist", "test", augment=False)
    fashion = torch.stack([test_set[i][0] for i in range(args.images + 10)]).float()
    models, model_info = {}, {}
    for name in MODELS:
        models[name], model_info[name] = trained(name, given.get(name))
    import torchvision

    torch.manual_seed(0)
    models["resnet18-random"] = torchvision.models.resnet18(weights=None).eval()
    model_info["resnet18-random"] = {"weights": "random (torch.manual_seed(0)), not trained",
                                     "inputs": "3 skimage photographs (astronaut, chelsea, coffee), 224x224"}
    photos = photographs()
    records: dict[str, dict] = {name: {} for name in (*models, "sweep")}
    tables = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, model in models.items():
            profile_images = photos if name == "resnet18-random" else fashion[: args.images]
            timing_images = photos if name == "resnet18-random" else fashion[args.images : args.images + 10]
            profiles = profile_model(model, profile_images, args.repeats)
            whole = whole_model_times(model, timing_images, profiles, repeats=2 if name == "resnet18-random" else 5,
                                      check_sample=profile_images[:1])  # fmt: skip
            records[name][str(threads)] = {"layers": [p.to_dict() for p in profiles], "whole_model": whole,
                                           "summary": summarize(profiles)}  # fmt: skip
            table = f"\n== {name}, {threads} thread(s) ==\n{format_profiles(profiles, threads)}\n" + "whole model: " + \
                ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in whole["seconds_per_image"].items())
            print(table, flush=True)
            tables.append(table)
        swept = sweep(args.repeats)
        records["sweep"][str(threads)] = {"layers": [p.to_dict() for p in swept], "summary": summarize(swept)}
        table = f"\n== sparsity sweep (synthetic masks), {threads} thread(s) ==\n{format_profiles(swept, threads)}"
        print(table, flush=True)
        tables.append(table)
    plot(records, RESULTS / "sparse_conv.png")
    seconds = time.perf_counter() - began
    path = write_results("sparse_conv", {
        "command": "python benchmarks/sparse_conv.py " + " ".join(sys.argv[1:]),
        "seconds": round(seconds, 1), "extension_load_seconds": round(build_seconds, 1),
        "settings": {"batch": 1, "threads": args.threads, "images_per_layer": args.images, "repeats": args.repeats,
                     "time": "median wall time incl. lowering/encoding", "widths": WIDTHS,
                     "note": "2 CPU cores shared with other processes; medians of repeats",
                     "selection": "per layer the fastest of " + ", ".join(CANDIDATES) + " by its fastest repeat over"
                                  " the profiled images (the first --images test images; the 3 photos for"
                                  f" ResNet-18), torch kept unless beaten by {100 * TORCH_MARGIN:.0f} %",
                     "whole_model": "median per-image time over the next 10 test images (held out from the"
                                    " selection); for ResNet-18 the same 3 photos"},
        "models": model_info, "results": records,
    })  # fmt: skip
    (RESULTS / "sparse_conv.txt").write_text("\n".join(tables) + "\n")
    print(f"\nwrote {path} in {seconds:.0f} s")


if __name__ == "__main__":
    main()

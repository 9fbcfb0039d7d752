"""J4D in settings a sender can deploy: per-image JPEG quality chosen without the reader's model.

The guided encoder of ``j4d_fashion_mnist.py`` is measured there with each model guiding the
files it then reads: an upper bound (a sender that can run the reader could send the label).
Here the reader is resnet8 and the sender uses, per image, the coarsest IJG quality of the
default ladder (95..2) that passes a test needing less than the reader:

- ``psnr-target``: no model; the decoded file's PSNR reaches a target (swept over targets);
- ``guided-ijg:small_cnn``: a three-layer CNN of about a twelfth of resnet8's multiply-adds keeps
  its output within ``max_kl`` nats of its output on the original (swept over thresholds);
- ``guided-ijg:resnet8``: the reader guiding itself, the upper bound, for reference.

Every classifier is trained with the project's trainer on the first 20,000 training images
(3 epochs, SGD 0.05 cosine, batch 128, one thread; a smaller budget than ``j4d_fashion_mnist.py``'s
so that three seeds fit a shared 2-core machine) and cached under runs/bench-j4d/. The whole comparison is repeated for
each seed (reader and guide retrained), so the spread over classifiers stands beside the
paired bootstrap interval over test images. Files: real grayscale baseline JPEG (libjpeg-turbo
through Pillow, optimized Huffman), decoded by Pillow; BD-rate (PCHIP, accuracy ceiling =
uncompressed - 0.2 points) against IJG qualities on payload bytes and on whole files, each with a
paired bootstrap 95 % interval (1,000 resamples of the test images). The guide's cost: forward
passes per image (its reference pass plus one per ladder level tried, coarsest first) and
measured seconds per image.

Run: python benchmarks/j4d_deployable.py   (writes results/j4d_deployable.json)
     --summarize-only recomputes the comparisons from the JSON's points.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, psnr_u8, write_results
from j4d_fashion_mnist import QUALITIES, classifier

from jpegdl.data import create_dataset
from jpegdl.evaluate.bootstrap import bootstrap_bd_rates, format_bootstrap
from jpegdl.evaluate.measurement import correct_per_image, measure_point
from jpegdl.evaluate.per_image import pack_counts, pack_flags, unpack_flags
from jpegdl.evaluate.report import compare
from jpegdl.files import jpeg_bytes, to_uint8
from jpegdl.files.arrays import to_tensor
from jpegdl.j4d.guided import DEFAULT_QUALITY_LADDER, guided_files, guided_levels, quality_ladder
from jpegdl.jpeg.tables import QuantTables
from jpegdl.models import create

READER, GUIDES = "resnet8", ("small_cnn",)
TRAINING = {"epochs": 3, "limit_train": 20_000}  # smaller than j4d_fashion_mnist.py: 3 seeds fit the CPU budget
SEEDS = (0, 1, 2)
THRESHOLDS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # max KL (nats), as in j4d_fashion_mnist.py
PSNR_TARGETS = (20.0, 22.0, 24.0, 26.0, 28.0, 30.0, 32.0, 35.0, 38.0, 42.0)  # dB
BOOTSTRAP_ROUNDS = 1000
PIXELS = 28 * 28
CLASSES = 10


def multiply_adds(model: torch.nn.Module, shape: tuple[int, ...] = (1, 1, 28, 28)) -> int:
    """Multiply-adds of one forward pass of ``model`` (convolutions and linear layers) on ``shape``."""
    total = 0

    def count(module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            total += output.numel() * module.in_channels // module.groups * math.prod(module.kernel_size)
        elif isinstance(module, torch.nn.Linear):
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(shape))
    for hook in hooks:
        hook.remove()
    return total


def forward_seconds(model: torch.nn.Module, images: torch.Tensor, batch: int = 256) -> float:
    """Seconds per image of one forward pass of ``model`` (eval, no grad) over ``images`` in batches."""
    with torch.no_grad():
        model.eval()(images[:batch])  # warm-up
        start = time.perf_counter()
        for i in range(0, len(images), batch):
            model(images[i : i + batch])
    return (time.perf_counter() - start) / len(images)


def decoded_array(data: bytes) -> np.ndarray:
    """Pillow's (libjpeg-turbo's) decode of one file as a uint8 array."""
    return np.array(Image.open(io.BytesIO(data)))


def point(codec: str, setting: float, files: list[bytes], labels: torch.Tensor, reader: torch.nn.Module,
          passes: np.ndarray | None = None) -> dict:  # fmt: skip
    """One operating point read by the reader, with each file's whole size (``per_image_bytes``)
    beside its payload, and the mean forward passes of the guide per image (``passes``)."""
    record = measure_point(codec, setting, files, [PIXELS] * len(files), labels, {READER: reader}).to_dict()
    record["per_image_bytes"] = pack_counts([len(f) for f in files])
    if passes is not None:
        record["guide_passes_per_image"] = float(passes.mean())
    return record


def psnr_points(arrays: list[np.ndarray], labels: torch.Tensor, reader: torch.nn.Module) -> tuple[list[dict], dict]:
    """Per image the coarsest ladder quality whose decode reaches each PSNR target (else the finest)."""
    ladder = quality_ladder()
    start = time.perf_counter()
    psnr = np.array([[psnr_u8(a, decoded_array(jpeg_bytes(a, tables, "4:4:4"))) for tables in ladder]
                     for a in arrays])  # fmt: skip  # (N, L), finest first
    seconds = (time.perf_counter() - start) / len(arrays)  # every level: an upper bound on a coarsest-first search
    records = []
    for target in PSNR_TARGETS:
        passing = psnr >= target
        levels = np.where(passing.any(1), len(ladder) - 1 - np.argmax(passing[:, ::-1], axis=1), 0)
        files = guided_files(arrays, ladder, torch.as_tensor(levels), "4:4:4")
        records.append(point("psnr-target", target, files, labels, reader))
    return records, {"seconds_per_image_all_levels": seconds, "forward_passes": 0, "levels": len(ladder)}


def guided_ijg_points(guide_name: str, guide: torch.nn.Module, arrays: list[np.ndarray], labels: torch.Tensor,
                      reader: torch.nn.Module) -> tuple[list[dict], dict]:  # fmt: skip
    """Files at the levels ``guide`` picks on the IJG ladder for each threshold, read by the reader."""
    ladder = quality_ladder()
    pixels = torch.cat([to_tensor(a) for a in arrays])
    start = time.perf_counter()
    levels = guided_levels(guide, pixels, ladder, list(THRESHOLDS))  # (T, N)
    seconds = (time.perf_counter() - start) / len(arrays)
    records = []
    for threshold, chosen in zip(THRESHOLDS, levels, strict=True):
        # coarsest first: a passing level k costs the levels L-1..k; none passing costs L-1..1 (level 0 is the fallback)
        tried = np.where(chosen.numpy() > 0, len(ladder) - chosen.numpy(), len(ladder) - 1)
        files = guided_files(arrays, ladder, chosen, "4:4:4")
        records.append(point(f"guided-ijg:{guide_name}", threshold, files, labels, reader, passes=1 + tried))
    cost = {"multiply_adds": multiply_adds(guide), "forward_seconds_per_image": forward_seconds(guide, pixels),
            "seconds_per_image_all_thresholds": seconds, "levels": len(ladder)}  # fmt: skip
    return records, cost


def one_seed(seed: int, training: dict, arrays: list[np.ndarray], test_images: torch.Tensor,
             labels: torch.Tensor) -> dict:  # fmt: skip
    """Train (or load) the reader and guides of one seed and measure every codec's points."""
    models, accuracy_10k = {}, {}
    for name in (READER, *GUIDES):
        models[name], accuracy_10k[name] = classifier(name, {**training, "seed": seed}, prefix="deployable-")
    reader = models[READER]
    clean = correct_per_image({READER: reader}, test_images, labels)[READER]
    records = [point("ijg", q, [jpeg_bytes(a, QuantTables.from_quality(q), "4:4:4") for a in arrays], labels, reader)
               for q in QUALITIES]  # fmt: skip
    psnr, psnr_cost = psnr_points(arrays, labels, reader)
    records += psnr
    costs = {"psnr-target": psnr_cost}
    for name in (*GUIDES, READER):
        guided, costs[f"guided-ijg:{name}"] = guided_ijg_points(name, models[name], arrays, labels, reader)
        records += guided
        print(f"seed {seed}: guided by {name} done", flush=True)
    return {"seed": seed, "trained_test_accuracy_10k": accuracy_10k, "uncompressed_correct": pack_flags(clean),
            "guide_costs": costs, "points": records}  # fmt: skip


def whole_file(records: list[dict]) -> list[dict]:
    """The records with each file's whole size in place of its payload (bootstrap on whole files)."""
    return [{**r, "per_image_payload": r["per_image_bytes"]} for r in records]


def summarize(runs: list[dict]) -> dict:
    """Per seed: BD-rates (payload and whole file) against IJG with paired bootstrap intervals; then
    the spread of each codec's BD-rate over seeds."""
    per_seed = []
    for run in runs:
        clean = {READER: unpack_flags(run["uncompressed_correct"])}
        uncompressed = {READER: float(clean[READER].mean())}
        rows = {r["codec"]: r for r in compare(run["points"], uncompressed, "ijg")}
        payload = bootstrap_bd_rates(run["points"], clean, PIXELS, "ijg", rounds=BOOTSTRAP_ROUNDS)
        files = bootstrap_bd_rates(whole_file(run["points"]), clean, PIXELS, "ijg", rounds=BOOTSTRAP_ROUNDS)
        print(f"\nseed {run['seed']}: uncompressed accuracy {uncompressed[READER]:.4f}; payload, then whole files")
        print(format_bootstrap(payload))
        print(format_bootstrap(files))
        codecs = {}
        whole = {r["codec"]: r for r in files}
        for p_row in payload:
            row, f_row = rows[p_row["codec"]], whole[p_row["codec"]]
            codecs[p_row["codec"]] = {
                "payload_bd_rate": p_row["bd_rate"], "payload_interval": [p_row["low"], p_row["high"]],
                "payload_significant": p_row["significant"], "file_bd_rate": f_row["bd_rate"],
                "file_interval": [f_row["low"], f_row["high"]], "file_significant": f_row["significant"],
                "bpp_at_minus_1pt": row["bpp_at_minus_1pt"],
                "payload_bpp_at_minus_1pt": row["payload_bpp_at_minus_1pt"],
            }  # fmt: skip
        per_seed.append({"seed": run["seed"], "uncompressed_accuracy": uncompressed[READER], "codecs": codecs})
    spread = {}
    for codec in per_seed[0]["codecs"]:
        entry = {}
        for key in ("payload_bd_rate", "file_bd_rate"):
            values = [s["codecs"][codec][key] for s in per_seed if s["codecs"].get(codec, {}).get(key) is not None]
            entry[key] = {"per_seed": values, "mean": statistics.fmean(values) if values else None,
                          "min": min(values, default=None), "max": max(values, default=None),
                          "std": statistics.stdev(values) if len(values) > 1 else None}  # fmt: skip
        passes = [statistics.fmean(p["guide_passes_per_image"] for p in run["points"] if p["codec"] == codec)
                  for run in runs if codec.startswith("guided")]  # fmt: skip
        entry["mean_forward_passes_per_image"] = statistics.fmean(passes) if passes else 0.0
        spread[codec] = entry
    return {"per_seed": per_seed, "over_seeds": spread}


def oracle_rates() -> dict:
    """What a sender that can run the reader could send instead of an image (bits per pixel), and
    the multiply-adds of one forward pass of each classifier of the J4D benchmarks at 28 x 28."""
    macs = {name: multiply_adds(create(name, CLASSES, 1)) for name in ("small_cnn", "resnet8", "resnet14", "vgg8")}
    return {"label_bpp": math.log2(CLASSES) / PIXELS, "logits_fp16_bpp": 16 * CLASSES / PIXELS,
            "multiply_adds": macs, "multiply_adds_vs_resnet8": {k: v / macs["resnet8"] for k, v in macs.items()},
            "multiply_adds_vs_resnet14": {k: v / macs["resnet14"] for k, v in macs.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-test", type=int, default=3_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=TRAINING["epochs"], help="smoke tests: fewer")
    parser.add_argument("--train-images", type=int, default=TRAINING["limit_train"], help="smoke tests: fewer")
    parser.add_argument("--name", default="j4d_deployable", help="results name (smoke tests: another one)")
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = RESULTS / f"{args.name}.json"
    if args.summarize_only:
        previous = json.loads(path.read_text())
        previous.pop("environment")
        write_results(args.name, previous | {"summary": summarize(previous["runs"]), "oracle": oracle_rates()})
        return
    start = time.perf_counter()
    test_set, _ = create_dataset("fashion-mnist", "test", augment=False)
    count = min(args.limit_test, len(test_set))
    test_images = torch.stack([test_set[i][0] for i in range(count)])
    labels = torch.tensor([test_set[i][1] for i in range(count)])
    arrays = [to_uint8(image) for image in test_images]
    runs, training = [], {"epochs": args.epochs, "limit_train": args.train_images}
    for seed in args.seeds:
        runs.append(one_seed(seed, training, arrays, test_images, labels))
        settings = {"reader": READER, "guides": GUIDES, "training": training, "seeds": args.seeds[: len(runs)],
                    "test_images": count, "threads": args.threads, "ijg_qualities": QUALITIES,
                    "ladder": DEFAULT_QUALITY_LADDER, "thresholds": THRESHOLDS, "psnr_targets": PSNR_TARGETS,
                    "bootstrap_rounds": BOOTSTRAP_ROUNDS}  # fmt: skip
        # written after every seed, so an interrupted run keeps what it measured
        write_results(args.name, {"description": __doc__.splitlines()[0], "settings": settings, "runs": runs,
                                  "summary": summarize(runs), "oracle": oracle_rates(),
                                  "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
        print(f"seed {seed} written ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

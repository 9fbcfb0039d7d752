"""J4D training-proxy ablation (E3/E4 of the reference): which forward quantizer and hardness learn
the best tables for real (rounded) JPEG files?

resnet8 from benchmarks/j4d_fashion_mnist.py (run that first, or this trains it); tables learned
on training images 30,000..37,679 (2 epochs of 30 batches of 256, Adam 0.05 on log steps, IJG
q50 start) for every (quantizer, hardness, lambda); evaluated as real grayscale files
(libjpeg-turbo, optimized Huffman, rounded indices) on the first 3,000 test images; BD-rate of
payload bpp against the IJG quality sweep on the same images.

Run: python benchmarks/j4d_proxy_ablation.py   (writes results/j4d_proxy_ablation.json)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results
from j4d_fashion_mnist import RUNS, classifier

from jpegdl.data import create_dataset
from jpegdl.evaluate.bjontegaard import bd_rate
from jpegdl.evaluate.rate_accuracy import CodecSpec, classify, curve_of, evaluate_codecs
from jpegdl.files import to_uint8
from jpegdl.j4d.learn import learn_tables

VARIANTS = (("soft", 0.7), ("soft", 2.0), ("soft", 8.0), ("ste", 2.0), ("ste", 8.0), ("sampled", 2.0))
LAMBDAS = (0.03, 0.1, 0.3, 1.0)
QUALITIES = (3, 5, 10, 15, 20, 30, 50, 70, 90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-test", type=int, default=3000)
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(LAMBDAS))
    parser.add_argument("--variants", nargs="+", default=[f"{q}:{h:g}" for q, h in VARIANTS],
                        help="quantizer:hardness pairs")  # fmt: skip
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tag", default="", help="suffix of the results file")
    args = parser.parse_args()
    variants = [(v.split(":")[0], float(v.split(":")[1])) for v in args.variants]
    torch.set_num_threads(2)
    start = time.perf_counter()
    model, _ = classifier("resnet8")
    train, _ = create_dataset("fashion-mnist", "train", augment=False)
    data = DataLoader(Subset(train, range(30_000, 30_000 + 30 * 256)), batch_size=256, shuffle=True,
                      generator=torch.Generator().manual_seed(0))  # fmt: skip
    test, _ = create_dataset("fashion-mnist", "test", augment=False)
    images = torch.stack([test[i][0] for i in range(args.limit_test)])
    labels = torch.tensor([test[i][1] for i in range(args.limit_test)])
    arrays = [to_uint8(image) for image in images]
    models = {"resnet8": model}
    clean = classify(models, images, labels)["resnet8"]
    points = [p.to_dict() for p in evaluate_codecs([CodecSpec("ijg")], arrays, labels, models, qualities=QUALITIES,
                                                   progress=False)]  # fmt: skip
    reference = curve_of(points, "ijg", "resnet8")
    rows = []
    for quantizer, hardness in variants:
        folder = RUNS / f"ablation{args.tag}" / f"{quantizer}-h{hardness:g}"
        began = time.perf_counter()
        for lam in args.lambdas:
            result = learn_tables(model, data, lam, init=50, hardness=hardness, quantizer=quantizer,
                                  epochs=args.epochs, lr=args.lr, progress=False)  # fmt: skip
            result.save(folder / f"lambda{lam:g}.json")
        learned = [p.to_dict() for p in evaluate_codecs([CodecSpec("learned", str(folder))], arrays, labels, models,
                                                        progress=False)]  # fmt: skip
        for p in learned:
            p["codec"] = f"{quantizer}-h{hardness:g}"
        points += learned
        test_curve = curve_of(learned, f"{quantizer}-h{hardness:g}", "resnet8")
        bd = bd_rate(reference, test_curve, clean - 0.002)
        rows.append({"quantizer": quantizer, "hardness": hardness, "bd_rate_payload": bd,
                     "points": [(round(r, 4), a) for r, a in sorted(test_curve)],
                     "seconds": round(time.perf_counter() - began, 1)})  # fmt: skip
        shown = f"{100 * bd['bd_rate']:+.1f}% over accuracy {bd['interval']}" if bd else "n/a (no overlap)"
        print(f"{quantizer:8} h={hardness:<4g} BD-rate payload vs IJG: {shown}", flush=True)
    path = write_results(f"j4d_proxy_ablation{'_' + args.tag if args.tag else ''}", {
        "description": "training proxy (forward quantizer, hardness) for J4D tables; resnet8, Fashion-MNIST;"
        " real rounded files; BD-rate of payload bpp vs IJG (PCHIP, ceiling uncompressed - 0.2 points)",
        "settings": vars(args) | {"qualities": QUALITIES},
        "uncompressed_accuracy": clean, "ijg_curve": sorted(reference), "variants": rows, "points": points,
        "seconds": round(time.perf_counter() - start, 1),
    })  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

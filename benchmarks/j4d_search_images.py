"""Does the J4D search overfit its learning images? Held-out objective gain of method="search"
over its warm start (lambda-matched sensitivity tables) against the number of learning images.

resnet8 of benchmarks/j4d_fashion_mnist.py (run that first: it trains and caches the model),
lambda 0.03, one sweep, a quarter of the images held out inside the learner; training images
from 30,000 on (never seen by the classifier). Also the real-file check: test-set accuracy and
payload bpp of the warm start and of the sweep's tables (first 3,000 test images).

Run: python benchmarks/j4d_search_images.py   (writes results/j4d_search_images.json)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results

from jpegdl.data import create_dataset
from jpegdl.evaluate.measurement import classify, decode_files, encode_many, measure
from jpegdl.files import jpeg_bytes, to_uint8
from jpegdl.j4d import learn_tables
from jpegdl.jpeg.tables import QuantTables
from jpegdl.train import load_classifier

ROOT = Path(__file__).resolve().parent.parent
IMAGE_COUNTS = (384, 1536)
LAMBDA = 0.03


def main() -> None:
    torch.set_num_threads(1)
    model, _ = load_classifier(ROOT / "runs" / "bench-j4d" / "resnet8-seed0")
    train, _ = create_dataset("fashion-mnist", "train", augment=False)
    test, _ = create_dataset("fashion-mnist", "test", augment=False)
    images = torch.stack([test[i][0] for i in range(3000)])
    labels = torch.tensor([test[i][1] for i in range(3000)])
    arrays = [to_uint8(i) for i in images]
    rows = []
    for count in IMAGE_COUNTS:
        loader = DataLoader(Subset(train, range(30_000, 30_000 + count)), batch_size=256)
        result = learn_tables(model, loader, LAMBDA, sweeps=1, progress=False)
        scores, candidates = result.history[-1]["scores"], result.history[-1]["tables"]
        real = {}
        for name in ("warm_start", "sweep1"):
            tables = QuantTables.from_dict(candidates[name])
            files = encode_many(arrays, lambda a, t=tables: jpeg_bytes(a, t, "4:4:4"), progress=False)
            real[name] = {"accuracy": classify({"m": model}, decode_files(files), labels)["m"],
                          "payload_bpp": measure(files, [784] * len(files))["payload_bpp"]}  # fmt: skip
        rows.append({"images": count, "seconds": result.settings["seconds"], "held_out": scores,
                     "learning": result.history[1]["learning"], "test_files": real})  # fmt: skip
        print(rows[-1], flush=True)
    path = write_results("j4d_search_images", {"description": __doc__.splitlines()[0], "lambda": LAMBDA,
                                               "rows": rows})  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

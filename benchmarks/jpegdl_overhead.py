"""JPEG-DL training-step overhead: the same model with and without the JPEG layer, timed in
interleaved rounds inside one process, so that load from other work hits both alike.

Each round times ``--steps`` SGD steps (forward, backward, both optimizers) of the baseline
(normalisation + resnet8) and of the JPEG-DL model (the layer at the package's defaults: soft
mode, alpha 5, IJG q90 initial tables, 4:4:4, exact front end; + the same network) on the same
Fashion-MNIST batches of 128; the overhead is the ratio of the medians over rounds.
Data loading is excluded (it is the same for both and adds to both epochs alike).

Run: python benchmarks/jpegdl_overhead.py [--model resnet8 --rounds 21 --steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results

from jpegdl.data import create_dataset
from jpegdl.runs import TrainConfig, build_model, jpeg_layer


def step_timer(model: nn.Module, batches: list) -> callable:
    layer = jpeg_layer(model)
    table_ids = {id(p) for p in layer.table_parameters()} if layer is not None else set()
    optimizer = torch.optim.SGD([p for p in model.parameters() if id(p) not in table_ids], lr=0.05, momentum=0.9)
    tables = torch.optim.Adam(layer.table_parameters(), lr=3e-3) if layer is not None else None

    def run() -> float:
        model.train()
        start = time.perf_counter()
        for images, labels in batches:
            loss = nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            if tables is not None:
                tables.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if tables is not None:
                tables.step()
        return (time.perf_counter() - start) / len(batches)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet8")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dataset, info = create_dataset("fashion-mnist", "train")
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True)
    batches = [batch for _, batch in zip(range(args.steps), loader, strict=False)]
    timers = {}
    for jpeg in (False, True):
        config = TrainConfig(model=args.model, jpeg=True if jpeg else None)  # the package defaults
        timers["jpeg" if jpeg else "baseline"] = step_timer(build_model(config, info), batches)
    for run in timers.values():  # warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(args.rounds):
        for name, run in timers.items():
            times[name].append(run())
    medians = {name: statistics.median(values) for name, values in times.items()}
    overhead = 100 * (medians["jpeg"] / medians["baseline"] - 1)
    print(f"{args.model}, batch 128 (28x28 grayscale), {args.threads} threads, median of {args.rounds} rounds"
          f" of {args.steps} steps")  # fmt: skip
    print(f"baseline {1e3 * medians['baseline']:.1f} ms/step, JPEG-DL {1e3 * medians['jpeg']:.1f} ms/step:"
          f" overhead {overhead:+.1f}%")  # fmt: skip
    path = write_results("jpegdl_overhead", {
        "description": "training-step time with and without the JPEG-DL layer (package defaults: soft mode,"
        " alpha 5, IJG q90 init, 4:4:4, exact front end), interleaved rounds in one process; data loading"
        " excluded",
        "settings": vars(args) | {"batch_size": 128},
        "seconds_per_step": times, "median_seconds_per_step": medians, "overhead_percent": overhead,
    })  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

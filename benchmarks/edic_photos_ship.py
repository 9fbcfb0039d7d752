"""Copy the trained photo codecs of ``edic_photos_train.py`` into the package (``jpegdl/edic/weights/``).

Each codec is taken from its training state at the same step for every variant (``--step``; default the
latest step that every run has reached and saved), its CDF tables built, stored as float16 (about half the
size; the model id is that of the stored weights), and recorded in ``manifest.json`` with its SHA-256 and
how it was trained (steps, CPU-hours, data, recipe).

    PYTHONPATH=.:benchmarks python benchmarks/edic_photos_ship.py --runs /work/edic_runs
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from common import RESULTS
from edic_photos_train import LMBDAS, LR_DROPS, PLANNED_STEPS, SCALES, SIZES, VARIANTS, training_cost

from jpegdl.checkpoints import load_checkpoint
from jpegdl.edic import CodecConfig, build_model
from jpegdl.edic.checkpoint import save_codec
from jpegdl.edic.shipped import MANIFEST, WEIGHTS
from jpegdl.utils import atomic_write_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(RESULTS / "edic_runs"))
    parser.add_argument("--step", type=int, help="snapshot step to ship (default: latest common snapshot)")
    parser.add_argument("--mbt-step", type=int, help="mbt2018-mean's step when its training lags (default: --step)")
    args = parser.parse_args()
    runs = Path(args.runs)
    folders = {variant: runs / f"{variant}-seed0" for variant in VARIANTS}
    if args.step is None:
        steps = [{int(p.stem.split("-")[1]) for p in (f / "snapshots").glob("step-*.pt")} for f in folders.values()]
        common = set.intersection(*steps)
        if not common:
            raise SystemExit("no snapshot step is common to every run")
        args.step = max(common)
    steps = {variant: args.step for variant in VARIANTS} | ({"mbt2018-mean": args.mbt_step} if args.mbt_step else {})
    entries = {}
    for variant, folder in folders.items():
        step = steps[variant]
        config = CodecConfig(**SIZES, **VARIANTS[variant], lmbdas=LMBDAS)
        model = build_model(config)
        model.load_state_dict(load_checkpoint(folder / "snapshots" / f"step-{step}.pt"))
        path = WEIGHTS / f"{variant}.pt"
        save_codec(model, config, path, half=True)
        chunks = json.loads((folder / "time.json").read_text())["chunks"]
        data = json.loads((folder / "data.json").read_text())
        entries[variant] = {
            "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "training": {
                "steps": step, "planned_steps": PLANNED_STEPS, "lr_drops": list(LR_DROPS),
                **training_cost(chunks, step),
                "recipe": "Adam 3e-4, batch 8 of 128x128 random crops, gradient clip 1.0, one CPU thread, "
                          "per-sample lambda drawn uniformly from lmbdas (variable rate, per-channel gains)",
                "lmbdas": list(LMBDAS), "scales_short_side": list(SCALES),
                "training_pictures": len(data["splits"]["train"]),
                "data": "Debian wallpapers (plasma-workspace-wallpapers, ukui-wallpapers, gnome-backgrounds), "
                        "deduplicated, train split by a hash of the file path",
                "command": f"PYTHONPATH=.:benchmarks python benchmarks/edic_photos_train.py --variant {variant}",
            },
        }
        print(f"{variant}: step {step} -> {path} ({path.stat().st_size / 1e6:.1f} MB)")
    atomic_write_bytes(MANIFEST, (json.dumps(entries, indent=1) + "\n").encode())
    print(f"wrote {MANIFEST}")


if __name__ == "__main__":
    main()

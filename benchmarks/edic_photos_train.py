"""Long, resumable training of the variable-rate photo codecs shipped with jpegdl (issue 24).

Two codecs, trained by the same recipe, data, seed and steps (one thread each, two at once on 2 cores):

- ``edic``: EDIC (GDN transforms, SE attention, 3-component Gaussian-mixture hyperprior, enhancement);
- ``mbt2018-mean``: the same code with components=1, attention and enhancement off, i.e. Minnen et al.'s
  mean-scale hyperprior, trained through the identical path (gains, mixed quantization, data).

Each is one variable-rate model (per-channel gains, Cui et al. 2021) for four lambdas, trained on
random 128x128 crops (batch 8) of the train split of the deduplicated offline photographs, each taken at
three scales (short side 512, 768, 1080): Adam 3e-4, gradient clipping 1.0, learning rate x0.3 at
the planned drops. The recipe is the one measured in ``shared/reference/others.md`` section 2.5 on
held-out wallpapers (batch 8 of 128 crops at 3e-4 beat Adam 1e-3 and 64x64 crops by 4 dB at equal steps).

The run advances in chunks of ``--chunk`` steps; after each, ``codec.pt`` of the chunk is kept under
``snapshots/`` so codecs can be compared at equal steps. Stop it at any time (kill): a re-run of the
same command resumes exactly from ``train.pt`` (written atomically every 250 steps).

    PYTHONPATH=. python benchmarks/edic_photos_train.py --variant edic --until 40000
    PYTHONPATH=. python benchmarks/edic_photos_train.py --variant mbt2018-mean --until 40000
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
from common import RESULTS

from jpegdl.edic import CodecConfig
from jpegdl.edic.data import WALLPAPER_FOLDERS, deduplicate, find_images, load_training_images, split_by_file
from jpegdl.edic.training import TrainSettings, train_and_save

LMBDAS = (0.0018, 0.0048, 0.013, 0.035)
SIZES = {"channels": 64, "latent_channels": 96, "enhance_channels": 16, "enhance_blocks": 1, "enhance_residuals": 2}
VARIANTS = {
    "edic": {},
    "mbt2018-mean": {"components": 1, "attention": False, "enhancement": False},
}
PLANNED_STEPS = 40_000
LR_DROPS = (30_000, 36_000)
SCALES = (512, 768, 1080)
VALIDATION, TEST = 0.15, 0.2


def training_cost(chunks: list[dict], step: int) -> dict:
    """CPU- and wall-hours of the first ``step`` steps from ``time.json``'s chunks. A chunk killed before its
    end logs no time (its steps survive in ``train.pt``); such steps are charged at the logged mean rate
    and counted in ``steps_without_timing``."""
    spent = [c for c in chunks if c["until"] <= step]
    logged = sum(c["until"] - c["from"] for c in spent)
    cpu, wall = sum(c["cpu_s"] for c in spent), sum(c["wall_s"] for c in spent)
    missing = max(step - logged, 0)
    if logged:
        cpu, wall = cpu * step / logged, wall * step / logged
    return {"cpu_hours": round(cpu / 3600, 2), "wall_hours": round(wall / 3600, 2), "steps_without_timing": missing}


def photo_splits() -> dict[str, list[Path]]:
    paths = find_images([f for f in WALLPAPER_FOLDERS if Path(f).is_dir()])
    return split_by_file(deduplicate(paths), VALIDATION, TEST)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=tuple(VARIANTS), required=True)
    parser.add_argument("--until", type=int, default=PLANNED_STEPS, help="train up to this many steps in total")
    parser.add_argument("--chunk", type=int, default=2500, help="steps between kept snapshots")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", default=str(RESULTS / "edic_runs"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    folder = Path(args.runs) / f"{args.variant}-seed{args.seed}"
    config = CodecConfig(**SIZES, **VARIANTS[args.variant], lmbdas=LMBDAS)
    splits = photo_splits()
    images = [image for scale in SCALES for image in load_training_images(splits["train"], short_side=scale)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.json").write_text(json.dumps({
        "splits": {name: [str(p) for p in files] for name, files in splits.items()},
        "scales": SCALES, "training_crops_from": len(images)}, indent=1))
    print(f"{args.variant}: {len(splits['train'])} training pictures ({len(images)} scaled copies), "
          f"{len(splits['validation'])} validation, {len(splits['test'])} test", flush=True)
    done = 0
    state = folder / "train.pt"
    if state.is_file():
        from jpegdl.checkpoints import load_checkpoint

        done = int(load_checkpoint(state)["step"])
    while done < args.until:
        target = min((done // args.chunk + 1) * args.chunk, args.until)
        settings = TrainSettings(lmbda=LMBDAS[-1], steps=target, batch_size=8, lr=3e-4, clip=1.0,
                                 checkpoint_every=250, lr_drops=LR_DROPS)
        wall, cpu = time.perf_counter(), time.process_time()
        _, history = train_and_save(config, settings, images, folder, crop=128, seed=args.seed, resume=True,
                                    progress=False)  # fmt: skip
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        log = folder / "time.json"
        spent = json.loads(log.read_text()) if log.is_file() else {"chunks": []}
        spent["chunks"].append({"until": target, "from": done, "wall_s": wall, "cpu_s": cpu})
        log.write_text(json.dumps(spent, indent=1))
        snapshots = folder / "snapshots"
        snapshots.mkdir(exist_ok=True)
        for suffix in (".pt", ".json"):
            shutil.copyfile(folder / f"codec{suffix}", snapshots / f"step-{target}{suffix}")
        recent = history[-250:]
        print(f"{args.variant}: step {target}, {wall / max(target - done, 1):.2f} s/step, last 250: "
              f"loss {sum(r['loss'] for r in recent) / len(recent):.3f} "
              f"bpp {sum(r['bpp'] for r in recent) / len(recent):.3f}", flush=True)
        done = target
    export_missing_snapshot(config, folder, done)


def export_missing_snapshot(config: CodecConfig, folder: Path, step: int) -> None:
    """A run committed without its snapshots (they stay on the machine that trained it): write the codec of
    ``train.pt`` as ``snapshots/step-<step>.pt`` so the evaluation scripts find it on a fresh machine."""
    target = folder / "snapshots" / f"step-{step}.pt"
    if target.is_file() or not (folder / "train.pt").is_file():
        return
    from jpegdl.checkpoints import load_checkpoint
    from jpegdl.edic.checkpoint import save_codec
    from jpegdl.edic.model import build_model

    state = load_checkpoint(folder / "train.pt")
    if int(state["step"]) != step:
        return
    model = build_model(config)
    model.load_state_dict(state["model"])
    target.parent.mkdir(exist_ok=True)
    save_codec(model.eval(), config, target)
    print(f"{folder.name}: exported the codec of step {step} to {target}", flush=True)


if __name__ == "__main__":
    main()

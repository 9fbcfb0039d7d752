"""Where EDIC's decoding time goes, stage by stage, against CompressAI's hyperprior and autoregressive
decoders on the same image and thread count (CPU).

Needs the codecs trained by ``benchmarks/edic_photos.py`` (its ``--runs`` folder).

    PYTHONPATH=. python benchmarks/edic_speed.py --threads 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, write_results

from jpegdl.data.photos import load_photo
from jpegdl.edic import pad_to_stride
from jpegdl.edic.checkpoint import load_codec
from jpegdl.edic.mixture import coding_tables, decode_symbols
from jpegdl.utils import wall_times


def median_seconds(run, repeats: int) -> float:
    return float(np.median(wall_times(run, repeats, warmup=1)))

def edic_stages(model, x: torch.Tensor, repeats: int) -> dict:
    encoded = model.compress(x)
    y_string, z_strings, shape = encoded["strings"][0][0], encoded["strings"][1], encoded["shape"]
    z_hat = model.entropy_bottleneck.decompress(z_strings, shape)
    means, scales, weights = model.mixture(z_hat)
    y_hat = decode_symbols(y_string, means, scales, weights)
    base = model.g_s(y_hat)
    stages = {
        "z decode + h_s": lambda: model.mixture(model.entropy_bottleneck.decompress(z_strings, shape)),
        "CDF tables": lambda: coding_tables(means, scales, weights),
        "tables + rANS decode of y": lambda: decode_symbols(y_string, means, scales, weights),
        "g_s": lambda: model.g_s(y_hat),
        "enhancement": lambda: model.enhance(base),
        "whole decompress": lambda: model.decompress(encoded["strings"], shape),
    }
    return {name: median_seconds(run, repeats) for name, run in stages.items()}


@torch.no_grad()
def whole_decode(model, x: torch.Tensor, repeats: int) -> float:
    encoded = model.compress(x)
    return median_seconds(lambda: model.decompress(encoded["strings"], encoded["shape"]), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=str(RESULTS / "edic_photos_runs"))
    parser.add_argument("--lmbda", default="0.025")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = pad_to_stride(torch.from_numpy(load_photo("astronaut")).permute(2, 0, 1).float()[None] / 255)

    edic, _ = load_codec(Path(args.runs) / f"edic-{args.lmbda}" / "codec.pt")
    stages = edic_stages(edic, x, args.repeats)
    decoders = {
        name: whole_decode(load_codec(Path(args.runs) / f"{name}-{args.lmbda}" / "codec.pt")[0], x, args.repeats)
        for name in ("edic-no-enhancement", "bmshj2018-hyperprior", "mbt2018-mean") if
        (Path(args.runs) / f"{name}-{args.lmbda}" / "codec.pt").is_file()
    }
    from compressai.zoo import mbt2018

    autoregressive = mbt2018(quality=1, pretrained=False).eval()
    autoregressive.update(force=True)
    decoders["mbt2018 (autoregressive, untrained, q1)"] = whole_decode(autoregressive, x, 1)
    reference = decoders["mbt2018 (autoregressive, untrained, q1)"]

    print(f"EDIC decode stages (astronaut 512x512, {args.threads} thread(s), median of {args.repeats}):")
    for name, seconds in stages.items():
        print(f"  {name:28s} {seconds:7.3f} s")
    print("whole decoders:")
    for name, seconds in {"edic": stages["whole decompress"], **decoders}.items():
        print(f"  {name:40s} {seconds:7.3f} s   {reference / seconds:6.1f}x faster than mbt2018")
    path = write_results("edic_speed", {
        "command": f"PYTHONPATH=. python benchmarks/edic_speed.py --threads {args.threads} --lmbda {args.lmbda}",
        "image": "astronaut 512x512", "threads": args.threads, "repeats": args.repeats,
        "edic_stages_s": stages, "decoders_s": {"edic": stages["whole decompress"], **decoders},
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

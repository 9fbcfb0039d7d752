"""Where EDIC loses to the equally trained mbt2018-mean: the held-out BD-rates of ``edic_photos.json`` split
by where the test pictures come from (the wallpaper test split, scikit-image's photos, scikit-learn's photos;
"photographs" = the last two together), averaged over EDIC's training seeds, with the same two-level
bootstrap interval (seeds, then pictures) as ``edic_photos.py``. ``search`` does the same over seeds for the
encoder-side search (``edic_photos_refine.py --split test``: one results file per seed, ``--search``), from
the per-picture points those files keep. It reads committed JSON and codes nothing, so it runs in seconds:

    PYTHONPATH=.:benchmarks python benchmarks/edic_photos_sources.py
"""

from __future__ import annotations

import argparse
import json

from common import RESULTS, write_results
from edic_photos import bd_pair, seed_label, summarize_over_seeds

GROUPS = {"wallpapers": ("wallpaper:",), "photographs": ("skimage:", "sklearn:"), "skimage": ("skimage:",),
          "sklearn": ("sklearn:",)}


def search_over_seeds(stems: list[str], steps: str) -> dict[str, dict]:
    """"edic+search vs jpeg" / "vs mozjpeg" -> metric -> BD-rate over seeds and pictures (two-level bootstrap),
    from the per-picture points of each seed's search results file (learning rate 0.03)."""
    per_seed: dict[str, dict[str, dict[str, dict]]] = {}
    for seed, stem in enumerate(stems):
        results = json.loads((RESULTS / f"{stem}.json").read_text())
        curves, references = results["points"]["0.03"][steps], results["jpeg_points"]
        for reference in ("jpeg", "mozjpeg"):
            for key in ("psnr", "ms_ssim"):
                per_seed.setdefault(f"edic+search vs {reference}", {}).setdefault(key, {})[str(seed)] = {
                    name: bd_pair(references[reference][name], curve, key)[0] for name, curve in curves.items()}
    return {label: {key: summarize_over_seeds(seeds) for key, seeds in metrics.items()}
            for label, metrics in per_seed.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="edic_photos", help="results stem of edic_photos.py")
    parser.add_argument("--search", nargs="+", default=["edic_photos_refine_test", "edic_photos_refine_test_seed1"],
                        help="results stems of edic_photos.py's seeds 0, 1, ... searched by edic_photos_refine.py")
    parser.add_argument("--search-steps", default="50", help="the search checkpoint to summarize")
    parser.add_argument("--name", default="edic_photos_sources")
    args = parser.parse_args()
    results = json.loads((RESULTS / f"{args.source}.json").read_text())
    seeds, comparisons = results["edic_seeds"], results["comparisons"]
    rows: dict[str, dict] = {}
    for reference in ("mbt2018-mean", "jpeg"):
        for group, prefixes in GROUPS.items():
            row = rows.setdefault(f"edic vs {reference}", {})[group] = {}
            for key in ("psnr", "ms_ssim"):
                per_seed = {str(seed): {name: value for name, value in
                                        comparisons[f"{seed_label(seed)} vs {reference}"][key]
                                        ["per_picture_bd_rate"].items() if name.startswith(prefixes)}
                            for seed in seeds}  # fmt: skip
                row[key] = summarize_over_seeds(per_seed)
    print(f"EDIC seeds {seeds}; BD-rate mean over seeds and pictures [two-level bootstrap 95 % interval]")
    print(f"{'comparison':22s} {'pictures':12s} {'n':>3s} {'PSNR BD-rate':>28s} {'MS-SSIM BD-rate':>28s}")
    for label, groups in rows.items():
        for group, row in groups.items():
            cells = [f"{s['mean']:+.1%} [{s['low']:+.1%}, {s['high']:+.1%}]" if s["mean"] is not None else "n/a"
                     for s in (row["psnr"], row["ms_ssim"])]
            print(f"{label:22s} {group:12s} {row['psnr']['pictures']:3d} {cells[0]:>28s} {cells[1]:>28s}")
    search = search_over_seeds(args.search, args.search_steps)
    print(f"\nEDIC with {args.search_steps} search steps over seeds ({', '.join(args.search)})")
    for label, row in search.items():
        cells = [f"{s['mean']:+.1%} [{s['low']:+.1%}, {s['high']:+.1%}]" for s in (row["psnr"], row["ms_ssim"])]
        print(f"{label:22s} PSNR {cells[0]}; MS-SSIM {cells[1]}")
    path = write_results(args.name, {
        "command": "PYTHONPATH=.:benchmarks python benchmarks/edic_photos_sources.py",
        "source": f"{args.source}.json", "step": results["step"], "edic_seeds": seeds, "by_source": rows,
        "search": {"sources": [f"{stem}.json" for stem in args.search], "steps": int(args.search_steps),
                   "over_seeds": search},
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Where EDIC loses to the equally trained mbt2018-mean: the held-out BD-rates of ``edic_photos.json`` split
by where the test pictures come from (the wallpaper test split, scikit-image's photos, scikit-learn's photos;
"photographs" = the last two together), averaged over EDIC's training seeds, with the same two-level
bootstrap interval (seeds, then pictures) as ``edic_photos.py``. It reads the committed JSON and codes
nothing, so it runs in a second:

    PYTHONPATH=.:benchmarks python benchmarks/edic_photos_sources.py
"""

from __future__ import annotations

import argparse
import json

from common import RESULTS, write_results
from edic_photos import seed_label, summarize_over_seeds

GROUPS = {"wallpapers": ("wallpaper:",), "photographs": ("skimage:", "sklearn:"), "skimage": ("skimage:",),
          "sklearn": ("sklearn:",)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="edic_photos", help="results stem of edic_photos.py")
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
    path = write_results(args.name, {
        "command": "PYTHONPATH=.:benchmarks python benchmarks/edic_photos_sources.py",
        "source": f"{args.source}.json", "step": results["step"], "edic_seeds": seeds, "by_source": rows,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

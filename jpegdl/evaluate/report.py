"""Report operating points: curves per codec and model, BD-rate / BD-accuracy against a
reference codec (PCHIP, see :mod:`jpegdl.evaluate.bjontegaard`), and a text table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jpegdl.evaluate.bjontegaard import bd_accuracy, bd_rate, rate_at_accuracy


def curve_of(points: Sequence[dict], codec: str, model: str, key: str = "payload_bpp") -> list[tuple[float, float]]:
    """``(rate, accuracy)`` per setting of one codec for one model (probabilistic seeds averaged)."""
    groups: dict = {}
    for p in points:
        if p["codec"] == codec and model in p["accuracy"]:
            groups.setdefault(p["setting"], []).append((p[key], p["accuracy"][model]))
    return [tuple(float(v) for v in np.mean(np.asarray(pairs), axis=0)) for pairs in groups.values()]


def compare(
    points: Sequence[dict],
    uncompressed: dict[str, float],
    reference: str = "ijg",
    saturation: float = 0.002,
    drops: Sequence[float] = (0.005, 0.01, 0.02, 0.05),
) -> list[dict]:
    """BD-rate / BD-accuracy of every codec against ``reference``, per model and rate measure.

    Points more accurate than ``uncompressed - saturation`` are left out of the BD fits (the
    flat region where BD-rate is ill-defined). Also the bpp each curve needs to stay within
    ``drops`` of the uncompressed accuracy, and the saving against the reference there.
    """
    rows = []
    codecs = list(dict.fromkeys(p["codec"] for p in points))
    for model, clean in uncompressed.items():
        for codec in codecs:
            if codec == reference or not curve_of(points, codec, model):
                continue
            row: dict = {"model": model, "codec": codec, "reference": reference}
            for key in ("payload_bpp", "bpp"):
                ref, test = curve_of(points, reference, model, key), curve_of(points, codec, model, key)
                row[f"bd_rate_{key}"] = bd_rate(ref, test, clean - saturation)
                row[f"bd_accuracy_{key}"] = bd_accuracy(ref, test, clean - saturation)
                for drop in drops:
                    r_ref, r_test = rate_at_accuracy(ref, clean - drop), rate_at_accuracy(test, clean - drop)
                    saving = None if r_ref is None or r_test is None else 1 - r_test / r_ref
                    row[f"{key}_at_minus_{100 * drop:g}pt"] = {reference: r_ref, "codec": r_test, "saving": saving}
            rows.append(row)
    return rows


def format_comparisons(rows: Sequence[dict]) -> str:
    """A text table of :func:`compare`'s rows."""

    def pct(entry: dict | None, key: str) -> str:
        return f"{100 * entry[key]:+.1f}%" if entry else "n/a"

    lines = [f"{'model':13} {'codec':30} {'vs':12} {'BD-rate payload':>15} {'BD-rate file':>12} {'BD-acc payload':>14}"]
    for row in rows:
        lines.append(
            f"{row['model']:13} {row['codec']:30} {row.get('reference', 'ijg'):12}"
            f" {pct(row['bd_rate_payload_bpp'], 'bd_rate'):>15} {pct(row['bd_rate_bpp'], 'bd_rate'):>12}"
            f" {pct(row['bd_accuracy_payload_bpp'], 'bd_accuracy'):>14}"
        )
    return "\n".join(lines)

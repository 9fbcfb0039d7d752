"""Paired bootstrap intervals for BD-rate: how sure a rate-accuracy comparison is.

Every operating point of a comparison was measured on the same test images, so the images are
resampled together (one multinomial draw of image counts per round, applied to every point of
every codec and to the uncompressed accuracy that sets the saturation ceiling): the interval
reflects which images happened to be in the test set, paired across codecs. Each round re-fits
both curves and recomputes the BD-rate on payload bits per pixel; the 95 % interval is the
2.5th..97.5th percentile of the rounds whose curves still overlap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jpegdl.evaluate.bjontegaard import bd_rate
from jpegdl.evaluate.per_image import unpack_counts, unpack_flags


def _per_setting(points: Sequence[dict], codec: str, model: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per image and setting of one codec: fraction right ``(N, S)`` and payload bytes ``(N, S)``
    (probabilistic seeds of one setting averaged), or None without per-image records."""
    groups: dict = {}
    for p in points:
        if p["codec"] != codec or model not in p["accuracy"]:
            continue
        if not p.get("per_image_payload") or model not in p.get("per_image_correct", {}):
            return None
        groups.setdefault(p["setting"], []).append(
            (unpack_flags(p["per_image_correct"][model]).astype(np.float64), unpack_counts(p["per_image_payload"]))
        )
    if not groups:
        return None
    correct = np.stack([np.mean([c for c, _ in group], axis=0) for group in groups.values()], axis=1)
    payload = np.stack([np.mean([b for _, b in group], axis=0) for group in groups.values()], axis=1)
    return correct, payload


def _curves(weights: np.ndarray, correct: np.ndarray, payload: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """``(R, S, 2)`` resampled ``(payload bpp, accuracy)`` per round and setting."""
    accuracy = weights @ correct / weights.sum(1, keepdims=True)
    rate = 8 * (weights @ payload) / (weights @ pixels)[:, None]
    return np.stack([rate, accuracy], axis=-1)


def bootstrap_bd_rates(
    points: Sequence[dict],
    uncompressed_correct: dict[str, np.ndarray],
    pixels_per_image: Sequence[int] | np.ndarray,
    reference: str,
    rounds: int = 1000,
    seed: int = 0,
    saturation: float = 0.002,
) -> list[dict]:
    """Payload BD-rate of every codec against ``reference`` per model, with a paired bootstrap interval.

    Args:
        points: ``OperatingPoint.to_dict()`` records with per-image data, all on one test set.
        uncompressed_correct: model -> bool ``(N,)`` right answers on the uncompressed images.
        pixels_per_image: ``(N,)`` pixel counts (or one count for every image).
        reference: the codec every other one is compared with.
        rounds: bootstrap resamples.
        saturation: points more accurate than ``uncompressed - saturation`` are left out of the fits
            (as :func:`jpegdl.evaluate.report.compare` does), the ceiling recomputed in every round.

    Returns:
        Rows ``{"model", "codec", "reference", "bd_rate", "low", "high", "significant", "rounds"}``;
        ``bd_rate`` on the measured set, ``low``/``high`` the 95 % interval (``None`` when fewer than
        half the rounds give overlapping curves), ``significant`` when the interval excludes 0.
    """
    if rounds < 1:
        raise ValueError(f"rounds: expected >= 1, got {rounds}")
    count = len(next(iter(uncompressed_correct.values())))
    pixels = np.broadcast_to(np.asarray(pixels_per_image, dtype=np.float64), (count,))
    rng = np.random.default_rng(seed)
    weights = np.vstack([np.ones(count), rng.multinomial(count, np.full(count, 1 / count), size=rounds)])
    codecs = list(dict.fromkeys(p["codec"] for p in points))
    rows = []
    for model, clean_flags in uncompressed_correct.items():
        ceilings = weights @ np.asarray(clean_flags, dtype=np.float64) / count - saturation
        ref = _per_setting(points, reference, model)
        if ref is None:
            continue
        ref_curves = _curves(weights, *ref, pixels)
        for codec in codecs:
            test = None if codec == reference else _per_setting(points, codec, model)
            if test is None:
                continue
            test_curves = _curves(weights, *test, pixels)
            values = [bd_rate(ref_curves[r], test_curves[r], ceilings[r]) for r in range(rounds + 1)]
            measured = values[0]["bd_rate"] if values[0] else None
            resampled = np.array([v["bd_rate"] for v in values[1:] if v is not None])
            low = high = None
            if resampled.size >= rounds / 2:
                low, high = (float(x) for x in np.percentile(resampled, [2.5, 97.5]))
            rows.append({"model": model, "codec": codec, "reference": reference, "bd_rate": measured, "low": low,
                         "high": high, "significant": low is not None and (low > 0 or high < 0),
                         "rounds": int(resampled.size)})  # fmt: skip
    return rows


def format_bootstrap(rows: Sequence[dict]) -> str:
    """A text table of :func:`bootstrap_bd_rates`' rows."""
    lines = [f"{'model':13} {'codec':30} {'vs':12} {'BD-rate payload':>15}  95 % interval (paired bootstrap)"]
    for row in rows:
        value = "n/a" if row["bd_rate"] is None else f"{100 * row['bd_rate']:+.1f}%"
        interval = "n/a" if row["low"] is None else f"[{100 * row['low']:+.1f}%, {100 * row['high']:+.1f}%]"
        mark = " *" if row["significant"] else ""
        lines.append(f"{row['model']:13} {row['codec']:30} {row['reference']:12} {value:>15}  {interval}{mark}")
    lines.append("* the interval excludes 0")
    return "\n".join(lines)

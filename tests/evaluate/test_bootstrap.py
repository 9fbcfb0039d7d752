"""Paired bootstrap BD-rate intervals: exact where every resample agrees, honest where they do not."""

import numpy as np
import pytest

from jpegdl.evaluate.bootstrap import bootstrap_bd_rates, format_bootstrap
from jpegdl.evaluate.per_image import pack_counts, pack_flags

IMAGES = 400


def _points(codec: str, byte_scale: float, rng: np.random.Generator, flip: float = 0.0) -> list[dict]:
    """Five settings whose accuracy rises with the bytes; ``byte_scale`` scales every image's payload."""
    points = []
    base = np.random.default_rng(1)  # the same images and answers for every codec
    difficulty = base.random(IMAGES)
    sizes = base.integers(50, 150, IMAGES)
    for level, accuracy in enumerate((0.55, 0.65, 0.72, 0.78, 0.82)):
        right = difficulty < accuracy
        if flip:
            right = np.where(rng.random(IMAGES) < flip, ~right, right)
        payload = np.round(sizes * (level + 1) * byte_scale).astype(int)
        points.append({"codec": codec, "setting": level, "accuracy": {"m": float(right.mean())},
                       "payload_bpp": 8 * payload.sum() / (IMAGES * 784), "per_image_payload": pack_counts(payload),
                       "per_image_correct": {"m": pack_flags(right)}})  # fmt: skip
    return points


def test_half_the_bytes_at_the_same_answers_is_minus_50_percent_in_every_resample():
    rng = np.random.default_rng(0)
    points = _points("ijg", 1.0, rng) + _points("half", 0.5, rng) + _points("same", 1.0, rng)
    clean = {"m": np.ones(IMAGES, dtype=bool)}
    rows = {r["codec"]: r for r in bootstrap_bd_rates(points, clean, 784, "ijg", rounds=50)}
    half, same = rows["half"], rows["same"]
    assert half["bd_rate"] == pytest.approx(-0.5, abs=2e-3)
    assert half["low"] == pytest.approx(-0.5, abs=2e-3) and half["high"] == pytest.approx(-0.5, abs=2e-3)
    assert half["significant"] and half["rounds"] == 50
    assert same["bd_rate"] == pytest.approx(0.0, abs=1e-12) and not same["significant"]
    assert "half" in format_bootstrap(list(rows.values()))


def test_noisy_answers_give_an_interval_around_the_measured_value():
    rng = np.random.default_rng(2)
    points = _points("ijg", 1.0, rng) + _points("noisy", 0.97, rng, flip=0.1)
    clean = {"m": np.ones(IMAGES, dtype=bool)}
    (row,) = bootstrap_bd_rates(points, clean, np.full(IMAGES, 784), "ijg", rounds=200)
    assert row["low"] < row["bd_rate"] < row["high"]
    assert row["high"] - row["low"] > 0.02  # 10 % of the answers flipped at random: a wide interval


def test_points_without_per_image_records_are_skipped_and_rounds_checked():
    rng = np.random.default_rng(3)
    points = _points("ijg", 1.0, rng) + [dict(p, per_image_payload=None) for p in _points("old", 0.5, rng)]
    clean = {"m": np.ones(IMAGES, dtype=bool)}
    assert bootstrap_bd_rates(points, clean, 784, "ijg", rounds=5) == []
    with pytest.raises(ValueError, match="rounds"):
        bootstrap_bd_rates(points, clean, 784, "ijg", rounds=0)

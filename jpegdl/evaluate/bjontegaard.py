"""Bjontegaard metrics for rate-accuracy curves: BD-rate at equal accuracy, BD-accuracy at equal rate.

Curves are lists of ``(bpp, accuracy)`` points. Accuracy is made monotone in rate (running
maximum, points that add no accuracy dropped), then interpolated with piecewise-cubic Hermite
(PCHIP) polynomials: ``ln(bpp)`` as a function of accuracy for BD-rate, accuracy as a function
of ``ln(bpp)`` for BD-accuracy; the difference is averaged over the overlapping interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

SAMPLES = 2001


def monotone(points: Sequence[tuple[float, float]], ceiling: float | None = None) -> np.ndarray:
    """``(n, 2)`` array of ``(bpp, accuracy)`` sorted by rate with strictly increasing accuracy.

    Points above ``ceiling`` (the saturated region near the uncompressed accuracy) are dropped.
    """
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if array.size and (not np.isfinite(array).all() or (array[:, 0] <= 0).any()):
        raise ValueError("points: expected finite (bpp > 0, accuracy) pairs")
    if ceiling is not None:
        array = array[array[:, 1] <= ceiling]
    array = array[np.argsort(array[:, 0], kind="stable")]
    kept, best = [], -np.inf
    for rate, acc in array:
        if acc > best:
            if kept and kept[-1][0] == rate:  # same rate, more accuracy: one point per rate (the interpolants
                kept.pop()  # need strictly increasing rates)
            kept.append((rate, acc))
            best = acc
    return np.asarray(kept, dtype=np.float64).reshape(-1, 2)


def _interpolant(x: np.ndarray, y: np.ndarray) -> PchipInterpolator:
    return PchipInterpolator(x, y, extrapolate=False)


def _integral(values: np.ndarray, grid: np.ndarray) -> float:
    """Trapezoidal integral (numpy 1.x has no ``trapezoid``)."""
    return float(np.sum((values[1:] + values[:-1]) * np.diff(grid)) / 2)


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    low, high = max(a.min(), b.min()), min(a.max(), b.max())
    return (low, high) if high > low else None


def bd_rate(reference: Sequence, test: Sequence, ceiling: float | None = None) -> dict | None:
    """Average relative rate difference of ``test`` against ``reference`` at equal accuracy.

    Returns ``{"bd_rate": fraction (negative = test saves bits), "interval": [acc_lo, acc_hi]}``,
    or ``None`` when the curves (after :func:`monotone`) share no accuracy interval.
    """
    ref, tst = monotone(reference, ceiling), monotone(test, ceiling)
    if len(ref) < 2 or len(tst) < 2:
        return None
    interval = _overlap(ref[:, 1], tst[:, 1])
    if interval is None:
        return None
    grid = np.linspace(*interval, SAMPLES)
    log_ref = _interpolant(ref[:, 1], np.log(ref[:, 0]))(grid)
    log_tst = _interpolant(tst[:, 1], np.log(tst[:, 0]))(grid)
    mean_difference = _integral(log_tst - log_ref, grid) / (interval[1] - interval[0])
    return {"bd_rate": float(np.expm1(mean_difference)), "interval": [float(interval[0]), float(interval[1])]}


def bd_accuracy(reference: Sequence, test: Sequence, ceiling: float | None = None) -> dict | None:
    """Average accuracy difference of ``test`` minus ``reference`` at equal ``ln(bpp)``.

    Returns ``{"bd_accuracy": difference in accuracy units, "interval": [bpp_lo, bpp_hi]}`` or ``None``.
    """
    ref, tst = monotone(reference, ceiling), monotone(test, ceiling)
    if len(ref) < 2 or len(tst) < 2:
        return None
    interval = _overlap(np.log(ref[:, 0]), np.log(tst[:, 0]))
    if interval is None:
        return None
    grid = np.linspace(*interval, SAMPLES)
    acc_ref = _interpolant(np.log(ref[:, 0]), ref[:, 1])(grid)
    acc_tst = _interpolant(np.log(tst[:, 0]), tst[:, 1])(grid)
    mean_difference = _integral(acc_tst - acc_ref, grid) / (interval[1] - interval[0])
    return {"bd_accuracy": float(mean_difference), "interval": [float(np.exp(interval[0])), float(np.exp(interval[1]))]}


def rate_at_accuracy(points: Sequence, accuracy: float) -> float | None:
    """Interpolated bpp at which a curve reaches ``accuracy`` (``None`` outside its range)."""
    curve = monotone(points)
    if len(curve) < 2 or not curve[0, 1] <= accuracy <= curve[-1, 1]:
        return None
    return float(np.exp(_interpolant(curve[:, 1], np.log(curve[:, 0]))(accuracy)))


def accuracy_at_rate(points: Sequence, bpp: float) -> float | None:
    """Interpolated accuracy of a curve at ``bpp`` (``None`` outside its range)."""
    curve = monotone(points)
    if len(curve) < 2 or not curve[0, 0] <= bpp <= curve[-1, 0]:
        return None
    return float(_interpolant(np.log(curve[:, 0]), curve[:, 1])(np.log(bpp)))

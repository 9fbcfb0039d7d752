"""Helpers shared by the benchmark scripts: environment facts, JSON output, timing, PSNR."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def environment() -> dict:
    """Versions and machine facts recorded beside every result."""
    import jpeglib
    import PIL

    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pillow": PIL.__version__,
        "jpeglib": jpeglib.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    try:
        import kornia

        facts["kornia"] = kornia.__version__
    except ImportError:
        facts["kornia"] = None
    return facts


def write_results(name: str, payload: dict) -> Path:
    """Write ``results/NAME.json`` (with the environment) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"environment": environment(), **payload}, indent=1) + "\n")
    return path


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images (``inf`` when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def json_float(value: float) -> float | str:
    """JSON has no infinity: store it as the string ``"inf"``."""
    return "inf" if math.isinf(value) else round(value, 3)


def median_time(fn: Callable[[], object], repeats: int = 7, warmup: int = 2, sync: bool = False) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_interval(differences: list[float]) -> dict:
    """Mean, std and 95 % t-interval of paired differences (one per seed); ``significant`` when the
    interval excludes zero."""
    from scipy.stats import t

    n = len(differences)
    mean = sum(differences) / n
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "low": None, "high": None, "significant": False}
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    half = float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    return {"n": n, "mean": mean, "std": sd, "low": low, "high": high, "significant": bool(low > 0 or high < 0)}


def format_interval(entry: dict, scale: float = 100.0) -> str:
    """``+0.31 [+0.05, +0.57] *`` (``*``: significant) from :func:`paired_interval`, in points."""
    if entry["low"] is None:
        return f"{scale * entry['mean']:+.2f} (one seed)"
    mark = " *" if entry["significant"] else ""
    return f"{scale * entry['mean']:+.2f} [{scale * entry['low']:+.2f}, {scale * entry['high']:+.2f}]{mark}"

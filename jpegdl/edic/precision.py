"""Arithmetic of EDIC's reconstruction: float32, or bfloat16 where the CPU computes it natively.

Only the synthesis transform and the enhancement run in the chosen precision. The hyper-synthesis,
whose output builds the entropy-coding tables, always runs in float32: the tables are part of the
stream format, so the bitstream and the decoded latents are the same whatever the precision; only the
reconstructed pixels differ, by less than bfloat16's 8-bit mantissa in each layer (measured in
``benchmarks/edic_photos.py``: hundredths of a dB of PSNR, for about 3x less synthesis time on CPUs with
AVX512-BF16 or AMX).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def native_cpu_bfloat16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (AVX512-BF16 or AMX tiles): there, oneDNN's
    bfloat16 convolutions run faster than float32; elsewhere they are emulated and slower."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check is not None and check() for check in checks)


def resolve_precision(precision: str, device: torch.device | str) -> torch.dtype:
    """``precision`` (one of :data:`PRECISIONS`) -> the dtype the reconstruction runs in on ``device``.

    ``"auto"``: bfloat16 on a CPU with native bfloat16 (:func:`native_cpu_bfloat16`), float32 elsewhere
    (on GPUs the synthesis is not the bottleneck, and float32 keeps decodes identical across cards).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        on_cpu = torch.device(device).type == "cpu"
        return torch.bfloat16 if on_cpu and native_cpu_bfloat16() else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


@contextmanager
def reconstruction_precision(dtype: torch.dtype, device: torch.device | str) -> Iterator[None]:
    """Run the enclosed convolutions in ``dtype`` (autocast; nothing changes for float32)."""
    if dtype == torch.float32:
        yield
        return
    with torch.autocast(torch.device(device).type, dtype=dtype):
        yield

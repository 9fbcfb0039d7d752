"""Learnable quantization tables for J4D: log-parameterised steps kept inside [q_min, q_max]."""

from __future__ import annotations

import math

import torch
from torch import nn

from jpegdl.jpeg.quantize import SoftQuantizer
from jpegdl.jpeg.tables import QuantTables


class LearnableTables(nn.Module):
    """Luma and chroma steps ``q = exp(theta)``, clamped into ``step_range`` after every update.

    The log parameterisation makes one optimizer step a relative change of the step, so steps
    from 1 to 255 move at the same pace. The soft quantizer's hardness is dimensionless:
    ``alpha = hardness / q^2`` (scale-free in ``z / q``); with ``learn_hardness`` it is a
    learnable ``(8, 8)`` map per table (encoder-side only: it never reaches the decoder).

    Args:
        init: initial steps (any positive values; clamped into ``step_range``).
        hardness: initial dimensionless hardness ``h > 0``.
        step_range: ``(low, high)`` with ``1 <= low <= high <= 255`` (writable as baseline tables).
        learn_hardness: make the hardness trainable.
    """

    def __init__(
        self,
        init: QuantTables,
        hardness: float = 8.0,
        step_range: tuple[float, float] = (1.0, 255.0),
        learn_hardness: bool = False,
    ) -> None:
        super().__init__()
        low, high = step_range
        if not 1 <= low <= high <= 255:
            raise ValueError(f"step_range: expected 1 <= low <= high <= 255, got {step_range}")
        if not hardness > 0 or not math.isfinite(hardness):
            raise ValueError(f"hardness: expected a finite value > 0, got {hardness!r}")
        if init.luma.dim() != 2:
            raise ValueError("init: expected one (8, 8) luma and chroma table, not per-sample tables")
        self.step_range = (float(low), float(high))
        steps = torch.stack([init.luma, init.chroma]).to(torch.float32).clamp(low, high)
        self.log_steps = nn.Parameter(steps.log())
        log_hardness = torch.full((2, 8, 8), math.log(hardness))
        if learn_hardness:
            self.log_hardness = nn.Parameter(log_hardness)
        else:
            self.register_buffer("log_hardness", log_hardness)

    def tables(self) -> QuantTables:
        """Current float steps (differentiable)."""
        steps = self.log_steps.exp()
        return QuantTables(steps[0], steps[1])

    def hardness(self) -> torch.Tensor:
        """``(2, 8, 8)`` dimensionless hardness (luma, chroma)."""
        return self.log_hardness.exp()

    def quantizers(self, num_components: int, window: int = 5) -> list[SoftQuantizer]:
        """One soft quantizer per component with ``alpha = hardness / q^2`` (differentiable)."""
        alpha = self.hardness() / self.log_steps.exp().square()
        return [SoftQuantizer(alpha=alpha[min(i, 1)], window=window) for i in range(num_components)]

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project the steps back into ``step_range``."""
        low, high = self.step_range
        self.log_steps.clamp_(math.log(low), math.log(high))
        if isinstance(self.log_hardness, nn.Parameter):
            self.log_hardness.clamp_(math.log(1e-2), math.log(1e3))

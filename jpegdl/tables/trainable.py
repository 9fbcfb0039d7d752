"""Trainable quantization tables, shared by the JPEG-DL layer and J4D.

One parameterisation: every step is ``q = exp(theta)``, so one optimiser step is a relative
change and steps from 1 to 255 move at the same pace; after each update the steps are clamped
into ``step_range``. One hardness rule: a dimensionless hardness ``h`` gives the soft
quantizer's ``alpha = h / q^2`` (scale-free in ``z / q``), differentiable in ``q``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from jpegdl.jpeg.tables import QuantTables


def alpha_from_hardness(hardness: float | torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """``alpha = hardness / q^2``: the soft quantizer's hardness on the coefficient scale.

    Args:
        hardness: dimensionless ``h > 0`` (a float or a tensor broadcasting to ``steps``).
        steps: positive steps ``q`` of any shape (the gradient flows into them).
    """
    return hardness / steps.square()


class TrainableTables(nn.Module):
    """``rounds`` pairs of (luma, chroma) 8x8 steps, trained in log space.

    Args:
        init: initial steps (one ``(8, 8)`` luma and chroma table; any positive values, clamped
            into ``step_range``); every round starts from them.
        rounds: number of table pairs (JPEG-DL's multi-round variant; 1 otherwise).
        chroma: train a chroma table (RGB); ``False`` (grayscale) trains the luma table alone and
            reports it as chroma too.
        step_range: ``(low, high)`` with ``0 < low <= high``; ``(1, 255)`` keeps the steps writable
            in a baseline JPEG file.

    The parameter ``log_steps`` is ``(rounds, 2 or 1, 8, 8)`` float32; ``initial_log_steps`` (a buffer)
    keeps the start, so :meth:`movement` tells how far training moved the tables.
    """

    def __init__(
        self, init: QuantTables, rounds: int = 1, step_range: tuple[float, float] = (1.0, 255.0), chroma: bool = True
    ) -> None:
        super().__init__()
        if not isinstance(init, QuantTables) or init.luma.dim() != 2:
            raise ValueError("init: expected QuantTables with one (8, 8) luma and chroma table")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds: expected an integer >= 1, got {rounds!r}")
        low, high = (float(v) for v in step_range)
        if not (math.isfinite(high) and 0 < low <= high):
            raise ValueError(f"step_range: expected finite 0 < low <= high, got {step_range}")
        self.step_range = (low, high)
        start = torch.stack([init.luma, init.chroma] if chroma else [init.luma]).to(torch.float32)
        start = start.clamp(low, high).log()
        self.log_steps = nn.Parameter(start.expand(rounds, *start.shape).clone())
        self.register_buffer("initial_log_steps", self.log_steps.detach().clone())

    @property
    def rounds(self) -> int:
        return self.log_steps.shape[0]

    def steps(self) -> torch.Tensor:
        """``(rounds, 2, 8, 8)`` float steps (differentiable; grayscale: the luma table twice)."""
        steps = self.log_steps.exp()
        return steps if steps.shape[1] == 2 else steps.expand(-1, 2, 8, 8)

    def tables(self, round_index: int = -1) -> QuantTables:
        """The float steps of one round as ``QuantTables`` (differentiable)."""
        steps = self.steps()[round_index]
        return QuantTables(steps[0], steps[1])

    def rounded(self, round_index: int = -1) -> QuantTables:
        """One round's steps rounded into integers 1..255: what a real file stores."""
        return self.tables(round_index).rounded()

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project the steps back into ``step_range`` (call after every optimiser step)."""
        low, high = self.step_range
        self.log_steps.clamp_(math.log(low), math.log(high))

    @torch.no_grad()
    def movement(self) -> dict[str, float]:
        """How far the steps moved from their start: the mean and max ``|log(q / q0)|``, and the
        fraction of entries whose rounded integer step changed."""
        change = (self.log_steps - self.initial_log_steps).abs()
        rounded_now = self.log_steps.exp().round().clamp(1, 255)
        rounded_then = self.initial_log_steps.exp().round().clamp(1, 255)
        return {
            "mean_abs_log_ratio": float(change.mean()),
            "max_abs_log_ratio": float(change.max()),
            "rounded_changed_fraction": float((rounded_now != rounded_then).float().mean()),
        }

    def extra_repr(self) -> str:
        return f"rounds={self.rounds}, step_range={self.step_range}"

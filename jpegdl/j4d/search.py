"""Coordinate-descent search over integer steps on the exact J4D objective.

One frequency of one table at a time. Candidate steps form a log-spaced integer grid from
``q / 4`` to ``4 q`` (within 1..255). Each candidate's change of the objective is first
*predicted*, cheaply and for the whole grid at once: the rate term exactly (entropy of that
frequency's hard indices), the task term to second order from per-image gradients at the
current tables (``g . delta + s_m delta^2 / 2``, refreshed every sweep). The best
prediction (:data:`MEASURED`) is then *measured* exactly, batched: real rounding, the real decoder, the frozen
models' loss on the images whose dequantized values change. A step is accepted only when the
measured objective decreases. Frequencies are visited in zigzag order, luma then chroma.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from jpegdl.j4d.objective import (
    CHUNK,
    CachedSet,
    bpp_of,
    component_tables,
    dc_differences,
    entropy_bits_of,
    frequency_bits,
    hard_indices,
    image_losses,
    luma_mcu,
    per_image_task_loss,
    table_steps,
)
from jpegdl.jpeg.codec import synthesize
from jpegdl.jpeg.tables import ZIGZAG_TO_NATURAL, QuantTables

GRID_RANGE = 4.0
GRID_POINTS = 33
MEASURED = 1


@dataclass
class _State:
    """Current tables and everything the search needs to score one change."""

    steps: torch.Tensor  # (2, 8, 8) float64 integers
    indices: list[torch.Tensor]  # per component (N, r, c, 8, 8)
    losses: torch.Tensor  # (N,) per-image task loss
    bits: list[torch.Tensor]  # per component (8, 8) bits per block
    gradients: list[torch.Tensor] = field(default_factory=list)  # per component dL_i/d(dequantized)
    curvature: list[torch.Tensor] = field(default_factory=list)  # per component (8, 8) mean squared gradient
    history: list[dict] = field(default_factory=list)


def _bits_of_frequency(indices: torch.Tensor, row: int, col: int, mcu: int) -> torch.Tensor:
    """Bits per block of frequency (row, col) for candidate indices ``(K, N, r, c)`` -> ``(K,)``."""
    if row == 0 and col == 0:
        return entropy_bits_of(dc_differences(indices, mcu))
    return entropy_bits_of(indices.flatten(1))


class CoordinateSearch:
    """Exact per-frequency search for one lambda on a cached learning set."""

    def __init__(self, models: Sequence[nn.Module], cached: CachedSet, lam: float, loss: str = "ce") -> None:
        self.models, self.cached, self.lam, self.loss = list(models), cached, lam, loss
        self.blocks = [c[0, ..., 0, 0].numel() for c in cached.coefficients]
        self.evaluations = 0
        self.skip_hopeless = True

    def start(self, tables: QuantTables) -> _State:
        tables = tables.rounded()
        steps = torch.stack([tables.luma, tables.chroma]).double()
        z = self.cached.coefficients
        q = [table_steps(t, z[0]) for t in component_tables(QuantTables(steps[0], steps[1]), len(z))]
        indices = [hard_indices(c, s) for c, s in zip(z, q, strict=True)]
        index = torch.arange(len(self.cached), device=z[0].device)
        losses = image_losses(self.models, tuple(i * s for i, s in zip(indices, q, strict=True)), self.cached, index,
                              self.loss)  # fmt: skip
        bits = [frequency_bits(i, luma_mcu(self.cached) if c == 0 else 1) for c, i in enumerate(indices)]
        return _State(steps, indices, losses, bits)

    def objective(self, state: _State) -> dict:
        task = float(state.losses.mean())
        bpp = bpp_of(self.cached, state.bits)
        return {"objective": task + self.lam * bpp, "task": task, "bpp": bpp}

    def _components(self, table: int) -> list[int]:
        return [0] if table == 0 else list(range(1, len(self.cached.coefficients)))

    @torch.no_grad()
    def _score(self, state: _State, table: int, row: int, col: int,
               candidates: list[int]) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:  # fmt: skip
        """Measured change of the objective ``(K,)`` for each candidate step of frequency (row, col) of ``table``,
        and per candidate the images whose loss changed with their new losses."""
        comps = self._components(table)
        z = self.cached.coefficients
        count = len(self.cached)
        current = float(state.steps[table, row, col])
        q = torch.tensor(candidates, dtype=torch.float64, device=z[0].device)
        rate_change = torch.zeros(len(candidates), dtype=torch.float64, device=z[0].device)
        new_indices, changed = [], torch.zeros(len(candidates), count, dtype=torch.bool, device=z[0].device)
        for c in comps:
            coefficient = z[c][..., row, col]  # (N, r, cc)
            idx = hard_indices(coefficient.unsqueeze(0), q.view(-1, 1, 1, 1))  # (K, N, r, cc)
            new_indices.append(idx)
            mcu = luma_mcu(self.cached) if c == 0 else 1
            bits = _bits_of_frequency(idx, row, col, mcu)
            rate_change += (bits - state.bits[c][row, col]) * self.blocks[c] / self.cached.pixels
            old = state.indices[c][..., row, col] * current
            changed |= (idx * q.view(-1, 1, 1, 1) != old.unsqueeze(0)).flatten(2).any(2)
        task_change = torch.zeros(len(candidates), dtype=torch.float64, device=z[0].device)
        which, images = changed.nonzero(as_tuple=True)
        new_losses = [(images[:0], state.losses[:0])] * len(candidates)
        if images.numel():
            dequantized = []
            for c in range(len(z)):
                step = table_steps(state.steps[0 if c == 0 else 1], z[0])
                values = (state.indices[c][images] * step).clone()
                if c in comps:
                    values[..., row, col] = new_indices[comps.index(c)][which, images] * q[which].view(-1, 1, 1)
                dequantized.append(values)
            losses = image_losses(self.models, tuple(dequantized), self.cached, images, self.loss)
            self.evaluations += images.numel()
            task_change.index_add_(0, which, losses - state.losses[images])
            new_losses = [(images[which == k], losses[which == k]) for k in range(len(candidates))]
        return task_change / count + self.lam * rate_change, new_losses

    def _accept(self, state: _State, table: int, row: int, col: int, step: int,
                new_losses: tuple[torch.Tensor, torch.Tensor]) -> None:  # fmt: skip
        """Take ``step``; images outside ``new_losses`` decode exactly as before, so their losses stand."""
        z = self.cached.coefficients
        state.steps[table, row, col] = step
        q = torch.tensor([float(step)], dtype=torch.float64, device=z[0].device)
        for c in self._components(table):
            idx = hard_indices(z[c][..., row, col], q)
            state.indices[c][..., row, col] = idx
            state.bits[c][row, col] = _bits_of_frequency(idx.unsqueeze(0), row, col,
                                                         luma_mcu(self.cached) if c == 0 else 1)[0]  # fmt: skip
        images, losses = new_losses
        state.losses[images] = losses

    def refresh_gradients(self, state: _State) -> None:
        """Per-image gradients of the task loss w.r.t. the dequantized coefficients at the current tables."""
        z = self.cached.coefficients
        grads = [torch.zeros_like(c) for c in z]
        for start in range(0, len(self.cached), CHUNK):
            index = torch.arange(start, min(start + CHUNK, len(self.cached)), device=z[0].device)
            parts = [(state.indices[c][index] * table_steps(state.steps[0 if c == 0 else 1], z[0])).float()
                     .requires_grad_() for c in range(len(z))]  # fmt: skip
            with torch.enable_grad():
                images = synthesize(tuple(parts), self.cached.size, self.cached.subsampling, exact=False)
                total = 0
                for m, model in enumerate(self.models):
                    reference = None if self.cached.references is None else self.cached.references[m][index]
                    logits = model(images)
                    total = total + per_image_task_loss(logits, self.cached.labels[index], reference, self.loss).sum()
                found = torch.autograd.grad(total / len(self.models), parts)
            for c, g in enumerate(found):
                grads[c][index] = g.double()
        state.gradients = grads
        state.curvature = [g.square().mean(dim=(0, 1, 2)) for g in grads]

    def _grid(self, current: int) -> list[int]:
        low, high = max(1.0, current / GRID_RANGE), min(255.0, current * GRID_RANGE)
        values = {round(low * (high / low) ** (i / (GRID_POINTS - 1))) for i in range(GRID_POINTS)}
        values |= {current - 1, current + 1}
        return sorted(v for v in values if 1 <= v <= 255 and v != current)

    @torch.no_grad()
    def _predict(self, state: _State, table: int, row: int, col: int, candidates: list[int]) -> torch.Tensor:
        """Predicted change of the objective ``(K,)``: exact rate, second-order task term."""
        z = self.cached.coefficients
        q = torch.tensor(candidates, dtype=torch.float64, device=z[0].device).view(-1, 1, 1, 1)
        current = float(state.steps[table, row, col])
        change = torch.zeros(len(candidates), dtype=torch.float64, device=z[0].device)
        for c in self._components(table):
            idx = hard_indices(z[c][..., row, col].unsqueeze(0), q)
            delta = idx * q - (state.indices[c][..., row, col] * current).unsqueeze(0)
            gradient = state.gradients[c][..., row, col].unsqueeze(0)
            task = (gradient * delta + 0.5 * state.curvature[c][row, col] * delta.square()).flatten(1).sum(1)
            bits = _bits_of_frequency(idx, row, col, luma_mcu(self.cached) if c == 0 else 1)
            change += task / len(self.cached)
            change += self.lam * (bits - state.bits[c][row, col]) * self.blocks[c] / self.cached.pixels
        return change

    def improve_frequency(self, state: _State, table: int, row: int, col: int) -> bool:
        """Predict the whole grid, measure the best few exactly, keep the best if it lowers the objective."""
        current = int(state.steps[table, row, col])
        grid = self._grid(current)
        if not grid:
            return False
        predicted = self._predict(state, table, row, col, grid)
        order = predicted.argsort()[:MEASURED]
        if self.skip_hopeless and predicted[order[0]] >= 0:
            return False  # no candidate is predicted to help: not worth measuring
        chosen = [grid[i] for i in order.tolist()]
        measured, new_losses = self._score(state, table, row, col, chosen)
        best = int(measured.argmin())
        if measured[best] >= -1e-12:
            return False
        self._accept(state, table, row, col, chosen[best], new_losses[best])
        return True

    def sweep(self, state: _State, progress: bool = False, desc: str = "search") -> int:
        """One pass over every frequency (zigzag order) of every table in use; returns the number of changes."""
        tables = [0] if self.cached.channels == 1 else [0, 1]
        order = [(t, int(n) // 8, int(n) % 8) for t in tables for n in ZIGZAG_TO_NATURAL]
        changes = 0
        self.refresh_gradients(state)
        for table, row, col in tqdm(order, desc=desc, leave=False, disable=not progress):
            changes += self.improve_frequency(state, table, row, col)
        return changes

    @staticmethod
    def tables_of(state: _State) -> QuantTables:
        return QuantTables(state.steps[0].long(), state.steps[1].long())

"""Gradient learning of J4D tables with estimators that agree in sign with the hard objective.

- Task: the forward pass adds uniform noise ``q * u``, ``u ~ U(-1/2, 1/2)``, to the coefficients
  (the rounding error's high-rate model). Its step gradient ``E[dL/dy * u]`` is the curvature
  term ``~ s_m q_m / 12 > 0``: coarser steps raise the loss, as finite differences of the hard
  loss say. (Straight-through rounding gives ``round(z/q) - z/q`` instead, which for indices
  rounded to 0 says the opposite: the sign error the old learner had.)
- Rate: the slope of each frequency's hard-index entropy with respect to ``log q``, a secant
  over ``q / r .. q * r`` on the batch (``r = 1.2``). It is exact in sign, and zero where all
  indices collapse to one value, where the soft PMF's DC-difference entropy swung between -10 and +8.
- Adam on log steps with a cosine-decaying learning rate; every ``eval_every`` steps the
  rounded tables are scored on the held-out set with the exact objective and the best is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from tqdm import tqdm

from jpegdl.j4d.objective import (
    CachedSet,
    Evaluation,
    evaluate,
    frequency_bits,
    hard_indices,
    luma_mcu,
    per_image_task_loss,
    table_steps,
)
from jpegdl.jpeg.codec import synthesize
from jpegdl.jpeg.tables import QuantTables
from jpegdl.tables.trainable import TrainableTables

SECANT_RATIO = 1.2


@torch.no_grad()
def rate_slopes(cached: CachedSet, steps: torch.Tensor, ratio: float = SECANT_RATIO) -> torch.Tensor:
    """d bpp / d log q per table and frequency ``(2, 8, 8)`` by a secant of the hard entropy.

    Args:
        steps: ``(2, 8, 8)`` float steps (luma, chroma).
    """
    slopes = torch.zeros(2, 8, 8, dtype=torch.float64, device=cached.labels.device)
    for c, z in enumerate(cached.coefficients):
        table = 0 if c == 0 else 1
        mcu = luma_mcu(cached) if c == 0 else 1
        up = frequency_bits(hard_indices(z, table_steps(steps[table] * ratio, z)), mcu)
        down = frequency_bits(hard_indices(z, table_steps(steps[table] / ratio, z)), mcu)
        blocks = z[0, ..., 0, 0].numel()
        slopes[table] += (up - down) / (2 * math.log(ratio)) * blocks / cached.pixels
    return slopes


def noisy_task_loss(models: Sequence[nn.Module], cached: CachedSet, index: torch.Tensor, steps: torch.Tensor,
                    generator: torch.Generator, loss: str = "ce") -> torch.Tensor:  # fmt: skip
    """Mean task loss with uniform-noise quantization (differentiable in ``steps`` ``(2, 8, 8)``)."""
    noisy = []
    for c, z in enumerate(cached.coefficients):
        part = z[index].float()
        q = steps[0 if c == 0 else 1].view(1, 1, 1, 8, 8)
        noise = torch.rand(part.shape, generator=generator, device=part.device) - 0.5
        noisy.append(part + q * noise)
    images = synthesize(tuple(noisy), cached.size, cached.subsampling, exact=False)
    labels = cached.labels[index]
    total = 0
    for m, model in enumerate(models):
        reference = None if cached.references is None else cached.references[m][index]
        total = total + per_image_task_loss(model(images), labels, reference, loss).mean()
    return total / len(models)


def gradient_descent(
    models: Sequence[nn.Module],
    learn: CachedSet,
    held: CachedSet,
    lam: float,
    init: QuantTables,
    loss: str = "ce",
    steps: int = 200,
    batch_size: int = 256,
    lr: float = 0.03,
    eval_every: int = 25,
    seed: int = 0,
    progress: bool = False,
) -> tuple[QuantTables, Evaluation, list[dict]]:
    """Adam on log steps; returns the rounded tables with the best held-out objective (``init`` included)."""
    params = TrainableTables(init.to(dtype=torch.float32), step_range=(1.0, 255.0)).to(learn.labels.device)
    log_steps = params.log_steps  # (1, 2, 8, 8): one round of (luma, chroma) log steps
    optimizer = torch.optim.Adam([log_steps], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator(device=learn.labels.device).manual_seed(seed)
    best_tables = init.rounded()
    best = evaluate(models, held, best_tables, lam, loss)
    history = [{"step": 0, "held_out": best.to_dict()}]
    for step in tqdm(range(1, steps + 1), desc=f"gradient lambda {lam:g}", leave=False, disable=not progress):
        index = torch.randint(len(learn), (min(batch_size, len(learn)),), generator=generator,
                              device=learn.labels.device)  # fmt: skip
        current = log_steps[0].exp()
        task = noisy_task_loss(models, learn, index, current, generator, loss)
        slopes = rate_slopes(learn.subset(index), current.detach().double()).float()
        rate_surrogate = (slopes * log_steps[0]).sum()  # gradient = d bpp / d log q
        optimizer.zero_grad(set_to_none=True)
        (task + lam * rate_surrogate).backward()
        optimizer.step()
        schedule.step()
        params.clamp_()
        if step % eval_every == 0 or step == steps:
            tables = params.rounded()
            score = evaluate(models, held, tables, lam, loss)
            history.append({"step": step, "held_out": score.to_dict(), "noisy_task": float(task.detach())})
            if score.objective < best.objective:
                best, best_tables = score, tables
    return best_tables, best, history

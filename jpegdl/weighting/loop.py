"""A small, deterministic weighted training loop: LAW's search episodes, a final run with a policy,
and the benchmark's baselines all train through it, so they share data order, schedule and budget.

Schedule (the official LAW code's, scaled to any length): SGD with momentum, the learning rate x0.1
at 75 % and again at 87.5 % of the steps. The run is cut into ``num_stages`` equal stages of steps;
``on_stage_end(stage)`` is called after each. An optional ``reference`` model (LAW's duplicate
network) is trained on the same batches with uniform weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm import tqdm

from jpegdl.weighting.base import ExampleWeighting, UniformWeighting, weighted_mean

DECAY_AT = (0.75, 0.875)


@dataclass
class LoopSettings:
    """Optimisation of one run: SGD, batch size, epochs, and the seed of data order and augmentation."""

    epochs: int = 2
    batch_size: int = 100
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr: expected a value > 0, got {self.lr!r}")


def step_lr(base_lr: float, step: int, total_steps: int) -> float:
    """The learning rate at ``step``: ``base_lr``, x0.1 from 75 % of the run, x0.01 from 87.5 %."""
    return base_lr * 0.1 ** sum(step >= fraction * total_steps for fraction in DECAY_AT)


def epoch_batches(size: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """One epoch's shuffled index batches (the last may be short)."""
    order = torch.randperm(size, generator=generator).tolist()
    return [order[i:i + batch_size] for i in range(0, size, batch_size)]


def _sgd(model: nn.Module, settings: LoopSettings) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                           weight_decay=settings.weight_decay)  # fmt: skip


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy ``(B,)`` from logits ``(B, K)`` and int64 labels ``(B,)``."""
    return nn.functional.cross_entropy(logits, labels, reduction="none")


def _step(model, optimizer, images, labels, weighting, step, lr, criterion=cross_entropy):
    logits = model(images)
    losses = criterion(logits, labels)
    weights = weighting.weights(losses, logits, step, lr)
    loss = weighted_mean(losses, weights)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return losses.detach(), weights


def _batches(train_set: Dataset, batches: list[list[int]], workers: int):
    """The epoch's ``(images, labels)`` batches; a ``TensorDataset`` is sliced directly (no per-item collation)."""
    if isinstance(train_set, TensorDataset):
        images, labels = train_set.tensors[:2]
        return ((images[index], labels[index]) for index in map(torch.tensor, batches))
    return DataLoader(train_set, batch_sampler=batches, num_workers=workers)


def train_weighted(
    model: nn.Module,
    train_set: Dataset,
    weighting: ExampleWeighting,
    settings: LoopSettings,
    device: torch.device | str = "cpu",
    num_stages: int = 1,
    on_stage_end: Callable[[int], None] | None = None,
    reference: nn.Module | None = None,
    progress: bool = False,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict:
    """Train ``model`` (and ``reference``) in place on ``train_set`` (``(image, label)`` pairs).

    Data order and augmentation draw from generators seeded by ``settings.seed`` (the global torch
    generator is forked, so the caller's is untouched): two calls with the same seed see the same
    batches, whatever the weighting. ``criterion(logits, labels)`` gives the per-example losses ``(B,)``
    the weighting sees (cross-entropy by default; the reference always uses it too).
    ``on_epoch_end(epoch)`` is called after each epoch (0-based), the model still in training mode
    once it returns.

    Returns:
        ``{"train_loss": mean per-example loss of the last epoch, "last_epoch_weights": float ``(N,)``
        each example's weight in the last epoch divided by its batch's mean weight (NaN where unseen)}``.
    """
    device = torch.device(device)
    total_steps = settings.epochs * -(-len(train_set) // settings.batch_size)
    weighting.start(total_steps)
    order = torch.Generator().manual_seed(settings.seed)
    optimizer = _sgd(model, settings)
    reference_optimizer = _sgd(reference, settings) if reference is not None else None
    uniform = UniformWeighting()
    relative = torch.full((len(train_set),), float("nan"))
    model.train()
    if reference is not None:
        reference.train()
    step, loss_sum = 0, 0.0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(settings.seed)
        bar = tqdm(total=total_steps, desc="train", leave=False, disable=not progress, dynamic_ncols=True)
        for epoch in range(settings.epochs):
            batches = epoch_batches(len(train_set), settings.batch_size, order)
            loader = _batches(train_set, batches, settings.workers)
            loss_sum = 0.0
            for indices, (images, labels) in zip(batches, loader, strict=True):
                images, labels = images.to(device), labels.to(device)
                lr = step_lr(settings.lr, step, total_steps)
                for group in optimizer.param_groups + (reference_optimizer.param_groups if reference else []):
                    group["lr"] = lr
                losses, weights = _step(model, optimizer, images, labels, weighting, step, lr, criterion)
                if reference is not None:
                    _step(reference, reference_optimizer, images, labels, uniform, step, lr)
                loss_sum += float(losses.sum())
                if epoch == settings.epochs - 1:
                    mean = weights.mean().clamp_min(1e-12)
                    relative[torch.tensor(indices)] = (weights / mean).float().cpu()
                stage = min(num_stages - 1, step * num_stages // total_steps)
                next_stage = min(num_stages - 1, (step + 1) * num_stages // total_steps)
                step += 1
                bar.update()
                if on_stage_end is not None and (next_stage != stage or step == total_steps):
                    on_stage_end(stage)
            if on_epoch_end is not None:
                on_epoch_end(epoch)
                model.train()
        bar.close()
    return {"train_loss": loss_sum / len(train_set), "last_epoch_weights": relative}


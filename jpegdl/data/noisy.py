"""Noisy training labels for robustness experiments, and a validation split carved from the training set.

Two noise kinds, both deterministic for a given ``seed``:

- ``uniform``: with probability ``rate`` a label moves to one of the *other* K - 1 classes, chosen
  uniformly, so the expected share of flipped labels is exactly ``rate``. (LAW's official code mixes
  with the uniform distribution *including* the true class, which flips only ``rate * (1 - 1/K)``:
  its "0.4" is 36 % flips on ten classes.)
- ``pair``: with probability ``rate`` a label of class c moves to class (c + 1) mod K.

Only training labels are ever wrapped; test sets are not touched.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset, Subset

NOISE_KINDS = ("uniform", "pair")


def label_tensor(dataset: Dataset) -> torch.Tensor:
    """Every label of ``dataset`` as an int64 tensor ``(N,)``, without decoding images when the dataset
    keeps its labels apart (``labels`` / ``targets`` attributes, through ``Subset``s)."""
    if isinstance(dataset, Subset):
        return label_tensor(dataset.dataset)[torch.as_tensor(list(dataset.indices), dtype=torch.long)]
    for name in ("labels", "targets"):
        values = getattr(dataset, name, None)
        if values is not None:
            return torch.as_tensor(values, dtype=torch.long).clone()
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))], dtype=torch.long)


def check_noise(rate: float, kind: str) -> None:
    """Raise ``ValueError`` unless ``0 <= rate < 1`` and ``kind`` is one of :data:`NOISE_KINDS`."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ValueError(f"label_noise: expected a rate in [0, 1), got {rate!r}")
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise_kind: expected one of {NOISE_KINDS}, got {kind!r}")


def corrupt_labels(
    labels: torch.Tensor, num_classes: int, rate: float, kind: str = "uniform", seed: int = 0
) -> torch.Tensor:
    """Noisy copy of ``labels`` (int64 ``(N,)`` in ``[0, num_classes)``); the same inputs give the same output.

    Raises:
        ValueError: ``rate`` outside [0, 1), an unknown ``kind``, ``num_classes < 2`` or labels out of range.
    """
    check_noise(rate, kind)
    if num_classes < 2:
        raise ValueError(f"num_classes: label noise needs at least 2 classes, got {num_classes}")
    labels = torch.as_tensor(labels, dtype=torch.long)
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels: expected values in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    generator = torch.Generator().manual_seed(seed)
    flip = torch.rand(labels.shape, generator=generator) < rate
    if kind == "uniform":
        shift = torch.randint(1, num_classes, labels.shape, generator=generator)
    else:
        shift = torch.ones_like(labels)
    return torch.where(flip, (labels + shift) % num_classes, labels)


class NoisyLabels(Dataset):
    """``dataset`` with corrupted labels: yields ``(image, noisy_label)``.

    Attributes:
        labels: the noisy labels, int64 ``(N,)`` (what training sees).
        clean_labels: the original labels, int64 ``(N,)``.
        flipped: bool ``(N,)``, True where the label was changed.
    """

    def __init__(self, dataset: Dataset, num_classes: int, rate: float, kind: str = "uniform", seed: int = 0) -> None:
        self.dataset = dataset
        self.clean_labels = label_tensor(dataset)
        self.labels = corrupt_labels(self.clean_labels, num_classes, rate, kind, seed)
        self.flipped = self.labels != self.clean_labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, _ = self.dataset[index]
        return image, int(self.labels[index])


def train_val_indices(size: int, val_size: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """A seeded random split of ``range(size)`` into (training indices, ``val_size`` validation indices).

    Raises:
        ValueError: ``val_size`` not in ``[1, size)``.
    """
    if not 1 <= val_size < size:
        raise ValueError(f"val_size: expected 1 <= val_size < {size} (the training set's size), got {val_size}")
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[val_size:]), sorted(order[:val_size])

"""CCKD's class-uniform batches: every batch holds ``per_class`` images of each class it draws.

Correlation congruence needs pairs of same-class images inside a batch; with a uniform sampler
and many classes they are rare (the CCKD paper's CUR sampler).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Dataset, Subset


def dataset_labels(dataset: Dataset) -> list[int]:
    """Every label of ``dataset`` without decoding images where the dataset keeps them apart."""
    if isinstance(dataset, Subset):
        inner = dataset_labels(dataset.dataset)
        return [inner[i] for i in dataset.indices]
    for name in ("labels", "targets"):
        values = getattr(dataset, name, None)
        if values is not None:
            return [int(v) for v in values]
    return [int(dataset[i][1]) for i in range(len(dataset))]


class ClassUniformBatchSampler:
    """Batches of ``batch_size // per_class`` classes x ``per_class`` images each (CUR).

    Each epoch shuffles the images of every class, cuts them into groups of ``per_class``,
    shuffles the groups and packs them into batches; leftovers that do not fill a group or a
    batch are dropped. With DDP, rank ``r`` of ``world_size`` takes every ``world_size``-th
    batch (all ranks get the same count). Call ``set_epoch`` before each epoch.
    """

    def __init__(
        self, labels: Sequence[int], batch_size: int, per_class: int = 4, seed: int = 0, rank: int = 0,
        world_size: int = 1,
    ) -> None:  # fmt: skip
        if not isinstance(per_class, int) or per_class < 1:
            raise ValueError(f"per_class: expected an integer >= 1, got {per_class!r}")
        if batch_size % per_class or batch_size < per_class:
            raise ValueError(f"batch_size: expected a multiple of per_class={per_class}, got {batch_size}")
        self.labels = torch.as_tensor(list(labels))
        self.batch_size, self.per_class = batch_size, per_class
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        if len(self._batches()) < world_size:
            raise ValueError(
                f"per_class: {per_class} images per class leave fewer than {world_size} full batches of {batch_size}"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        groups = []
        for label in self.labels.unique().tolist():
            members = (self.labels == label).nonzero().flatten()
            members = members[torch.randperm(len(members), generator=generator)]
            usable = len(members) - len(members) % self.per_class
            groups += members[:usable].view(-1, self.per_class).tolist()
        order = torch.randperm(len(groups), generator=generator).tolist()
        flat = [i for g in order for i in groups[g]]
        count = len(flat) // self.batch_size
        return [flat[b * self.batch_size : (b + 1) * self.batch_size] for b in range(count)]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        usable = len(batches) - len(batches) % self.world_size
        return iter(batches[self.rank : usable : self.world_size])

    def __len__(self) -> int:
        return len(self._batches()) // self.world_size

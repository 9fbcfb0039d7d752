from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from jpegdl.distill import ClassUniformBatchSampler, dataset_labels

LABELS = [i % 10 for i in range(1000)] + [3] * 37


def test_every_batch_holds_groups_of_per_class_images_of_distinct_classes():
    sampler = ClassUniformBatchSampler(LABELS, batch_size=32, per_class=4, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 25
    for batch in batches:
        assert len(batch) == 32 and len(set(batch)) == 32
        counts = Counter(LABELS[i] for i in batch)
        assert all(c % 4 == 0 for c in counts.values())


def test_epochs_reshuffle_reproducibly():
    sampler = ClassUniformBatchSampler(LABELS, 32, 4, seed=1)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == first != second


def test_ranks_get_disjoint_batches_of_equal_count():
    ranks = [list(ClassUniformBatchSampler(LABELS, 32, 4, seed=2, rank=r, world_size=2)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1])
    assert not {i for b in ranks[0] for i in b} & {i for b in ranks[1] for i in b}


def test_labels_are_read_without_decoding_images():
    dataset = TensorDataset(torch.zeros(5, 1), torch.tensor([4, 3, 2, 1, 0]))
    assert dataset_labels(Subset(dataset, [4, 0])) == [0, 4]


@pytest.mark.parametrize("batch_size, per_class, message", [(30, 4, "batch_size"), (32, 0, "per_class"),
                                                             (2048, 4, "fewer than")])  # fmt: skip
def test_bad_settings_are_rejected(batch_size, per_class, message):
    with pytest.raises(ValueError, match=message):
        ClassUniformBatchSampler(LABELS, batch_size, per_class, world_size=1)

"""Label noise: deterministic, the documented kinds and rates, training labels only; the validation split."""

import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from jpegdl.data.noisy import NoisyLabels, corrupt_labels, train_val_indices


def _labels(size=20_000, classes=10):
    return torch.arange(size) % classes


def test_uniform_noise_is_reproducible_flips_the_given_share_to_other_classes():
    labels = _labels()
    noisy = corrupt_labels(labels, 10, 0.3, "uniform", seed=7)
    assert torch.equal(noisy, corrupt_labels(labels, 10, 0.3, "uniform", seed=7))
    assert not torch.equal(noisy, corrupt_labels(labels, 10, 0.3, "uniform", seed=8))
    flipped = noisy != labels
    assert flipped.float().mean().item() == pytest.approx(0.3, abs=0.01)
    # the new classes are spread over the nine others
    counts = torch.bincount((noisy[flipped] - labels[flipped]) % 10, minlength=10)
    assert counts[0] == 0 and counts[1:].min() > 0.8 * counts[1:].float().mean()
    assert torch.equal(corrupt_labels(labels, 10, 0.0, seed=7), labels)


def test_pair_noise_moves_labels_to_the_next_class():
    labels = _labels()
    noisy = corrupt_labels(labels, 10, 0.4, "pair", seed=0)
    flipped = noisy != labels
    assert torch.equal(noisy[flipped], (labels[flipped] + 1) % 10)
    assert flipped.float().mean().item() == pytest.approx(0.4, abs=0.01)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_noise_outside_0_1_is_refused(rate):
    with pytest.raises(ValueError, match=r"label_noise: expected a rate in \[0, 1\)"):
        corrupt_labels(_labels(100), 10, rate)


def test_unknown_kind_and_out_of_range_labels_are_refused():
    with pytest.raises(ValueError, match="noise_kind"):
        corrupt_labels(_labels(100), 10, 0.2, "asymmetric")
    with pytest.raises(ValueError, match="labels"):
        corrupt_labels(_labels(100), 5, 0.2)


def test_noisy_dataset_records_the_flips_and_serves_noisy_labels():
    images = torch.rand(200, 1, 4, 4)
    base = TensorDataset(images, _labels(200))
    base.labels = _labels(200)
    noisy = NoisyLabels(Subset(base, range(100, 200)), 10, 0.5, seed=3)
    assert torch.equal(noisy.clean_labels, _labels(200)[100:])
    assert torch.equal(noisy.flipped, noisy.labels != noisy.clean_labels) and noisy.flipped.any()
    image, label = noisy[5]
    assert torch.equal(image, images[105]) and label == int(noisy.labels[5])


def test_validation_split_is_seeded_and_disjoint():
    train, val = train_val_indices(100, 10, seed=1)
    assert (train, val) == train_val_indices(100, 10, seed=1)
    assert len(val) == 10 and sorted(train + val) == list(range(100))
    with pytest.raises(ValueError, match="val_size"):
        train_val_indices(100, 100)


def test_the_trainer_corrupts_training_labels_only(tmp_path):
    from jpegdl.data.fashion_mnist import find_root
    from jpegdl.runs import TrainConfig
    from jpegdl.train import Trainer

    if find_root(None) is None:
        pytest.skip("dataset-fashion-mnist not installed")
    config = TrainConfig(model="resnet8", limit_train=600, limit_test=300, out=str(tmp_path / "run"), label_noise=0.4,
                         noise_seed=5, weighting={"method": "law", "law_val_size": 100})  # fmt: skip
    trainer = Trainer(config)
    clean = Trainer(TrainConfig(model="resnet8", limit_train=600, limit_test=300, out=str(tmp_path / "clean")))
    test_labels = [int(trainer.test_set[i][1]) for i in range(300)]
    assert test_labels == [int(clean.test_set[i][1]) for i in range(300)]
    noisy = trainer.noisy
    assert noisy.flipped.float().mean().item() == pytest.approx(0.4, abs=0.07)
    assert torch.equal(noisy.labels, NoisyLabels(clean.train_set, 10, 0.4, seed=5).labels)
    # the reward's validation images: carved from the training set, with their clean labels, never trained on
    assert len(trainer.val_set) == 100 and len(trainer.train_set) == 500
    val_indices = trainer.val_set.indices
    assert not set(val_indices) & set(trainer.train_set.indices)
    assert [int(trainer.val_set[i][1]) for i in range(100)] == noisy.clean_labels[val_indices].tolist()

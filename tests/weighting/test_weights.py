"""Weights of every weighting: finite, non-negative, with the documented mean; the weighted loss."""

import math

import pytest
import torch
from torch import nn

from jpegdl.weighting import (
    LawWeighting,
    SmallLossWeighting,
    UniformWeighting,
    additive_tanh_weights,
    example_features,
    weighted_mean,
)


def _batch(size=64, classes=10, seed=0, scale=3.0):
    generator = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(size, classes, generator=generator)
    labels = torch.randint(0, classes, (size,), generator=generator)
    return logits, labels, nn.functional.cross_entropy(logits, labels, reduction="none")


def _check(weights, size):
    assert weights.shape == (size,) and weights.dtype == torch.float32
    assert torch.isfinite(weights).all() and (weights >= 0).all()


def test_uniform_weights_are_ones_and_the_weighted_loss_is_the_mean():
    logits, labels, losses = _batch()
    weighting = UniformWeighting()
    weighting.start(10)
    weights = weighting.weights(losses, logits, 0, 0.1)
    _check(weights, 64)
    assert weights.mean() == 1
    torch.testing.assert_close(weighted_mean(losses, weights), nn.functional.cross_entropy(logits, labels))


@pytest.mark.parametrize("step, share", [(0, 0.0), (25, 0.1), (50, 0.2), (99, 0.2)])
def test_small_loss_drops_the_largest_losses_with_the_documented_mean(step, share):
    logits, _, losses = _batch(size=50)
    weighting = SmallLossWeighting(drop=0.2, ramp=0.5)
    weighting.start(100)
    weights = weighting.weights(losses, logits, step, 0.1)
    _check(weights, 50)
    dropped = math.floor(share * 50)
    assert weights.mean().item() == pytest.approx(1 - dropped / 50)
    if dropped:
        assert losses[weights == 0].min() >= losses[weights == 1].max()


def test_law_weights_lie_in_0_2_and_are_exactly_uniform_for_a_zero_action():
    logits, _, losses = _batch(scale=30.0)
    features = example_features(losses, logits)
    assert features.shape == (64, 2) and torch.isfinite(features).all()
    assert features[:, 0].mean().abs() < 1e-5 and features[:, 0].std(unbiased=False) == pytest.approx(1, abs=1e-3)
    assert torch.equal(additive_tanh_weights(features, torch.zeros(3)), torch.ones(64))
    for action in (torch.tensor([5.0, -5.0, 2.0]), torch.tensor([-50.0, 50.0, -50.0])):
        weights = additive_tanh_weights(features, action)
        _check(weights, 64)
        assert (weights <= 2).all() and 0 <= weights.mean() <= 2
    # a negative loss coefficient gives large losses small weights
    weights = additive_tanh_weights(features, torch.tensor([-2.0, 0.0, 0.0]))
    assert weights[losses.argmax()] < weights[losses.argmin()]


def test_law_features_stay_finite_on_a_batch_of_equal_losses_and_one_example():
    logits = torch.zeros(8, 10)
    losses = torch.full((8,), 2.3)
    assert torch.equal(example_features(losses, logits), torch.zeros(8, 2))
    assert torch.isfinite(example_features(losses[:1], logits[:1])).all()


def test_law_weighting_warms_up_uniformly_and_asks_the_policy_once_per_stage():
    calls = []

    def policy(state):
        calls.append(state.clone())
        return torch.tensor([-1.0, 0.5, 0.1])

    weighting = LawWeighting(num_stages=4, warmup_stages=1, policy=policy)
    weighting.start(8)
    for step in range(8):
        logits, _, losses = _batch(seed=step)
        weights = weighting.weights(losses, logits, step, lr=0.05)
        _check(weights, 64)
        if step < 2:
            assert torch.equal(weights, torch.ones(64))
        else:
            assert not torch.equal(weights, torch.ones(64))
    assert [int(state[0]) for state in calls] == [1, 2, 3]
    assert calls[0][3] == pytest.approx(0.05) and calls[0][1] > 0 and calls[0][2] == pytest.approx(1.0)


def test_bad_actions_and_options_are_refused():
    logits, _, losses = _batch()
    with pytest.raises(ValueError, match="action"):
        additive_tanh_weights(example_features(losses, logits), torch.zeros(2))
    with pytest.raises(ValueError, match="action"):
        additive_tanh_weights(example_features(losses, logits), torch.tensor([0.0, float("nan"), 0.0]))
    with pytest.raises(ValueError, match="drop"):
        SmallLossWeighting(drop=1.0)
    with pytest.raises(ValueError, match="warmup"):
        LawWeighting(num_stages=2, warmup_stages=2)

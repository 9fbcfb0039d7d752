"""LAW's proxy search: pooled in-memory features, a search that resumes exactly, the loop's tensor fast
path, per-epoch hook and loss criterion, and additive exploration."""

import pytest
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from jpegdl.weighting import LoopSettings, SearchSettings, UniformWeighting, moving_average, train_weighted
from jpegdl.weighting.agent import DDPGAgent
from jpegdl.weighting.proxy import ProxySettings, pooled_features, proxy_search, tensor_subset


def _images(count: int, seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 1, 8, 8, generator=generator)
    labels = (images[:, 0, :4].mean((1, 2)) > images[:, 0, 4:].mean((1, 2))).long()
    return TensorDataset(images, labels)


AGENT = SearchSettings(episodes=3, num_stages=3, warmup_stages=1, actor_lr=1e-4, seed=1, full_passes=1,
                       explore="add", explore_prob=1.0, explore_scale=2.0)  # fmt: skip
SETTINGS = ProxySettings(size=120, hidden=8, epochs=2, batch_size=40, search=AGENT)


def test_pooled_features_and_tensor_subset():
    images = torch.arange(32.0).reshape(2, 1, 4, 4)
    pooled = pooled_features(images, 2)
    assert pooled.shape == (2, 4) and pooled[0, 0] == (0 + 1 + 4 + 5) / 4
    assert pooled_features(images, 1).shape == (2, 16)
    subset = tensor_subset(_images(10), [3, 1])
    assert subset.tensors[0].shape == (2, 1, 8, 8) and subset.tensors[1].dtype == torch.long
    assert torch.equal(subset.tensors[0][0], _images(10)[3][0])
    with pytest.raises(ValueError, match="indices"):
        tensor_subset(_images(10), [])


def test_proxy_settings_are_checked_and_the_loop_follows_the_proxy():
    assert SETTINGS.search.loop.epochs == 2 and SETTINGS.search.loop.batch_size == 40
    with pytest.raises(ValueError, match="pool"):
        ProxySettings(pool=0)
    with pytest.raises(ValueError, match="explore"):
        SearchSettings(explore="jump")
    with pytest.raises(ValueError, match="explore_scale"):
        SearchSettings(explore_scale=float("inf"))


def test_a_proxy_search_runs_and_resumes_exactly(tmp_path):
    train, val = _images(150, 0), _images(60, 1)
    whole = proxy_search(train, val, 2, SETTINGS, checkpoint=tmp_path / "a.pt", log=tmp_path / "a.csv")
    assert whole["done"] and len(whole["rewards"]) == 3
    assert all(row["cpu_seconds"] > 0 for row in whole["rows"])
    assert "confirmed_reward" in whole["policy"] and whole["policy"]["confirm_cpu_seconds"] > 0
    part = proxy_search(train, val, 2, SETTINGS, checkpoint=tmp_path / "b.pt", log=tmp_path / "b.csv", stop_after=1)
    assert not part["done"] and len(part["rewards"]) == 1
    resumed = proxy_search(train, val, 2, SETTINGS, checkpoint=tmp_path / "b.pt", log=tmp_path / "b.csv")
    assert resumed["rewards"] == whole["rewards"]
    assert resumed["policy"]["confirmed_reward"] == whole["policy"]["confirmed_reward"]
    for name, value in whole["policy"]["actor"].items():
        assert torch.equal(value, resumed["policy"]["actor"][name]), name
    with pytest.raises(ValueError, match="needs 120 images"):
        proxy_search(_images(50), val, 2, SETTINGS)


def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 2))


def test_the_tensor_fast_path_trains_exactly_like_the_data_loader():
    data = _images(100)
    settings = LoopSettings(epochs=2, batch_size=30, seed=4)
    fast, slow = _tiny_model(), _tiny_model()
    train_weighted(fast, data, UniformWeighting(), settings)
    train_weighted(slow, Subset(data, range(100)), UniformWeighting(), settings)
    for a, b in zip(fast.parameters(), slow.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_loop_calls_the_epoch_hook_and_uses_the_criterion():
    seen, epochs = [], []

    def criterion(logits, labels):
        losses = nn.functional.cross_entropy(logits, labels, reduction="none")
        seen.append(losses.shape[0])
        return 2 * losses

    model = _tiny_model()
    def epoch_end(epoch):
        epochs.append(epoch)
        model.eval()

    out = train_weighted(model, _images(60), UniformWeighting(), LoopSettings(epochs=3, batch_size=20),
                         criterion=criterion, on_epoch_end=epoch_end)  # fmt: skip
    assert epochs == [0, 1, 2] and seen == [20] * 9 and model.training
    assert out["train_loss"] > 0


def test_additive_exploration_adds_scaled_noise_to_the_action():
    state = torch.tensor([1.0, 1.2, 1.0, 0.05])
    moves = []
    for scale in (1.0, 3.0):
        agent = DDPGAgent(4, 3, seed=2, explore_prob=1.0, explore="add", explore_scale=scale)
        plain = agent.actor.act(state)
        moves.append(agent.explore(state) - plain)
    assert moves[0].norm() > 0 and torch.allclose(moves[1], 3 * moves[0], atol=1e-6)  # the norm is not kept
    with pytest.raises(ValueError, match="explore"):
        DDPGAgent(4, 3, explore="jump")


def test_moving_average():
    assert moving_average([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert moving_average([], 5) == []
    with pytest.raises(ValueError, match="window"):
        moving_average([1.0], 0)

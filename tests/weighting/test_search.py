"""LAW's reward, agent and policy search on a tiny model: DNR is zero under uniform weighting, a
2-episode search runs, resumes exactly, and its files load weights-only."""

import csv
import io

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from jpegdl.weighting import (
    LoopSettings,
    SearchSettings,
    duplicate_network_reward,
    load_policy,
    policy_weighting,
    search_policy,
    time_weight,
    train_weighted,
)
from jpegdl.weighting.agent import DDPGAgent
from jpegdl.weighting.search import run_episode


def _data():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(360, 1, 6, 6, generator=generator)
    labels = (images.mean((1, 2, 3)) > 0.5).long() + 2 * (images[:, 0, 0, 0] > 0.5).long()
    return TensorDataset(images[:300], labels[:300]), TensorDataset(images[300:], labels[300:])


def _model():
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))


SETTINGS = SearchSettings(episodes=2, num_stages=4, warmup_stages=1, loop=LoopSettings(epochs=2, batch_size=50),
                          actor_lr=1e-3, seed=3)  # fmt: skip


def test_reward_time_weighting_and_range():
    assert time_weight(3, 4) == pytest.approx(2.0)
    assert time_weight(0, 4) < time_weight(1, 4) < time_weight(3, 4)
    assert duplicate_network_reward(81.0, 80.0, 3, 4) == pytest.approx(0.2)
    assert duplicate_network_reward(55.5, 55.5, 2, 4) == 0
    with pytest.raises(ValueError, match="target_accuracy"):
        duplicate_network_reward(101.0, 50.0, 0, 4)


def test_dnr_reward_is_exactly_zero_when_the_policy_weights_uniformly():
    train, val = _data()
    agent = DDPGAgent(4, 3, seed=0)
    outcome = run_episode(agent, _model, train, DataLoader(val, batch_size=30), SETTINGS, 0, torch.device("cpu"),
                          policy=lambda state: torch.zeros(3))  # fmt: skip
    assert outcome["reward"] == 0.0
    assert outcome["target_val_acc"] == outcome["reference_val_acc"]
    assert len(agent.buffer) == 3 and torch.equal(agent.buffer.rewards, torch.zeros(3))


def test_exploration_turns_the_action_without_changing_its_norm():
    agent = DDPGAgent(4, 3, seed=1, explore_prob=1.0)
    state = torch.tensor([2.0, 1.5, 1.0, 0.05])
    plain = agent.actor.act(state)
    explored = agent.explore(state)
    assert not torch.equal(plain, explored)
    assert explored.norm().item() == pytest.approx(plain.norm().item(), rel=1e-5)
    assert agent.epsilon == pytest.approx(0.5 - 2e-4)


def test_a_two_episode_search_runs_and_an_interrupted_one_resumes_exactly(tmp_path):
    train, val = _data()
    whole = search_policy(_model, train, val, SETTINGS, checkpoint=tmp_path / "a.pt", log=tmp_path / "a.csv")
    assert whole["done"] and len(whole["rewards"]) == 2
    first = search_policy(_model, train, val, SETTINGS, checkpoint=tmp_path / "b.pt", log=tmp_path / "b.csv",
                          stop_after=1)  # fmt: skip
    assert not first["done"] and len(first["rewards"]) == 1
    resumed = search_policy(_model, train, val, SETTINGS, checkpoint=tmp_path / "b.pt", log=tmp_path / "b.csv")
    assert resumed["rewards"] == whole["rewards"]
    for name, value in whole["policy"]["actor"].items():
        assert torch.equal(value, resumed["policy"]["actor"][name]), name
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    for name in ("states", "actions", "rewards", "next_states", "done"):
        assert torch.equal(a["agent"]["buffer"][name], b["agent"]["buffer"][name])
    assert len(a["agent"]["buffer"]["rewards"]) == 2 * 3  # one transition per stage after the warm-up
    rows = list(csv.DictReader(io.StringIO((tmp_path / "b.csv").read_text())))
    assert [float(r["reward"]) for r in rows] == whole["rewards"]
    # a finished search returns at once; other settings are refused
    again = search_policy(_model, train, val, SETTINGS, checkpoint=tmp_path / "b.pt")
    assert again["rewards"] == whole["rewards"]
    other = SearchSettings(**{**SETTINGS.__dict__, "num_stages": 5})
    with pytest.raises(ValueError, match="other settings"):
        search_policy(_model, train, val, other, checkpoint=tmp_path / "b.pt")


def test_a_saved_policy_loads_weights_only_and_drives_a_run(tmp_path):
    from jpegdl.weighting import save_policy

    train, val = _data()
    result = search_policy(_model, train, val, SearchSettings(**{**SETTINGS.__dict__, "episodes": 1}))
    save_policy(result["policy"], tmp_path / "policy.pt")
    policy = load_policy(tmp_path / "policy.pt")
    weighting = policy_weighting(policy)
    out = train_weighted(_model(), train, weighting, LoopSettings(epochs=1, batch_size=50), num_stages=4)
    weights = out["last_epoch_weights"]
    assert torch.isfinite(weights).all() and (weights >= 0).all()
    assert weights.mean().item() == pytest.approx(1.0, abs=1e-5)  # relative to each batch's mean
    torch.save({"format": "something else"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="policy"):
        load_policy(tmp_path / "bad.pt")
    (tmp_path / "torn.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        load_policy(tmp_path / "torn.pt")


def test_a_finished_search_replays_its_policy_and_falls_back_to_uniform_when_it_loses(monkeypatch):
    import jpegdl.weighting.search as search_module

    train, val = _data()
    result = search_policy(_model, train, val, SETTINGS)
    replay = result["policy"]
    assert "confirmed_reward" in replay and replay["uniform"] == (not replay["confirmed_reward"] > 0)
    unconfirmed = search_policy(_model, train, val, SearchSettings(**{**SETTINGS.__dict__, "confirm": False}))
    assert "confirmed_reward" not in unconfirmed["policy"]
    loader = DataLoader(val, batch_size=30)
    for reward, uniform in ((-0.5, True), (0.0, True), (0.25, False)):
        monkeypatch.setattr(search_module, "run_episode", lambda *args, reward=reward, **kwargs: {
            "reward": reward, "target_val_acc": 50.0, "reference_val_acc": 50.0})  # fmt: skip
        confirmed = search_module.confirm_policy(result["policy"], _model, train, loader, SETTINGS,
                                                 torch.device("cpu"))  # fmt: skip
        assert confirmed["uniform"] is uniform and confirmed["confirmed_reward"] == reward
    fallback = policy_weighting(dict(confirmed, uniform=True))
    out = train_weighted(_model(), train, fallback, LoopSettings(epochs=1, batch_size=50), num_stages=4)
    assert torch.equal(out["last_epoch_weights"], torch.ones_like(out["last_epoch_weights"]))

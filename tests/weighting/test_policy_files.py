"""Saved LAW policies are read safely: stage counts are bounded and the actor's shapes checked before
any network is built; files that need code to load are refused."""

import time

import pytest
import torch

from jpegdl.weighting import load_policy, policy_weighting, save_policy
from jpegdl.weighting.agent import Actor
from jpegdl.weighting.search import MAX_STAGES, POLICY_FORMAT


def _policy(**changes):
    torch.manual_seed(0)
    policy = {"format": POLICY_FORMAT, "actor": Actor(4, 3).state_dict(), "num_stages": 4, "warmup_stages": 1,
              "episode": 0, "reward": 0.0, "uniform": False}  # fmt: skip
    return {**policy, **changes}


def test_a_saved_policy_loads_and_drives_a_weighting(tmp_path):
    path = save_policy(_policy(), tmp_path / "policy.pt")
    weighting = policy_weighting(load_policy(path))
    assert weighting.num_stages == 4 and weighting.warmup_stages == 1
    weighting.start(8)
    weights = weighting.weights(torch.rand(6), torch.randn(6, 3), 4, 0.05)
    assert weights.shape == (6,) and torch.isfinite(weights).all()


@pytest.mark.parametrize("changes, message", [
    ({"num_stages": 10**9}, "num_stages must be in"),
    ({"num_stages": 0}, "num_stages must be in"),
    ({"num_stages": 2.5}, "num_stages must be an integer"),
    ({"num_stages": True}, "num_stages must be an integer"),
    ({"warmup_stages": 4}, "warmup_stages must be in"),
    ({"actor": {"net.0.weight": torch.zeros(3, 3)}}, "does not match num_stages=4"),
    ({"actor": "not a dict"}, "actor must be a dict"),
    ({"format": "something else"}, "expected a 'jpegdl-law-policy-1' dict"),
])  # fmt: skip
def test_crafted_policies_are_refused_before_anything_is_built(changes, message):
    started = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        policy_weighting(_policy(**changes))
    assert time.perf_counter() - started < 5  # nothing of num_stages' size was allocated


def test_an_actor_sized_for_a_huge_stage_count_is_refused_by_shape():
    huge = dict(Actor(4, 3).state_dict())
    huge["encoder.embedding.weight"] = torch.zeros(MAX_STAGES + 11, 16)
    with pytest.raises(ValueError, match=r"encoder\.embedding\.weight"):
        policy_weighting(_policy(actor=huge))


def test_non_finite_actor_weights_are_refused():
    actor = dict(Actor(4, 3).state_dict())
    actor["net.0.bias"] = torch.full_like(actor["net.0.bias"], float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        policy_weighting(_policy(actor=actor))


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": POLICY_FORMAT, "payload": _Payload()}, path)
    with pytest.raises(ValueError, match=r"policy: .*evil\.pt"):
        load_policy(path)
    assert "must never run" not in capsys.readouterr().out
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_policy(tmp_path / "junk.pt")

"""Bad weighting and label-noise options: a clear ValueError, and from the CLI one line with exit status 2."""

import pytest

from jpegdl.runs import TrainConfig
from jpegdl.weighting import WeightingConfig
from tests.helpers import cli_usage_error as _fails


@pytest.mark.parametrize("rate", [-0.01, 1.0, 2.0])
def test_noise_outside_0_1_is_refused_by_the_config(rate):
    with pytest.raises(ValueError, match=r"label_noise: expected a rate in \[0, 1\)"):
        TrainConfig(label_noise=rate).validate()


@pytest.mark.parametrize("field, value, message", [
    ("law_episodes", 0, "law_episodes: expected an integer >= 1"),
    ("law_stages", 0, "law_stages: expected an integer >= 1"),
    ("law_warmup_stages", 10, "law_warmup_stages"),
    ("small_loss_drop", 1.0, r"small_loss_drop: expected a share in \[0, 1\)"),
    ("method", "mentornet", "weighting: expected one of"),
    ("law_actor_lr", float("nan"), "law_actor_lr"),
])  # fmt: skip
def test_bad_weighting_options_name_the_field_and_the_range(field, value, message):
    with pytest.raises(ValueError, match=message):
        WeightingConfig(**{"method": "law", field: value})


def test_config_shorthands_round_trip_and_conflicts():
    config = TrainConfig(weighting="small-loss", label_noise=0.3, noise_kind="pair").validate()
    assert config.weighting == WeightingConfig("small-loss")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"weighting.*distillation"):
        TrainConfig(weighting="law", teacher="runs/t", distill="kd").validate()
    with pytest.raises(ValueError, match="policy"):
        WeightingConfig("uniform", policy="policy.pt")


def test_cli_refuses_bad_options_in_one_line(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert "label_noise: expected a rate in [0, 1)" in _fails(["train", "--out", out, "--label-noise", "1"], capsys)
    assert "law_episodes: expected an integer >= 1" in _fails(
        ["train", "--out", out, "--weighting", "law", "--law-episodes", "0"], capsys)  # fmt: skip
    assert "need a method" in _fails(["train", "--out", out, "--law-episodes", "3"], capsys)
    assert "policy: no such file" in _fails(
        ["train", "--out", out, "--weighting", "law", "--weighting-policy", str(tmp_path / "none.pt")], capsys
    )  # fmt: skip
    assert not (tmp_path / "run").exists()

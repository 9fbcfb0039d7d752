"""``jpegdl law search`` on a fresh folder: stops and continues exactly, refuses other data on resume;
training from its policy resumes exactly; crafted policy files are refused with exit status 2."""

import csv
import io

import pytest
import torch

from jpegdl.cli import main
from jpegdl.data.fashion_mnist import find_root

pytestmark = pytest.mark.skipif(find_root(None) is None, reason="dataset-fashion-mnist not installed")

SEARCH = ["law", "search", "--label-noise", "0.3", "--episodes", "2", "--proxy-size", "200", "--val-size", "100",
          "--proxy-epochs", "1", "--batch-size", "50", "--stages", "3", "--hidden", "8"]  # fmt: skip


def _rows(folder):
    return list(csv.DictReader(io.StringIO((folder / "episodes.csv").read_text())))


def test_a_search_stops_continues_exactly_and_writes_its_curve(tmp_path, capsys):
    main([*SEARCH, "--out", str(tmp_path / "a")])
    main([*SEARCH, "--out", str(tmp_path / "b"), "--stop-after", "1"])
    assert "run the same command to continue" in capsys.readouterr().out
    assert not (tmp_path / "b" / "policy.pt").exists() and len(_rows(tmp_path / "b")) == 1
    main([*SEARCH, "--out", str(tmp_path / "b")])
    assert [r["reward"] for r in _rows(tmp_path / "a")] == [r["reward"] for r in _rows(tmp_path / "b")]
    a = torch.load(tmp_path / "a" / "policy.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "policy.pt", weights_only=True)
    assert a["confirmed_reward"] == b["confirmed_reward"] and a["uniform"] == b["uniform"]
    for name, value in a["actor"].items():
        assert torch.equal(value, b["actor"][name]), name
    assert (tmp_path / "a" / "search_curve.png").stat().st_size > 0
    assert "moving_average" in (tmp_path / "a" / "search_curve.json").read_text()


def test_continuing_a_search_on_other_data_is_refused(tmp_path, capsys):
    main([*SEARCH, "--out", str(tmp_path), "--stop-after", "1"])
    with pytest.raises(SystemExit) as exit_info:
        main([*SEARCH[:3], "0.4", *SEARCH[4:], "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "holds a search on other data (label_noise)" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--label-noise", "1.5"], "--label-noise"),
    (["--label-noise", "0.3", "--stages", "0"], "--stages"),
    (["--label-noise", "0.3", "--warmup-stages", "8"], "warmup_stages"),
])  # fmt: skip
def test_bad_search_flags_exit_2(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["law", "search", "--out", str(tmp_path), *flags])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_training_refuses_a_crafted_policy(tmp_path, capsys):
    from jpegdl.weighting.search import POLICY_FORMAT

    torch.save({"format": POLICY_FORMAT, "num_stages": 10**9, "warmup_stages": 0, "actor": {}}, tmp_path / "p.pt")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--out", str(tmp_path / "run"), "--model", "resnet8", "--epochs", "1", "--limit-train", "64",
              "--device", "cpu", "--label-noise", "0.3", "--weighting", "law", "--weighting-policy",
              str(tmp_path / "p.pt")])  # fmt: skip
    assert exit_info.value.code == 2 and "num_stages must be in [1, 1000]" in capsys.readouterr().err


@pytest.mark.slow
def test_training_from_a_searched_policy_resumes_exactly(tmp_path):
    from jpegdl.train import TrainConfig, Trainer

    main([*SEARCH, "--out", str(tmp_path / "search")])

    def config(out):
        return TrainConfig(model="resnet8", epochs=2, batch_size=64, limit_train=256, limit_test=128, out=str(out),
                           lr=0.05, seed=3, label_noise=0.3,
                           weighting={"method": "law", "policy": str(tmp_path / "search" / "policy.pt")})  # fmt: skip

    straight = Trainer(config(tmp_path / "a")).fit()
    Trainer(config(tmp_path / "b")).fit(stop_after=1)
    resumed = Trainer(config(tmp_path / "b"), resume=True).fit()
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert torch.equal(a["weighting"]["action"], b["weighting"]["action"])
    assert straight["test_acc"] == resumed["test_acc"]

"""``jpegdl train --weighting law``: search into RUN/law, train with the best policy, reuse it elsewhere."""

import csv
import io

import pytest
import torch

from jpegdl.cli import main
from tests.helpers import run_torchrun

TINY = ["--model", "resnet8", "--epochs", "1", "--batch-size", "50", "--limit-train", "200", "--limit-test", "50",
        "--device", "cpu", "--label-noise", "0.3"]  # fmt: skip
LAW = ["--weighting", "law", "--law-episodes", "2", "--law-stages", "3", "--law-warmup-stages", "1", "--law-epochs",
       "1", "--law-val-size", "50"]  # fmt: skip


@pytest.fixture(autouse=True)
def _needs_fashion_mnist():
    from jpegdl.data.fashion_mnist import find_root

    if find_root(None) is None:
        pytest.skip("dataset-fashion-mnist not installed")


@pytest.mark.slow
def test_search_then_train_then_reuse_the_policy(tmp_path, capsys):
    run = tmp_path / "law"
    main(["train", "--out", str(run), *TINY, *LAW])
    rows = list(csv.DictReader(io.StringIO((run / "law" / "episodes.csv").read_text())))
    assert [int(r["episode"]) for r in rows] == [1, 2]
    policy = torch.load(run / "law" / "policy.pt", weights_only=True)
    assert policy["num_stages"] == 3 and "actor" in policy
    state = torch.load(run / "last.pt", weights_only=True)
    assert set(state["weighting"]) >= {"action", "loss_ema", "weight_ema", "stage"}
    noise = torch.load(run / "label_noise.pt", weights_only=True)
    assert noise["flipped"].shape == (200,) and noise["flipped"].any()
    reuse = tmp_path / "reuse"
    main(["train", "--out", str(reuse), *TINY, "--weighting", "law", "--weighting-policy",
          str(run / "law" / "policy.pt")])  # fmt: skip
    assert not (reuse / "law").exists() and (reuse / "summary.json").is_file()


@pytest.mark.slow
def test_an_interrupted_search_continues_with_resume(tmp_path, monkeypatch):
    import jpegdl.train.weighting as run_side
    from jpegdl.runs import TrainConfig
    from jpegdl.train import Trainer

    run = tmp_path / "run"
    config = TrainConfig(model="resnet8", epochs=1, batch_size=50, limit_train=200, limit_test=50, device="cpu",
                         label_noise=0.3, out=str(run),
                         weighting={"method": "law", "law_episodes": 2, "law_stages": 3, "law_warmup_stages": 1,
                                    "law_epochs": 1, "law_val_size": 50})  # fmt: skip
    trainer = Trainer(config)
    original = run_side.search_policy

    def one_episode(*args, **kwargs):  # the first episode, then Ctrl-C
        original(*args, **kwargs, stop_after=1)
        raise KeyboardInterrupt

    monkeypatch.setattr(run_side, "search_policy", one_episode)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    monkeypatch.undo()
    assert len(list(csv.DictReader(io.StringIO((run / "law" / "episodes.csv").read_text())))) == 1
    assert not (run / "last.pt").exists()
    main(["train", "--out", str(run), "--resume"])
    rows = list(csv.DictReader(io.StringIO((run / "law" / "episodes.csv").read_text())))
    assert [int(r["episode"]) for r in rows] == [1, 2] and (run / "summary.json").is_file()


@pytest.mark.slow
def test_a_policy_drives_a_ddp_run_on_two_cpu_processes(tmp_path):
    import json
    import sys

    from jpegdl.utils import free_port
    from jpegdl.weighting import save_policy
    from jpegdl.weighting.agent import Actor
    from jpegdl.weighting.search import POLICY_FORMAT

    torch.manual_seed(0)
    policy = {"format": POLICY_FORMAT, "actor": Actor(3, 3).state_dict(), "num_stages": 3, "warmup_stages": 1,
              "episode": 0, "reward": 0.0}  # fmt: skip
    save_policy(policy, tmp_path / "policy.pt")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
        "-m", "jpegdl.cli", "train", "--out", str(tmp_path / "ddp"), *TINY, "--weighting", "law",
        "--weighting-policy", str(tmp_path / "policy.pt"),
    ]  # fmt: skip
    result = run_torchrun(command, command.index("--out") + 1)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "ddp" / "summary.json").read_text())["epochs"] == 1
    state = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    # 100 images per process, batches of 50: steps 0 and 1 fall in stages 0 (warm-up) and 1 of 3
    assert int(state["weighting"]["stage"]) == 1 and torch.isfinite(state["weighting"]["loss_ema"])
    assert state["weighting"]["action"].abs().sum() > 0

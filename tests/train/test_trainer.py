import json
import sys

import pytest
import torch

from jpegdl.data.fashion_mnist import find_root
from jpegdl.train import TrainConfig, Trainer
from jpegdl.utils import free_port
from tests.helpers import run_torchrun

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_root(None) is None, reason="dataset-fashion-mnist not installed")]


def small_config(out, **overrides) -> TrainConfig:
    values = {"model": "resnet8", "epochs": 2, "batch_size": 64, "limit_train": 256, "limit_test": 128,
              "out": str(out), "jpeg": True, "lr": 0.05, "seed": 3}  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)


def test_resume_continues_to_the_same_result(tmp_path):
    straight = Trainer(small_config(tmp_path / "a")).fit()
    Trainer(small_config(tmp_path / "b")).fit(stop_after=1)
    assert json.loads((tmp_path / "b" / "config.json").read_text())["epochs"] == 2
    resumed = Trainer(small_config(tmp_path / "b"), resume=True).fit()
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert straight["test_acc"] == resumed["test_acc"]
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]
    assert (tmp_path / "b" / "metrics.csv").read_text().count("\n") == 3


def test_cosine_schedule_steps_every_batch_and_ends_at_zero(tmp_path):
    trainer = Trainer(small_config(tmp_path, epochs=2, jpeg=False))  # 256 images / 64 = 4 steps per epoch
    trainer.fit()
    rows = trainer.history
    assert rows[0]["lr"] == pytest.approx(0.05 * 0.5)  # halfway through the run after epoch 1
    assert rows[1]["lr"] == pytest.approx(0.0, abs=1e-12)  # annealed to zero at the last step


def test_summary_reports_soft_and_hard_accuracy_and_real_bytes(tmp_path):
    summary = Trainer(small_config(tmp_path, epochs=1)).fit()
    assert abs(summary["test_acc"] - summary["test_acc_hard"]) < 0.05  # soft and hard views of one layer
    assert summary["tables_movement"]["mean_abs_log_ratio"] > 0  # the tables were trained
    files = summary["test_files"]
    assert files["images"] == 128 and 0 < files["payload_bpp"] < files["bpp"]
    assert all(1 <= v <= 255 for row in summary["tables_rounded"]["luma"] for v in row)
    pytest.importorskip("tensorboard")
    assert any((tmp_path / "tensorboard").iterdir())


def test_baseline_without_layer(tmp_path):
    summary = Trainer(small_config(tmp_path, epochs=1, jpeg=False)).fit()
    assert summary["test_acc_hard"] is None and "tables" not in summary


def test_validation_split_is_held_out_and_replaces_the_test_set(tmp_path):
    trainer = Trainer(small_config(tmp_path, epochs=1, jpeg=False, validation=64))
    assert len(trainer.train_set) == 256 - 64 and len(trainer.test_set) == 64
    held_out = set(trainer.test_set.indices)
    assert held_out.isdisjoint(trainer.train_set.indices)
    again = Trainer(small_config(tmp_path / "other", epochs=1, jpeg=False, validation=64, seed=9))
    assert set(again.test_set.indices) == held_out  # one split for every seed: comparable tuning runs
    summary = trainer.fit()
    assert summary["test_acc"] is None and 0 <= summary["val_acc"] <= 1
    with pytest.raises(ValueError, match="validation"):
        Trainer(small_config(tmp_path / "bad", validation=256))


def test_incompatible_model_fails_before_training(tmp_path):
    with pytest.raises(ValueError, match="model"):
        Trainer(small_config(tmp_path, model="no_such_net"))
    with pytest.raises(ValueError, match="epochs"):
        Trainer(small_config(tmp_path, epochs=0))


def test_ddp_two_cpu_processes_on_gloo(tmp_path):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
        "-m", "jpegdl.cli", "train", "--model", "resnet8", "--epochs", "1", "--limit-train", "128",
        "--limit-test", "64", "--batch-size", "32", "--jpeg", "--out", str(tmp_path / "ddp"), "--device", "cpu",
    ]  # fmt: skip
    result = run_torchrun(command, command.index("--out") + 1)
    assert result.returncode == 0, result.stderr  # whole, so a failure in any rank is visible
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["test_acc"] is not None


def test_cli_train_and_show_tables(tmp_path, capsys):
    from jpegdl.cli import main

    main(["train", "--model", "resnet8", "--epochs", "1", "--limit-train", "64", "--limit-test", "32",
          "--jpeg", "--out", str(tmp_path / "cli")])  # fmt: skip
    assert "bpp" in capsys.readouterr().out
    main(["show-tables", str(tmp_path / "cli")])
    assert (tmp_path / "cli" / "tables.png").stat().st_size > 1000


def test_lsq_and_sensitivity_initialisations(tmp_path):
    Trainer(small_config(tmp_path / "base", epochs=1, jpeg=False)).fit()
    sensitivity = {"init": "sensitivity", "q_max": 5.0, "sensitivity_run": str(tmp_path / "base"), "step_min": 0.1}
    trainer = Trainer(small_config(tmp_path / "sens", jpeg=sensitivity))
    luma = trainer.model.jpeg.tables().luma
    assert torch.isclose(luma.max(), torch.tensor(5.0)) and luma.min() >= 0.1 - 1e-6
    trainer = Trainer(small_config(tmp_path / "lsq", jpeg={"init": "lsq", "step_min": 0.1}))
    luma = trainer.model.jpeg.tables().luma
    assert not torch.allclose(luma, torch.full_like(luma, 0.1))
    with pytest.raises(ValueError, match="sensitivity"):
        Trainer(small_config(tmp_path / "x", jpeg={"init": "sensitivity"}))


def test_load_classifier_with_and_without_its_jpeg_layer(tmp_path):
    from jpegdl.layers import JPEGModel
    from jpegdl.train import load_classifier

    Trainer(small_config(tmp_path / "run", epochs=1, limit_train=64, limit_test=32)).fit()
    stripped, config = load_classifier(tmp_path / "run")
    whole, _ = load_classifier(tmp_path / "run" / "last.pt", strip_jpeg=False)
    assert config.jpeg and isinstance(whole, JPEGModel) and not isinstance(stripped, JPEGModel)
    assert not stripped.training and not whole.training
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(stripped(x), whole.model(whole.normalize(x)))
    with pytest.raises(ValueError, match="no checkpoint"):
        load_classifier(tmp_path / "missing")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a jpegdl train checkpoint"):
        load_classifier(tmp_path / "other.pt")

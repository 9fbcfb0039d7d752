from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from jpegdl.cli import main
from jpegdl.distill import DistillSettings, stage_of
from jpegdl.runs import RunFolder, load_route
from jpegdl.train import TrainConfig, Trainer
from jpegdl.utils import free_port
from tests.helpers import run_torchrun


def student_config(out, teacher, method, **overrides) -> TrainConfig:
    values = {"model": "resnet8", "epochs": 2, "batch_size": 32, "limit_train": 128, "limit_test": 64,
              "out": str(out), "seed": 1, "teacher": str(teacher), "distill": method}  # fmt: skip
    return TrainConfig(**(values | overrides))


@pytest.fixture(scope="module")
def route_teacher(tmp_path_factory, trained_run):
    """A teacher trained for 3 epochs that kept checkpoints after epochs 2 (RCO anchors) and 3."""
    out = tmp_path_factory.mktemp("teachers") / "route"
    Trainer(TrainConfig(model="resnet8", epochs=3, batch_size=64, limit_train=128, limit_test=32, out=str(out),
                        save_every=2)).fit()  # fmt: skip
    return out


def test_defaults_follow_the_papers_and_validate():
    assert (DistillSettings("kd").ce_weight(), DistillSettings("kd").logit_beta(None)) == (0.1, 0.9)
    assert (DistillSettings("ttm").ce_weight(), DistillSettings("ttm").logit_beta(None)) == (1 / 15, 36 / 15)
    assert DistillSettings("wttm").logit_beta(2.0) == 36 / 15 / 2
    assert DistillSettings("rco", rco_loss="ttm").logit_loss == "ttm"
    assert DistillSettings("cckd", beta=5.0).logit_beta(None) == 0.9  # beta weighs the congruence term
    bad = [({"gamma": 0.0}, "gamma: expected a finite value > 0"), ({"gamma": -1.0}, "gamma"),
           ({"beta": -0.5}, "beta: expected a finite value >= 0"), ({"ce": float("nan")}, "ce"),
           ({"method": "fitnet"}, "distill: expected one of")]  # fmt: skip
    for options, message in bad:
        with pytest.raises(ValueError, match=message):
            DistillSettings(**({"method": "kd"} | options))


def test_rco_splits_the_epochs_evenly_over_the_route(route_teacher):
    folder = RunFolder(route_teacher)
    assert [path for _, path in folder.anchors()] == [folder.anchor(2)]
    assert len(load_route(route_teacher)) == 2  # the anchor after epoch 2, then last.pt (epoch 3)
    assert [stage_of(e, 6, 3) for e in range(6)] == [0, 0, 1, 1, 2, 2]
    assert [stage_of(e, 5, 2) for e in range(5)] == [0, 0, 0, 1, 1]


@pytest.mark.parametrize("method", ["kd", "ttm", "wttm", "cckd", "rco"])
def test_every_method_trains_a_student(tmp_path, trained_run, route_teacher, method):
    teacher = route_teacher if method == "rco" else trained_run
    summary = Trainer(student_config(tmp_path, teacher, method, epochs=1)).fit()
    assert summary["epochs"] == 1 and summary["distill"]["method"] == method
    if method == "wttm":
        assert 1 <= summary["distill"]["mean_power_sum"] <= 10**0.75
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and "nan" not in rows[1]


def test_rco_student_switches_teacher_along_the_route(tmp_path, route_teacher):
    trainer = Trainer(student_config(tmp_path, route_teacher, "rco", epochs=4))
    distillation = trainer.distillation
    first = {k: v.clone() for k, v in distillation.teacher.state_dict().items()}
    distillation.set_epoch(0)
    early = distillation.teacher.state_dict()
    assert distillation.stage == 0 and any(not torch.equal(first[k], early[k]) for k in first)
    distillation.set_epoch(3)
    final = distillation.teacher.state_dict()
    assert distillation.stage == 1 and all(torch.equal(first[k], v) for k, v in final.items())


def test_distilled_training_resumes_exactly(tmp_path, trained_run):
    Trainer(student_config(tmp_path / "a", trained_run, "wttm", jpeg=True)).fit()
    Trainer(student_config(tmp_path / "b", trained_run, "wttm", jpeg=True)).fit(stop_after=1)
    Trainer(student_config(tmp_path / "b", trained_run, "wttm", jpeg=True), resume=True).fit()
    a, b = (torch.load(tmp_path / x / "last.pt", weights_only=True) for x in "ab")
    assert all(torch.equal(v, b["model"][k]) for k, v in a["model"].items())


def test_bad_teachers_fail_before_training(tmp_path, trained_run, monkeypatch):
    with pytest.raises(ValueError, match="teacher: no checkpoint"):
        Trainer(student_config(tmp_path, tmp_path / "missing", "kd"))
    with pytest.raises(ValueError, match="RCO needs a teacher trained with --save-every"):
        Trainer(student_config(tmp_path, trained_run, "rco"))
    with pytest.raises(ValueError, match="teacher, distill: give both"):
        TrainConfig(teacher=str(trained_run)).validate()

    import jpegdl.train.trainer as trainer_module

    def seven_classes(path, strip_jpeg=True):
        return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 7)).eval(), None

    monkeypatch.setattr(trainer_module, "load_classifier", seven_classes)
    with pytest.raises(ValueError, match="teacher: outputs 7 classes, the student's dataset fashion-mnist has 10"):
        Trainer(student_config(tmp_path, trained_run, "kd"))


def test_cli_distills_and_rejects_bad_flags(tmp_path, trained_run, capsys):
    main(["train", "--model", "resnet8", "--epochs", "1", "--limit-train", "64", "--limit-test", "32",
          "--teacher", str(trained_run), "--distill", "ttm", "--gamma", "0.5", "--beta", "4",
          "--out", str(tmp_path / "s")])  # fmt: skip
    distill = json.loads((tmp_path / "s" / "summary.json").read_text())["distill"]
    assert (distill["gamma"], distill["beta"], distill["ce"]) == (0.5, 4.0, 1 / 15)
    capsys.readouterr()
    for flags, message in [(["--gamma", "0"], "gamma: expected a finite value > 0"),
                           (["--beta", "-1"], "beta: expected a finite value >= 0")]:  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--teacher", str(trained_run), "--distill", "wttm", "--out", str(tmp_path / "x"), *flags])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--distill", "kd", "--out", str(tmp_path / "y")])
    assert "teacher, distill: give both" in capsys.readouterr().err


def test_ddp_distillation_on_two_cpu_processes(tmp_path, trained_run):
    import sys

    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
        "-m", "jpegdl.cli", "train", "--model", "resnet8", "--epochs", "1", "--limit-train", "256",
        "--limit-test", "64", "--batch-size", "32", "--teacher", str(trained_run), "--distill", "cckd",
        "--out", str(tmp_path / "ddp"), "--device", "cpu",
    ]  # fmt: skip
    result = run_torchrun(command, command.index("--out") + 1)
    assert result.returncode == 0, result.stderr  # whole, so a failure in any rank is visible
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["distill"]["method"] == "cckd" and summary["test_acc"] is not None

import argparse
import os

import pytest

from jpegdl.cli.training import config_from_args
from jpegdl.data.registry import known_info
from jpegdl.jpeg import QuantTables
from jpegdl.runs import RunFolder, TrainConfig, build_model, save_checkpoint
from jpegdl.train import Trainer


def test_a_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.lock(), pytest.raises(ValueError, match="in use by another training process"), folder.lock():
        pass
    assert not (folder.path / ".lock").exists()
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    (folder.path / ".lock").write_text(str(dead))
    with folder.lock():
        assert (folder.path / ".lock").read_text() == str(os.getpid())


def test_an_existing_run_is_never_replaced_silently(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    TrainConfig(out=str(out)).save(out / "config.json")
    with pytest.raises(ValueError, match="resume: no checkpoint"):
        Trainer(TrainConfig(out=str(out)), resume=True)
    save_checkpoint({"config": TrainConfig(out=str(out)).to_dict(), "epoch": 0}, out / "last.pt")
    with pytest.raises(ValueError, match=r"already holds a run; pass --resume .* or --overwrite"):
        Trainer(TrainConfig(out=str(out)))


def test_a_folder_that_holds_no_run_is_refused_even_with_overwrite(tmp_path):
    (tmp_path / "mine.csv").write_text("the user's own file")
    (tmp_path / "anchors").mkdir()
    (tmp_path / "anchors" / "notes.txt").write_text("keep")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"is not empty and holds no jpegdl run \(it has 'mine.csv'"):
            Trainer(TrainConfig(out=str(tmp_path)), overwrite=overwrite)
    assert (tmp_path / "mine.csv").read_text() == "the user's own file"
    assert (tmp_path / "anchors" / "notes.txt").exists()


def _args(**given) -> argparse.Namespace:
    from jpegdl.cli import build_parser

    argv = ["train"]
    for key, value in given.items():
        argv += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
    return build_parser().parse_args(argv)


def test_resume_takes_the_checkpoints_settings_and_only_safe_overrides(tmp_path):
    out = tmp_path / "run"
    saved = TrainConfig(model="resnet8", epochs=3, lr=0.1, limit_test=100, out=str(out), jpeg=True)
    save_checkpoint({"config": saved.to_dict(), "epoch": 2}, out / "last.pt")
    with pytest.raises(ValueError, match="holds no model weights"):
        config_from_args(_args(out=out, resume=True, epochs=6))
    weights = build_model(saved, known_info("fashion-mnist"), QuantTables.from_quality(90)).state_dict()
    save_checkpoint({"config": saved.to_dict(), "epoch": 2, "model": weights}, out / "last.pt")
    config = config_from_args(_args(out=out, resume=True, epochs=6))
    assert (config.model, config.lr, config.limit_test, config.epochs) == ("resnet8", 0.1, 100, 6)
    assert config.jpeg is not None
    with pytest.raises(ValueError, match="only --out, --epochs, --device, --workers may be given, got lr"):
        config_from_args(_args(out=out, resume=True, lr=0.5))
    with pytest.raises(ValueError, match="resume: name the run"):
        config_from_args(_args(resume=True))


def test_flags_build_nested_configs(tmp_path):
    config = config_from_args(_args(jpeg=True, jpeg_quality=80, table_lr=0.01, distill="wttm", gamma=0.5,
                                    teacher=tmp_path))  # fmt: skip
    assert (config.jpeg.quality, config.jpeg.lr, config.distill.method, config.distill.gamma) == (80, 0.01, "wttm", 0.5)
    assert config_from_args(_args()).jpeg is None
    with pytest.raises(ValueError, match="need --jpeg"):
        config_from_args(_args(jpeg_quality=80))
    with pytest.raises(ValueError, match="need a method"):
        config_from_args(_args(gamma=0.5))
    assert TrainConfig.from_dict(config.to_dict()) == config

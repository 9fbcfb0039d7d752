"""Bad input to the commands: one line on stderr, exit status 2, nothing written or changed."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from jpegdl.cli import main
from jpegdl.runs import TrainConfig, save_checkpoint
from tests.helpers import cli_usage_error as _fails


@pytest.fixture
def picture(tmp_path):
    path = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(path)
    return path


def test_encode_never_overwrites_its_input_nor_writes_jpeg_into_a_png(tmp_path, picture, capsys):
    jpeg = tmp_path / "same.jpg"
    main(["encode", str(picture), str(jpeg), "-q", "50"])
    before = jpeg.read_bytes()
    assert "is the input file" in _fails(["encode", str(jpeg), str(jpeg), "-q", "90"], capsys)
    assert jpeg.read_bytes() == before
    assert "does not end in .jpg" in _fails(["encode", str(picture), str(tmp_path / "keep.png"), "-q", "50"], capsys)
    assert not (tmp_path / "keep.png").exists()
    assert "does not exist" in _fails(["encode", str(picture), str(tmp_path / "no" / "x.jpg"), "-q", "50"], capsys)


def test_encode_keeps_the_icc_profile(tmp_path, capsys):
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "icc.png", icc_profile=profile)
    main(["encode", str(tmp_path / "icc.png"), str(tmp_path / "icc.jpg"), "-q", "80"])
    with Image.open(tmp_path / "icc.jpg") as image:
        assert image.info.get("icc_profile") == profile


def test_info_on_a_header_that_lies_is_quick_and_reading_it_is_refused(tmp_path, capsys):
    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, "JPEG")
    data = buffer.getvalue()
    sof = data.index(b"\xff\xc0")
    (tmp_path / "lie.jpg").write_bytes(data[: sof + 5] + (65500).to_bytes(2, "big") * 2 + data[sof + 9 :])
    main(["info", str(tmp_path / "lie.jpg")])
    assert "65500x65500" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"luma": [[true]], "chroma": [[1]]}', "expected numbers"), ("{nope", "not valid JSON"),
     ('{"luma": 1}', "'chroma'")],
)
def test_bad_tables_files(tmp_path, picture, capsys, content, message):
    (tmp_path / "t.json").write_text(content)
    assert message in _fails(["encode", str(picture), str(tmp_path / "o.jpg"), "--tables", str(tmp_path / "t.json")],
                             capsys)  # fmt: skip


def test_training_refuses_unsafe_situations_before_any_work(tmp_path, capsys):
    run = tmp_path / "run"
    save_checkpoint({"config": TrainConfig(out=str(run)).to_dict(), "epoch": 0}, run / "last.pt")
    TrainConfig(out=str(run)).save(run / "config.json")
    assert "already holds a run" in _fails(["train", "--out", str(run)], capsys)
    assert "only --out, --epochs" in _fails(["train", "--out", str(run), "--resume", "--lr", "1"], capsys)
    assert "no checkpoint" in _fails(["train", "--out", str(tmp_path / "new"), "--resume"], capsys)
    assert "holds no Fashion-MNIST" in _fails(["train", "--out", str(tmp_path / "x"), "--data-root",
                                               str(tmp_path / "nowhere")], capsys)  # fmt: skip
    if not torch.cuda.is_available():
        assert "CUDA is not available" in _fails(["train", "--out", str(tmp_path / "y"), "--device", "cuda"], capsys)


def test_every_train_flag_has_help_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert text.count("(default:") >= 40 and "--table-lr" in text and "--version" not in text


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("jpegdl ")


def test_every_flag_of_every_command_has_help():
    import argparse

    from jpegdl.cli import build_parser

    def commands(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield name, sub
                    yield from commands(sub)

    silent = {
        (name, (action.option_strings or [action.dest])[0])
        for name, sub in commands(build_parser())
        for action in sub._actions
        if not action.help and not isinstance(action, argparse._HelpAction)
    }
    assert not silent, sorted(silent)


def test_j4d_commands_check_outputs_and_values_before_any_work(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert "is a file, not a folder" in _fails(["learn-tables", "--model", str(tmp_path / "none"), "--lambda", "0.1",
                                                "--out", str(tmp_path / "file")], capsys)  # fmt: skip
    assert "is a file, not a folder" in _fails(["rate-accuracy", "--model", str(tmp_path / "none"), "--codecs", "ijg",
                                                "--out", str(tmp_path / "file")], capsys)  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:  # argparse: its usage line, then the error
        main(["rate-accuracy", "--model", "m", "--codecs", "ijg", "--out", str(tmp_path / "o"), "--scales", "0"])
    assert exit_info.value.code == 2 and "expected a finite number > 0" in capsys.readouterr().err


def test_rate_accuracy_refuses_tables_a_file_cannot_hold(tmp_path):
    from jpegdl.evaluate.codecs import CodecSpec, codec_settings
    from jpegdl.jpeg import QuantTables

    QuantTables.flat(2.5).save(tmp_path / "float.json")
    with pytest.raises(ValueError, match="integer steps"):
        codec_settings(CodecSpec("learned", str(tmp_path / "float.json")), "4:4:4")

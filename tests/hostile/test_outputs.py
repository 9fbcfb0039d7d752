"""No user file is ever destroyed: ancestor and same-stem outputs, --overwrite limited to jpegdl's own
files, kill -9 and SIGTERM in the middle of writing commands, and outputs that honour the umask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from jpegdl.cli import main
from jpegdl.files.outputs import MANIFEST
from jpegdl.jpeg import QuantTables
from tests.helpers import cli_usage_error
from tests.hostile import craft
from tests.hostile.conftest import ROOT, picture, tree


@pytest.fixture
def tables(tmp_path):
    path = tmp_path / "tables.json"
    QuantTables.from_quality(60).save(path)
    return str(path)


@pytest.mark.parametrize("layout", ["parent", "grandparent", "same", "inside"])
def test_compress_never_writes_around_or_inside_its_input(tmp_path, capsys, tables, layout):
    source = tmp_path / "a" / "b" / "in"
    source.mkdir(parents=True)
    picture(source / "x.png")
    out = {"parent": source.parent, "grandparent": source.parent.parent, "same": source, "inside": source / "o"}[layout]
    (out / "x.jpg").parent.mkdir(parents=True, exist_ok=True)
    before = tree(tmp_path)
    for extra in ([], ["--overwrite"]):
        line = cli_usage_error(["compress", str(source), str(out), "--tables", tables, *extra], capsys)
        assert "choose a folder outside" in line
    assert tree(tmp_path) == before


def test_overwrite_replaces_only_what_compress_wrote(tmp_path, capsys, tables):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for name in ("a", "b"):
        picture(source / f"{name}.png", seed=ord(name))
    assert main(["compress", str(source), str(out), "--tables", tables]) == 0
    assert "already exist" in cli_usage_error(["compress", str(source), str(out), "--tables", tables], capsys)
    assert main(["compress", str(source), str(out), "--tables", tables, "--overwrite"]) == 0
    (out / "b.jpg").write_bytes(b"edited by the user")
    line = cli_usage_error(["compress", str(source), str(out), "--tables", tables, "--overwrite"], capsys)
    assert "b.jpg" in line and "not written by jpegdl" in line
    assert (out / "b.jpg").read_bytes() == b"edited by the user"
    picture(source / "a.jpg")  # now a.png and a.jpg would both become a.jpg
    assert "would both be written to" in cli_usage_error(["compress", str(source), str(tmp_path / "new"), "--tables",
                                                          tables], capsys)  # fmt: skip


def test_encode_replaces_only_a_jpeg_and_only_with_overwrite(tmp_path, capsys):
    source = picture(tmp_path / "in.png")
    target = tmp_path / "photo.jpg"
    Image.new("RGB", (8, 8)).save(target, "PNG")  # a user's PNG under a JPEG name
    assert "already exists" in cli_usage_error(["encode", str(source), str(target), "-q", "50"], capsys)
    assert "not a JPEG file" in cli_usage_error(["encode", str(source), str(target), "-q", "50", "--overwrite"], capsys)
    target.unlink()
    assert main(["encode", str(source), str(target), "-q", "50"]) == 0
    assert main(["encode", str(source), str(target), "-q", "90", "--overwrite"]) == 0


def test_outputs_honour_the_umask(tmp_path, tables):
    from jpegdl.checkpoints import save_checkpoint

    previous = os.umask(0o027)
    try:
        source = tmp_path / "in"
        source.mkdir()
        picture(source / "a.png")
        main(["compress", str(source), str(tmp_path / "out"), "--tables", tables])
        save_checkpoint({"x": 1}, tmp_path / "c.pt")
        for path in (tmp_path / "out" / "a.jpg", tmp_path / "c.pt", tmp_path / "out" / MANIFEST):
            assert path.stat().st_mode & 0o777 == 0o640, path
    finally:
        os.umask(previous)


def _jpegdl(argv: list[str]) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "jpegdl.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=environment, cwd=ROOT)  # fmt: skip


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_kill_9_during_compress_leaves_whole_files_and_a_rerun_finishes(tmp_path, tables):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for index in range(40):
        picture(source / f"p{index:02d}.png", (320, 240), seed=index)
    process = _jpegdl(["compress", str(source), str(out), "--tables", tables])
    _wait_for(lambda: len(list(out.glob("*.jpg"))) >= 2, process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    written = list(out.glob("*.jpg"))
    assert 2 <= len(written) < 40
    for path in written:  # every visible output is a whole JPEG
        with Image.open(path) as image:
            image.load()
    assert main(["compress", str(source), str(out), "--tables", tables, "--overwrite"]) == 0
    assert len(list(out.glob("*.jpg"))) == 40


def test_sigterm_before_the_first_checkpoint_says_so_and_a_plain_rerun_starts_again(tmp_path):
    from jpegdl.data.fashion_mnist import find_root

    if find_root(None) is None:
        pytest.skip("dataset-fashion-mnist not installed")
    run = tmp_path / "run"
    argv = ["train", "--out", str(run), "--model", "resnet8", "--epochs", "1", "--limit-train", "20000",
            "--limit-test", "64", "--device", "cpu"]  # fmt: skip
    process = _jpegdl(argv)
    _wait_for(lambda: (run / "config.json").is_file(), process)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "no checkpoint was saved" in err and "Run the same command again" in err and "Traceback" not in err
    assert not (run / "last.pt").exists()
    from jpegdl.cli import build_parser
    from jpegdl.cli.training import config_from_args
    from jpegdl.train import Trainer

    trainer = Trainer(config_from_args(build_parser().parse_args(argv)))  # the plain re-run is accepted
    assert trainer.start_epoch == 0


def test_decode_never_replaces_its_input_nor_an_existing_file_without_overwrite(tmp_path, capsys):
    jpeg = tmp_path / "a.jpg"
    jpeg.write_bytes(craft.jpeg_bytes())
    target = tmp_path / "a.png"
    picture(target)
    before = target.read_bytes()
    assert "already exists" in cli_usage_error(["decode", str(jpeg), str(target)], capsys)
    assert target.read_bytes() == before
    assert main(["decode", str(jpeg), str(target), "--overwrite"]) == 0 and target.read_bytes() != before

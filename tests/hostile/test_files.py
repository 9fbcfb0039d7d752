"""Hostile data and settings files: devices and FIFOs, size and nesting bombs, configs that size what
is built, incomplete checkpoints. Each ends in one line (exit 2) quickly, nothing built or read first."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch

from jpegdl.checkpoints import load_checkpoint, save_checkpoint
from jpegdl.cli import main
from jpegdl.jpeg import QuantTables
from tests.helpers import cli_usage_error
from tests.hostile import craft
from tests.hostile.conftest import picture


@pytest.fixture
def pictures(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    picture(folder / "a.png")
    return folder


@pytest.mark.parametrize("device", ["/dev/zero", "fifo", "folder"])
def test_tables_info_and_pictures_must_be_regular_files(tmp_path, pictures, capsys, device):
    path = {"/dev/zero": "/dev/zero", "fifo": None, "folder": str(tmp_path)}[device]
    path = path or str(craft.fifo(tmp_path / "pipe.json"))
    started = time.perf_counter()
    for argv in (["encode", str(pictures / "a.png"), str(tmp_path / "o.jpg"), "--tables", path],
                 ["compress", str(pictures), str(tmp_path / "out"), "--tables", path],
                 ["info", path], ["encode", path, str(tmp_path / "o.jpg"), "-q", "50"]):  # fmt: skip
        line = cli_usage_error(argv, capsys)
        assert "not a regular file" in line or "is a folder" in line, line
    assert time.perf_counter() - started < 10 and not (tmp_path / "o.jpg").exists()


def test_files_above_their_byte_limits_are_refused_before_reading(tmp_path, pictures, capsys, monkeypatch):
    monkeypatch.setenv("JPEGDL_MAX_FILE_BYTES", "100")
    monkeypatch.setenv("JPEGDL_MAX_TEXT_BYTES", "100")
    (tmp_path / "big.jpg").write_bytes(craft.jpeg_bytes() + bytes(200))
    assert "above the limit of 100" in cli_usage_error(["info", str(tmp_path / "big.jpg")], capsys)
    QuantTables.from_quality(50).save(tmp_path / "t.json")
    line = cli_usage_error(["compress", str(pictures), str(tmp_path / "out"), "--tables", str(tmp_path / "t.json")],
                           capsys)  # fmt: skip
    assert "above the limit of 100" in line


@pytest.mark.parametrize(
    ("content", "message"),
    [(craft.nested_json(100_000), "nests JSON deeper than"), (craft.nested_json(70), "nests JSON deeper than"),
     ('{"luma": 1, "chroma": 1, "hardness": null}', "tables.luma"), (b"\xff\xfe{}", "not UTF-8")],
)  # fmt: skip
def test_malformed_tables_files_give_one_line(tmp_path, pictures, capsys, content, message):
    path = tmp_path / "t.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    line = cli_usage_error(["compress", str(pictures), str(tmp_path / "out"), "--tables", str(path)], capsys)
    assert message in line


@pytest.mark.parametrize("hardness", [None, {}, "x", [], [1, "a"], -1, float("nan")])
def test_a_bad_hardness_gives_one_line(tmp_path, pictures, capsys, hardness):
    data = QuantTables.from_quality(50).to_dict() | {"hardness": hardness}
    (tmp_path / "t.json").write_text(json.dumps(data))
    line = cli_usage_error(["compress", str(pictures), str(tmp_path / "out"), "--tables", str(tmp_path / "t.json")],
                           capsys)  # fmt: skip
    assert "'hardness'" in line and "should be a number > 0" in line


def test_compressed_checkpoint_storage_is_checked_before_loading(tmp_path, monkeypatch):
    save_checkpoint({"epoch": 1, "weights": torch.arange(100.0)}, tmp_path / "plain.pt")
    craft.deflated_checkpoint(tmp_path / "plain.pt", tmp_path / "deflated.pt")
    assert load_checkpoint(tmp_path / "deflated.pt")["epoch"] == 1  # compression as such is fine
    bomb = craft.deflated_checkpoint(tmp_path / "plain.pt", tmp_path / "bomb.pt", padding=64 * 2**20)
    assert bomb.stat().st_size < 200_000
    monkeypatch.setenv("JPEGDL_MAX_CHECKPOINT_BYTES", str(16 * 2**20))
    with pytest.raises(ValueError, match=r"would inflate to \d+ bytes, above the limit of 16777216"):
        load_checkpoint(bomb)
    for name, data in (("legacy.pt", b"\x80\x02}q\x00."), ("empty.pt", b""), ("half.pt", bomb.read_bytes()[:5000])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match="not a readable checkpoint"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(ValueError, match="not a regular file"):
        load_checkpoint("/dev/zero")


def _copy_run(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    return run, load_checkpoint(run / "last.pt")


@pytest.mark.parametrize(
    ("change", "message"),
    [({"model": "vit_h_14"}, "builds a model of"), ({"model": 123}, "config.model: expected str"),
     ({"epochs": "5"}, "config.epochs: expected int"), ({"jpeg": {"hardness": {}}}, "config.jpeg.hardness"),
     ({"distill": 5}, "config.distill: expected an object")],
)  # fmt: skip
def test_a_checkpoint_config_is_typed_and_cannot_size_what_is_built(trained_run, tmp_path, capsys, change, message):
    run, state = _copy_run(trained_run, tmp_path)
    state["config"] = {**state["config"], **change}
    save_checkpoint(state, run / "last.pt")
    started = time.perf_counter()
    for argv in (["train", "--out", str(run), "--resume", "--epochs", "2"],
                 ["compress-guided", str(tmp_path), str(tmp_path / "o"), "--model", str(run)]):  # fmt: skip
        assert message in cli_usage_error(argv, capsys)
    assert time.perf_counter() - started < 20


@pytest.mark.parametrize("damage", ["no optimizer", "wrong weights", "no rng"])
def test_resuming_an_incomplete_checkpoint_gives_one_line(trained_run, tmp_path, capsys, damage):
    run, state = _copy_run(trained_run, tmp_path)
    if damage == "no optimizer":
        del state["optimizer"]
    elif damage == "no rng":
        state["rng"] = {}
    else:
        name = next(k for k, v in state["model"].items() if v.dim() == 4 and v.shape[0] > 1)
        state["model"][name] = state["model"][name][:1].clone()
    save_checkpoint(state, run / "last.pt")
    line = cli_usage_error(["train", "--out", str(run), "--resume", "--epochs", "2"], capsys)
    assert "resume:" in line and "last.pt" in line


@pytest.mark.parametrize("tables", [{}, {"luma": "x"}, {"luma": [[1] * 8] * 8}, None])
def test_show_tables_on_a_summary_without_tables(tmp_path, capsys, tables):
    (tmp_path / "summary.json").write_text(json.dumps({"tables": tables, "channels": 3}))
    line = cli_usage_error(["show-tables", str(tmp_path)], capsys)
    assert "summary.json" in line or "no tables" in line


def test_a_policy_cannot_size_its_actor(tmp_path):
    from jpegdl.weighting import policy_weighting
    from jpegdl.weighting.search import POLICY_FORMAT

    for stages in (40_000_000, -1, "10", 2.5):
        with pytest.raises(ValueError, match="policy: num_stages must be"):
            policy_weighting({"format": POLICY_FORMAT, "num_stages": stages, "warmup_stages": 0, "actor": {}})


def test_idx_files_are_bounded_and_checked(tmp_path, monkeypatch):
    from jpegdl.data.fashion_mnist import FashionMNIST, read_idx

    for data in (b"\x00\x00\x08\x03\x00\x00", b"\x00\x00\x08\x03" + bytes(5), b"\x00\x00\x08\xff" + bytes(8)):
        with pytest.raises(ValueError, match="IDX"):
            read_idx(data)
    monkeypatch.setenv("JPEGDL_MAX_DATASET_BYTES", str(2 * 2**20))
    craft.gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", 8 * 2**20)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="inflates to more than 2097152 bytes"):
        FashionMNIST("train", tmp_path)
    assert main(["tables", "-q", "50"]) == 0  # (the limits leave other commands alone)


def test_rate_accuracy_reads_learned_tables_as_bounded_regular_files(tmp_path):
    from jpegdl.evaluate.codecs import CodecSpec, codec_settings, rd_settings

    fifo = craft.fifo(tmp_path / "pipe.json")
    for path in ("/dev/zero", str(fifo)):
        with pytest.raises(ValueError, match="not a regular file"):
            codec_settings(CodecSpec("learned", path), "4:4:4")
    (tmp_path / "t.json").write_text(json.dumps({"lambda": 1, "settings": {"sensitivity": {"luma": "x"}}}))
    with pytest.raises(ValueError, match="malformed sensitivity"):
        rd_settings(tmp_path / "t.json")

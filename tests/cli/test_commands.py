import json

import numpy as np
import pytest
from PIL import Image

from jpegdl.cli import main
from jpegdl.files import inspect


@pytest.fixture
def png(tmp_path, photos):
    path = tmp_path / "in.png"
    Image.fromarray(photos["chelsea"]).save(path)
    return path


def test_tables_json_and_cjpeg(capsys, tmp_path):
    assert main(["tables", "--quality", "75"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["luma"][0] == [8, 6, 5, 8, 12, 20, 26, 31]
    main(["tables", "-q", "90", "--format", "cjpeg", "-o", str(tmp_path / "t.txt")])
    assert len((tmp_path / "t.txt").read_text().split()) == 128 + 4  # two "# name" comment lines


def test_encode_with_quality_and_tables_then_info(capsys, tmp_path, png):
    out = tmp_path / "out.jpg"
    main(["encode", str(png), str(out), "--quality", "60", "--subsampling", "4:4:4"])
    assert "bpp" in capsys.readouterr().out
    assert inspect(out).subsampling == "4:4:4"
    main(["tables", "-q", "30", "-o", str(tmp_path / "t.json")])
    main(["encode", str(png), str(out), "--tables", str(tmp_path / "t.json"), "--overwrite"])
    capsys.readouterr()
    main(["info", str(out), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert info["subsampling"] == "4:2:0" and info["width"] == 200
    main(["info", str(out)])
    text = capsys.readouterr().out
    assert "payload" in text and "chroma table" in text


def test_encode_grayscale(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(np.full((20, 30), 100, np.uint8)).save(path)
    main(["encode", str(path), str(tmp_path / "g.jpg"), "-q", "80"])
    assert inspect(tmp_path / "g.jpg").components == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["tables", "--quality", "101"],
        ["tables", "--quality", "high"],
        ["tables", "--format", "xml"],
        ["encode", "a.png", "b.jpg"],
        ["encode", "a.png", "b.jpg", "-q", "50", "--subsampling", "4:1:1"],
        ["bogus"],
    ],
)
def test_bad_flags_exit_with_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_bad_paths_give_clear_errors(tmp_path, capsys, png):
    with pytest.raises(SystemExit):
        main(["encode", str(tmp_path / "missing.png"), str(tmp_path / "o.jpg"), "-q", "50"])
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    with pytest.raises(SystemExit):
        main(["info", str(tmp_path / "broken.jpg")])
    assert "truncated" in capsys.readouterr().err
    (tmp_path / "t.json").write_text(json.dumps({"luma": [[0] * 8] * 8, "chroma": [[1] * 8] * 8}))
    with pytest.raises(SystemExit):
        main(["encode", str(png), str(tmp_path / "o.jpg"), "--tables", str(tmp_path / "t.json")])
    assert "> 0" in capsys.readouterr().err


def test_learn_tables_compress_and_rate_accuracy(trained_run, tmp_path, capsys, photos):
    main(["learn-tables", "--model", str(trained_run), "--sweep", "0.1", "2", "--images", "128", "--sweeps", "1",
          "--out", str(tmp_path / "tables")])  # fmt: skip
    assert "lambda" in capsys.readouterr().out
    learned = sorted((tmp_path / "tables").glob("*.json"))
    assert [p.name for p in learned] == ["lambda0.1.json", "lambda2.json"]
    data = json.loads(learned[1].read_text())
    assert data["settings"]["dataset"] == "fashion-mnist" and all(1 <= v <= 255 for r in data["luma"] for v in r)

    (tmp_path / "pictures").mkdir()
    Image.fromarray(photos["chelsea"]).save(tmp_path / "pictures" / "cat.png")
    (tmp_path / "pictures" / "bad.png").write_bytes(b"nonsense")
    compress = ["compress", str(tmp_path / "pictures"), str(tmp_path / "jpeg"), "--tables", str(learned[1]),
                "--probabilistic", "--subsampling", "4:4:4"]  # fmt: skip
    with pytest.warns(UserWarning, match="bad.png"), pytest.raises(SystemExit) as exit_info:
        main(compress)
    captured = capsys.readouterr()
    assert exit_info.value.code == 1  # a skipped file is reported and makes the exit status non-zero
    assert "wrote 1 JPEG files" in captured.out and "skipped 1" in captured.err and "bad.png" in captured.err
    assert inspect(tmp_path / "jpeg" / "cat.jpg").subsampling == "4:4:4"
    written = (tmp_path / "jpeg" / "cat.jpg").read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main(compress)  # the earlier output is kept: no --overwrite
    assert exit_info.value.code == 2 and "already exist; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "jpeg" / "cat.jpg").read_bytes() == written
    with pytest.raises(SystemExit) as exit_info:
        main([*compress[:2], str(tmp_path / "pictures" / "out"), *compress[3:]])
    assert exit_info.value.code == 2 and "inside it" in capsys.readouterr().err

    main(["rate-accuracy", "--model", str(trained_run), "--codecs", f"ijg,sensitivity,learned:{tmp_path / 'tables'}",
          "--qualities", "10", "50", "90", "--scales", "2", "16", "--sensitivity-images", "64", "--limit-test", "40",
          "--probabilistic-seeds", "0", "--out", str(tmp_path / "ra")])  # fmt: skip
    out = capsys.readouterr().out
    assert "BD-rate" in out and "learned:tables+prob" in out
    result = json.loads((tmp_path / "ra" / "rate_accuracy.json").read_text())
    assert len(result["points"]) == 3 + 2 + 2 * 2 and result["test_images"] == 40
    assert (tmp_path / "ra" / "rate_accuracy.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["learn-tables", "--model", "nowhere", "--lambda", "1", "--out", "x"], "no checkpoint"),
        (["compress", "nowhere", "out", "--tables", "t.json"], "no such file"),
        (["rate-accuracy", "--model", "nowhere", "--codecs", "jpeg2000", "--out", "x"], "unknown codec"),
    ],
)
def test_j4d_commands_reject_bad_input(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_negative_lambda_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["learn-tables", "--model", "r", "--lambda", "-1", "--out", "x"])
    assert exit_info.value.code == 2 and "--lambda: expected a finite number >= 0" in capsys.readouterr().err


def test_compress_guided_and_guided_rate_accuracy(trained_run, tmp_path, capsys, photos):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    gray = photos["camera"] if "camera" in photos else photos["chelsea"].mean(2).astype(np.uint8)
    for i in range(3):
        Image.fromarray(np.ascontiguousarray(gray[40 * i : 40 * i + 28, 50 : 50 + 28])).save(pictures / f"g{i}.png")
    Image.fromarray(photos["chelsea"][:28, :28]).save(pictures / "colour.png")  # 3 channels: the model refuses it
    argv = ["compress-guided", str(pictures), str(tmp_path / "jpeg"), "--model", str(trained_run), "--ladder", "ijg",
            "--max-kl", "0.05"]  # fmt: skip
    with pytest.warns(UserWarning, match="colour.png"), pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    assert exit_info.value.code == 1 and "skipped 1" in captured.err and "colour.png" in captured.err
    assert "wrote 3 JPEG files" in captured.out and "ijg ladder of 19 tables" in captured.out
    assert all(inspect(tmp_path / "jpeg" / f"g{i}.jpg").components == 1 for i in range(3))
    (pictures / "colour.png").unlink()
    assert main([*argv, "--overwrite", "--ladder", "sensitivity", "--images", "64"]) == 0
    assert "sensitivity ladder" in capsys.readouterr().out

    main(["rate-accuracy", "--model", str(trained_run), "--codecs", "ijg,guided-ijg", "--qualities", "10", "90",
          "--max-kl", "0.01", "1", "--limit-test", "30", "--bootstrap", "0",
          "--out", str(tmp_path / "ra")])  # fmt: skip
    result = json.loads((tmp_path / "ra" / "rate_accuracy.json").read_text())
    assert [(p["codec"], p["setting"]) for p in result["points"]][2:] == [("guided-ijg", 0.01), ("guided-ijg", 1.0)]


def test_compress_guided_rejects_a_negative_threshold(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compress-guided", "in", "out", "--model", "r", "--max-kl", "-0.1"])
    assert exit_info.value.code == 2 and "--max-kl" in capsys.readouterr().err

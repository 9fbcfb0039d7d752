"""Shipped codecs: checksum-verified loading, compress/decompress without --model, bit-exact across processes."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("compressai")

from jpegdl.cli import main
from jpegdl.edic import CodecConfig, build_model
from jpegdl.edic import shipped as shipped_module
from jpegdl.edic.checkpoint import save_codec

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"channels": 8, "latent_channels": 8, "enhance_channels": 4, "enhance_blocks": 1, "enhance_residuals": 1}


@pytest.fixture
def tiny_shipped(tmp_path, monkeypatch):
    """A weights folder with one tiny variable-rate codec named 'edic', in place of the package's."""
    folder = tmp_path / "weights"
    torch.manual_seed(0)
    config = CodecConfig(**SMALL, lmbdas=(0.002, 0.01))
    model = build_model(config)
    save_codec(model, config, folder / "edic.pt", half=True)
    digest = hashlib.sha256((folder / "edic.pt").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps({"edic": {"file": "edic.pt", "sha256": digest}}))
    monkeypatch.setattr(shipped_module, "WEIGHTS", folder)
    monkeypatch.setattr(shipped_module, "MANIFEST", folder / "manifest.json")
    return folder


def _picture(path: Path, size=(70, 50)) -> Path:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    pixels = np.stack([x * 3 % 256, y * 5 % 256, (x + y) % 256], -1) + rng.integers(0, 20, (*size[::-1], 3))
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)
    return path


def test_compress_and_decompress_need_no_model_flag(tiny_shipped, tmp_path, capsys):
    source = _picture(tmp_path / "photo.png")
    for quality in (1, 2):
        assert main(["edic", "compress", str(source), "-o", str(tmp_path / f"q{quality}"), "--quality",
                     str(quality)]) == 0  # fmt: skip
        assert main(["edic", "decompress", str(tmp_path / f"q{quality}" / "photo.edic"), "-o",
                     str(tmp_path / f"out{quality}")]) == 0  # fmt: skip
        assert Image.open(tmp_path / f"out{quality}" / "photo.png").size == (70, 50)
    assert (tmp_path / "q1" / "photo.edic").read_bytes() != (tmp_path / "q2" / "photo.edic").read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main(["edic", "compress", str(source), "-o", str(tmp_path / "bad"), "--quality", "3"])
    assert exit_info.value.code == 2 and "quality" in capsys.readouterr().err


def test_refined_files_decode_with_the_plain_decoder(tiny_shipped, tmp_path, capsys):
    source = _picture(tmp_path / "photo.png")
    assert main(["edic", "compress", str(source), "-o", str(tmp_path / "r"), "--quality", "1", "--refine", "4",
                 "--refine-lr", "0.05"]) == 0  # fmt: skip
    assert main(["edic", "decompress", str(tmp_path / "r" / "photo.edic"), "-o", str(tmp_path / "d")]) == 0
    assert Image.open(tmp_path / "d" / "photo.png").size == (70, 50)
    for flag, value in (("--refine", "-1"), ("--refine-lr", "0"), ("--lmbda", "nan")):
        with pytest.raises(SystemExit) as exit_info:
            main(["edic", "compress", str(source), "-o", str(tmp_path / "bad"), flag, value])
        assert exit_info.value.code == 2 and flag in capsys.readouterr().err


def test_eval_scores_every_rate_of_the_shipped_codec_with_and_without_search(tiny_shipped, tmp_path):
    source = _picture(tmp_path / "photo.png", (120, 110))
    for steps in ("0", "3"):
        out = tmp_path / f"rd{steps}.json"
        assert main(["edic", "eval", "--images", str(source), "--json", str(out), "--refine", steps]) == 0
        results = json.loads(out.read_text())
        assert sorted(results) == ["shipped:edic@q1", "shipped:edic@q2"]
        assert all(r["images"]["photo"]["bpp"] > 0 for r in results.values())


def test_the_cli_refine_step_size_is_the_library_default():
    from jpegdl.cli.edic import REFINE_LR
    from jpegdl.edic import RefineSettings

    assert RefineSettings().learning_rate == REFINE_LR


def test_checksum_and_unknown_codecs_are_refused(tiny_shipped, tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown shipped codec"):
        shipped_module.load_shipped("nope")
    data = bytearray((tiny_shipped / "edic.pt").read_bytes())
    data[-100] ^= 1
    (tiny_shipped / "edic.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        shipped_module.load_shipped("edic")
    stream = tmp_path / "x.edic"
    from jpegdl.edic import EdicStream, pack

    stream.write_bytes(pack(EdicStream(b"12345678", 8, 8, (1, 1), (b"\0" * 4, b"\0" * 4))))
    with pytest.raises(SystemExit) as exit_info:
        main(["edic", "decompress", str(stream), "-o", str(tmp_path / "o")])
    assert exit_info.value.code == 2 and "x.edic" in capsys.readouterr().err


@pytest.mark.skipif(not shipped_module.MANIFEST.is_file(), reason="no shipped codecs in this checkout")
@pytest.mark.parametrize("name", sorted(shipped_module.manifest()) or ["edic"])
def test_shipped_codecs_round_trip_bit_exactly_across_processes(name, tmp_path):
    source = _picture(tmp_path / "photo.png", (96, 80))
    _, config = shipped_module.load_shipped(name)
    assert config.rates == 4
    cli = [sys.executable, "-m", "jpegdl.cli"]
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    outputs = []
    for run in range(2):
        subprocess.run([*cli, "edic", "compress", str(source), "-o", str(tmp_path / f"e{run}"), "--codec", name,
                        "--quality", "1", "--refine", "2"], check=True, env=env, capture_output=True)  # fmt: skip
        subprocess.run([*cli, "edic", "decompress", str(tmp_path / f"e{run}" / "photo.edic"), "-o",
                        str(tmp_path / f"d{run}")], check=True, env=env, capture_output=True)  # fmt: skip
        outputs.append(((tmp_path / f"e{run}" / "photo.edic").read_bytes(),
                        (tmp_path / f"d{run}" / "photo.png").read_bytes()))
    assert outputs[0] == outputs[1]


def test_decompress_precision_flag(tiny_shipped, tmp_path, capsys):
    from jpegdl.edic import decode_image
    from jpegdl.edic.shipped import load_shipped

    source = _picture(tmp_path / "photo.png")
    assert main(["edic", "compress", str(source), "-o", str(tmp_path / "e"), "--quality", "2"]) == 0
    stream = tmp_path / "e" / "photo.edic"
    model, config = load_shipped("edic")
    for precision in ("float32", "bfloat16"):
        assert main(["edic", "decompress", str(stream), "-o", str(tmp_path / precision), "--precision", precision]) == 0
        expected = decode_image(model, config, stream.read_bytes(), precision=precision)
        expected = (expected[0] * 255).round().byte().permute(1, 2, 0).numpy()
        assert np.array_equal(np.asarray(Image.open(tmp_path / precision / "photo.png")), expected)
    with pytest.raises(SystemExit) as exit_info:
        main(["edic", "decompress", str(stream), "-o", str(tmp_path / "bad"), "--precision", "float16"])
    assert exit_info.value.code == 2 and "--precision" in capsys.readouterr().err

"""Hostile ``.edic`` files and EDIC commands: no native crash, no unbounded allocation, no lost file."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("compressai")

from jpegdl.cli import main
from jpegdl.edic import CodecConfig, build_model, decode_image, encode_image, model_id
from jpegdl.edic.bitstream import EdicStream, pack, unpack
from jpegdl.edic.checkpoint import save_codec
from tests.helpers import cli_usage_error
from tests.hostile import craft
from tests.hostile.conftest import ROOT, picture, tree

SMALL = {"channels": 8, "latent_channels": 8, "enhance_channels": 8, "enhance_blocks": 1, "enhance_residuals": 1}


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    torch.manual_seed(0)
    config = CodecConfig(**SMALL)
    model = build_model(config).eval()
    for parameter in model.parameters():
        parameter.data.add_(torch.randn_like(parameter) * 1e-3)
    path = save_codec(model, config, tmp_path_factory.mktemp("codec") / "codec.pt")
    return model, config, model_id(model, config), path


def _image(height: int, width: int, seed: int) -> torch.Tensor:
    return torch.rand(3, height, width, generator=torch.Generator().manual_seed(seed))


def _mutants(valid: list[EdicStream], seed: int = 0) -> dict[str, bytes]:
    """Variants of valid streams, each with a correct CRC-32 (the CRC catches accidents, not attacks)."""
    rng = np.random.default_rng(seed)
    out: dict[str, bytes] = {}
    for k, stream in enumerate(valid):
        y, z = stream.strings
        for cut in (8, len(y) // 2 // 4 * 4) if k else (8, 12, len(y) // 2 // 4 * 4, len(y) - 4):  # whole words
            out[f"{k}-cut-y-{cut}"] = pack(replace(stream, strings=(y[:cut], z)))
        for flip in range(2 if k else 4):  # bit flips inside the strings
            data = bytearray(y + z)
            for _ in range(1 + 2 * flip):
                data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
            out[f"{k}-flip-{flip}"] = pack(replace(stream, strings=(bytes(data[: len(y)]), bytes(data[len(y) :]))))
        if k:
            continue
        out[f"{k}-cut-z-8"] = pack(replace(stream, strings=(y, z[:8])))
        out[f"{k}-swapped"] = pack(replace(stream, strings=(z, y)))
        for height, width in ((256, 256), (320, 64), (1, 1)):  # another claimed size, the same strings
            latent = (-(-height // 64), -(-width // 64))
            out[f"{k}-claims-{height}x{width}"] = pack(replace(stream, height=height, width=width, latent_shape=latent))
        for length in (8, 4096):  # random strings of whole words, the rest of the header valid
            noise = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
            out[f"{k}-noise-y-{length}"] = pack(replace(stream, strings=(noise, z)))
            out[f"{k}-noise-z-{length}"] = pack(replace(stream, strings=(y, noise)))
    stream = valid[0]
    out["ones-256"] = pack(replace(stream, height=256, width=256, latent_shape=(4, 4), strings=(b"\xff" * 8,) * 2))
    out["zeros-256"] = pack(replace(stream, height=256, width=256, latent_shape=(4, 4), strings=(bytes(8),) * 2))
    return out


def test_preconditions_refuse_before_the_native_decoder_runs(codec, monkeypatch):
    model, config, identity, _ = codec
    import compressai.ans

    class Forbidden:
        def decode_with_indexes(self, *args):
            raise AssertionError("the native decoder ran on a stream the preconditions should refuse")

    monkeypatch.setattr(compressai.ans, "RansDecoder", Forbidden)
    stream = EdicStream(identity, 1024, 1024, (16, 16), (b"abcd", b"wxyz"))  # the 46-byte file of the issue
    assert len(pack(stream)) == 46
    cases = {
        "is a multiple of 4 bytes, at least 8": pack(stream),
        "multiple of 4 bytes": pack(replace(stream, strings=(b"x" * 10, b"y" * 8))),
        "above the limit of": pack(replace(stream, height=65535, width=65535, latent_shape=(1024, 1024))),
        "expected 2 coded strings": pack(replace(stream, strings=(b"x" * 8,) * 3)),
        "latent shape": pack(replace(stream, latent_shape=(3, 16), strings=(b"x" * 8,) * 2)),
        "made by model": pack(replace(stream, model_id=bytes(8), strings=(b"x" * 8,) * 2)),
    }
    for message, data in cases.items():
        with pytest.raises(ValueError, match=message):
            decode_image(model, config, data, identity)
    data = bytearray(pack(replace(stream, strings=(b"x" * 8,) * 2)))
    data[17:21] = (0).to_bytes(4, "big")  # width 0, CRC left stale: the header check comes first either way
    with pytest.raises(ValueError, match="corrupt"):
        unpack(bytes(data))


def test_mutated_streams_never_crash_the_decoder(codec, tmp_path):
    """Every mutant decodes (to the claimed size) or is refused in one line, in a capped subprocess: no
    signal, no traceback, no allocation above 1 GiB over the imports."""
    model, config, identity, path = codec
    valid = [unpack(encode_image(model, config, _image(h, w, s), identity)) for h, w, s in ((64, 64, 0), (70, 130, 1))]
    mutants = _mutants(valid)
    folder = tmp_path / "mutants"
    (folder / "cli").mkdir(parents=True)
    for name, data in mutants.items():
        (folder / f"{name}.edic").write_bytes(data)
    (folder / "cli" / "issue.edic").write_bytes(pack(EdicStream(identity, 1024, 1024, (16, 16), (b"abcd", b"wxyz"))))
    (folder / "cli" / "ones.edic").write_bytes(mutants["ones-256"])
    deep = craft.png(tmp_path / "deep.png", 9000, 9000, bit_depth=16)  # 158 KB, 81 megapixels of 16 bits
    large = craft.png(tmp_path / "large.png", 4096, 4096)  # 59 KB: more than 6 GiB through EDIC unchecked
    commands = [["encode", str(deep), str(tmp_path / "o.jpg"), "-q", "50"],
                ["edic", "compress", str(large), "-o", str(tmp_path / "o"), "-m", str(path)]]  # fmt: skip
    (folder / "commands.json").write_text(json.dumps(commands))
    environment = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                   "JPEGDL_HOSTILE_MARKER": str(tmp_path / "programs"), "PYTHONWARNINGS": "ignore::FutureWarning"}
    result = subprocess.run([sys.executable, "-m", "tests.hostile.edic_victim", str(path), str(folder)],
                            capture_output=True, text=True, timeout=600, env=environment, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-3000:]}\n{result.stdout[-2000:]}"
    assert "Traceback" not in result.stderr and not (tmp_path / "programs").exists()
    outcomes = dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)
    assert len(outcomes) == len(mutants) + 2 + len(commands), result.stdout
    for name, data in mutants.items():
        outcome = outcomes[f"{name}.edic"]
        claimed = unpack(data)
        expected = f"ok {claimed.height}x{claimed.width}"
        assert outcome == expected or outcome.startswith("refused: data:"), (name, outcome)
    assert outcomes["CLI issue.edic"] == "2" and outcomes["CLI ones.edic"] in ("0", "2")
    limits = ("9000x9000, above the limit of 50000000", "4096x4096, above the limit of 4200000")
    for index, message in enumerate(limits):
        code, err = outcomes[f"CMD {index}"].split("\t", 1)
        assert code == "2" and message in err and err.count("\\n") == 1, err


def test_compress_and_decompress_never_replace_a_users_file(codec, tmp_path, capsys, no_programs):
    _, _, _, path = codec
    photos = tmp_path / "photos"
    photos.mkdir()
    picture(photos / "a.png", (40, 30))
    picture(photos / "a.jpg", (40, 30), seed=1)
    picture(photos / "b.png", (20, 20), seed=2)
    before = tree(photos)
    out = tmp_path / "out"
    line = cli_usage_error(["edic", "compress", str(photos / "a.png"), str(photos / "a.jpg"), "-o", str(out), "-m",
                            str(path)], capsys)  # fmt: skip
    assert "would both be written to" in line and not out.exists()
    assert main(["edic", "compress", str(photos / "a.png"), str(photos / "b.png"), "-o", str(out), "-m",
                 str(path)]) == 0  # fmt: skip
    # Decompressing into the folder of the originals: refused, with and without --overwrite.
    for extra in ([], ["--overwrite"]):
        line = cli_usage_error(["edic", "decompress", str(out / "a.edic"), "-o", str(photos), "-m", str(path),
                                *extra], capsys)  # fmt: skip
        assert "a.png" in line and ("already exist" in line or "not written by jpegdl" in line)
    assert tree(photos) == before
    # Its own outputs may be replaced with --overwrite; a batch goes on past a bad input.
    craft.eps(photos / "evil.png")
    with pytest.raises(SystemExit) as exit_info:
        main(["edic", "compress", str(photos / "evil.png"), str(photos / "b.png"), "-o", str(out), "-m", str(path),
              "--overwrite"])  # fmt: skip
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "evil.png" in err and "not a picture in a format jpegdl reads" in err and "Traceback" not in err
    (out / "mine.edic").write_bytes(b"the user's own file")
    (photos / "mine.png").write_bytes((photos / "b.png").read_bytes())
    line = cli_usage_error(["edic", "compress", str(photos / "mine.png"), "-o", str(out), "-m", str(path),
                            "--overwrite"], capsys)  # fmt: skip
    assert "not written by jpegdl" in line and (out / "mine.edic").read_bytes() == b"the user's own file"


def test_pixel_limits_and_devices(codec, tmp_path, capsys):
    _, _, _, path = codec
    big = craft.png(tmp_path / "big.png", 4096, 4096)  # 59 KB, 16.8 megapixels
    line = cli_usage_error(["edic", "compress", str(big), "-o", str(tmp_path / "o"), "-m", str(path)], capsys)
    assert "4096x4096, above the limit of 4200000 pixels" in line
    line = cli_usage_error(["edic", "decompress", "/dev/zero", "-o", str(tmp_path / "o"), "-m", str(path)], capsys)
    assert "not a regular file" in line
    fifo = craft.fifo(tmp_path / "pipe.edic")
    line = cli_usage_error(["edic", "decompress", str(fifo), "-o", str(tmp_path / "o"), "-m", str(path)], capsys)
    assert "not a regular file" in line
    line = cli_usage_error(["edic", "compress", str(big), "-o", str(tmp_path / "o"), "-m", "/dev/zero"], capsys)
    assert "checkpoint" in line


def test_a_codec_config_asking_for_a_huge_model_is_refused_before_building_it(codec, tmp_path, capsys):
    _, config, _, path = codec
    import json
    import shutil

    shutil.copy(path, tmp_path / "codec.pt")
    (tmp_path / "codec.json").write_text(json.dumps({**config.to_dict(), "channels": 2048, "latent_channels": 2048}))
    line = cli_usage_error(["edic", "decompress", str(tmp_path / "x.edic"), "-o", str(tmp_path / "o"), "-m",
                            str(tmp_path / "codec.pt")], capsys)  # fmt: skip
    assert "builds a model of" in line and "refused before building it" in line


def test_edic_train_keeps_an_existing_codec(codec, tmp_path, capsys):
    _, _, _, path = codec
    folder = tmp_path / "run" / "lambda-0.013"
    folder.mkdir(parents=True)
    (folder / "codec.pt").write_bytes(path.read_bytes())
    before = tree(tmp_path / "run")
    line = cli_usage_error(["edic", "train", "--data", str(tmp_path), "-o", str(tmp_path / "run")], capsys)
    assert "codec.pt' already exists" in line and "--overwrite" in line
    assert tree(tmp_path / "run") == before


def test_the_isolated_decoder_equals_the_native_one_with_and_without_a_limit(codec):
    """The forked child decodes exactly what the in-place decoder does, whether or not an address-space
    limit is already in force (the child only ever lowers it)."""
    import resource

    model, config, identity, _ = codec
    data = encode_image(model, config, _image(64, 96, 2), identity)
    in_place = decode_image(model, config, data, identity, trusted=True)
    assert torch.equal(decode_image(model, config, data, identity), in_place)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (2**45, hard))
        assert torch.equal(decode_image(model, config, data, identity), in_place)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

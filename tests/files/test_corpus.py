"""Files the world writes (tests/files/corpus, from public test suites: see build_corpus.py).

Fast tests check the exact decoder on every sampling mode and colour space, the limits and
the messages in this process; the slow one runs every reader on every committed file, each in
its own process with a time and address-space limit (corpus_runner.py).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from jpegdl.files import decode_pixels, inspect, read_coefficients, read_image
from jpegdl.jpeg import decode

CORPUS = Path(__file__).parent / "corpus"
EXACT = sorted(p.name for p in CORPUS.glob("made--*.jpg") if not p.name.startswith(("made--bomb", "made--trunc")))
CMYK_SAMPLE = "pillow--Tests-images-pil_sample_cmyk.jpg"
# Inexact decodes documented in docs/codec.md, with the PSNR (dB) against Pillow they must keep.
# Both are corrupt: libjpeg-turbo 2.1 (jpeglib, whose coefficients jpegdl decodes exactly) and 3.x
# (Pillow) recover from their broken scan data differently.
DOCUMENTED_APPROXIMATE: dict[str, float] = {
    "fuzzing-corpus--jpg-mozilla-5482a54657765056f1a94116a8dbffe7.jpg": 15.5,
    "fuzzing-corpus--jpg-mozilla-b55977028a3a574336966b6536640fc9.jpg": 12.5,
}


def _pillow(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        return np.asarray(image)


def _ours(path: Path) -> np.ndarray:
    coefficients = read_coefficients(path)
    pixels = torch.floor(decode(coefficients)[0] * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    if coefficients.num_channels == 4:
        return 255 - pixels  # Pillow reads CMYK as Adobe's inverted CMYK
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


@pytest.mark.parametrize("name", EXACT)
def test_exact_decode_equals_libjpeg_turbo_for_every_sampling_and_colour_space(name):
    path = CORPUS / name
    assert np.array_equal(_ours(path), _pillow(path))


def test_the_made_files_cover_every_mode():
    made = {inspect(CORPUS / name).subsampling for name in EXACT} | {inspect(CORPUS / name).color for name in EXACT}
    expected = {"4:4:4", "4:2:2", "4:4:0", "4:2:0", "4:1:1", "4:1:0", "2x2,1x2,1x1", "1x1,2x2,1x1",
                "grayscale", "ycbcr", "rgb", "cmyk", "ycck"}  # fmt: skip
    assert expected <= made


def test_arithmetic_coded_files_decode_exactly():
    path = CORPUS / "libjpeg-turbo--testimages-testimgari.jpg"
    assert inspect(path).frame == "arithmetic"
    assert np.array_equal(_ours(path), _pillow(path))


def test_a_small_file_claiming_a_huge_frame_is_refused_before_allocation():
    path = CORPUS / "made--bomb-8146x8500.jpg"
    assert path.stat().st_size < 20_000
    for reader in (read_coefficients, decode_pixels, lambda p: decode_pixels(p, "turbo210")):
        with pytest.raises(ValueError, match=r"claims 8146x8500 pixels .* too few to code them") as caught:
            reader(path)
        assert path.name in str(caught.value) and "\n" not in str(caught.value)


def test_the_pixel_limit_is_an_argument(tmp_path):
    path = CORPUS / "made--sampling-420.jpg"
    for reader in (read_coefficients, decode_pixels):
        with pytest.raises(ValueError, match="above the limit of 1000"):
            reader(path, max_pixels=1000)
    with pytest.raises(ValueError, match="max_pixels"):
        read_coefficients(path, max_pixels=0)


@pytest.mark.parametrize("name", ["libjpeg-turbo--testimages-testorig12.jpg", "made--truncated-half.jpg"])
def test_unreadable_files_get_one_line_naming_the_file_never_a_temporary_path(name):
    path = CORPUS / name
    for reader in (read_coefficients, lambda p: decode_pixels(p, "turbo210"), lambda p: decode_pixels(p, "6b")):
        with pytest.raises(ValueError) as caught:
            reader(path)
        message = str(caught.value)
        assert name in message and "\n" not in message
        assert "/dev/shm" not in message and "jpegdl-" not in message


def test_hundreds_of_icc_chunks_do_not_hit_the_dependency_s_marker_limit():
    path = CORPUS / "made--icc-254-chunks.jpg"
    assert path.read_bytes().count(b"ICC_PROFILE") == 254
    assert read_coefficients(path).num_channels == 3
    assert decode_pixels(path, "turbo210").shape == _pillow(path).shape


@pytest.mark.parametrize("decoder", ["pillow", "turbo210", "6b"])
@pytest.mark.parametrize("name", ["made--cmyk-adobe.jpg", "made--cmyk-no-adobe.jpg", CMYK_SAMPLE])
def test_read_image_turns_cmyk_into_rgb_as_pillow_does(decoder, name):
    path = CORPUS / name
    with Image.open(path) as image:
        expected = np.asarray(image.convert("RGB"))
    image = read_image(path, decoder)
    assert image.shape == (1, 3, *expected.shape[:2])
    assert np.array_equal(torch.round(image[0] * 255).to(torch.uint8).permute(1, 2, 0).numpy(), expected)


def test_read_image_with_pillow_reads_what_pillow_reads_but_bombs():
    bombs = 0
    for path in sorted(CORPUS.glob("*.jp*g")):
        try:
            expected = _pillow(path)
        except Exception:
            continue
        if expected.ndim == 3 and expected.shape[-1] == 4:
            continue  # CMYK: the test above
        if path.read_bytes()[:2] != b"\xff\xd8":
            continue  # a PNG or GIF named .jpg: Pillow reads it, read_image reads JPEG files
        try:
            assert decode_pixels(path, "pillow").shape == expected.shape, path.name
        except ValueError as err:  # the guard refuses frames the scan data cannot back, as documented
            assert "too few to code them" in str(err), str(err)
            bombs += 1
    assert 1 <= bombs <= 5


@pytest.mark.slow
def test_every_reader_on_every_corpus_file_in_its_own_process(tmp_path):
    out = tmp_path / "corpus.json"
    command = [sys.executable, "-m", "tests.files.corpus_runner", str(CORPUS), "--json", str(out),
               "--timeout", "180", "--memory", "2048", "--jobs", "2"]  # fmt: skip
    root = Path(__file__).resolve().parents[2]
    subprocess.run(command, check=True, cwd=root, capture_output=True, timeout=1800)
    result = json.loads(out.read_text())
    assert result["files"] == len([p for p in CORPUS.iterdir() if p.suffix != ".json"])
    assert result["problems"] == []
    for record in result["records"]:
        if record.get("exact") == "approximate":
            assert record["psnr"] >= DOCUMENTED_APPROXIMATE[record["file"]], record["file"]
        else:
            assert record.get("exact") in (None, "equal", "pillow refuses"), record

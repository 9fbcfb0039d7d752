"""Hostile pictures: disguised formats (no external program, whatever the suffix), pixel bombs, one reader."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from jpegdl.cli import main
from jpegdl.files.pictures import PICTURE_FORMATS, read_picture, read_rgb
from tests.helpers import cli_usage_error
from tests.hostile import craft
from tests.hostile.conftest import picture, tree

SUFFIXES = (".png", ".jpg", ".tif", ".webp", ".bmp", ".gif")


@pytest.mark.parametrize("binary_header", [False, True])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_postscript_under_any_picture_name_is_refused_without_running_ghostscript(
    tmp_path, no_programs, fake_ghostscript, suffix, binary_header
):
    path = craft.eps(tmp_path / f"photo{suffix}", binary_header)
    with Image.open(path) as image:  # Pillow alone would take it for EPS (and call Ghostscript to load it)
        assert image.format == "EPS"
    for reader in (read_picture, read_rgb):
        with pytest.raises(ValueError, match="not a picture in a format jpegdl reads"):
            reader(path)


@pytest.mark.parametrize("suffix", SUFFIXES[:3])
def test_encode_and_compress_refuse_postscript_and_compress_goes_on(tmp_path, capsys, no_programs, fake_ghostscript,
                                                                    suffix):  # fmt: skip
    source = tmp_path / "in"
    source.mkdir()
    picture(source / "good.png")
    craft.eps(source / f"evil{suffix}")
    before = tree(source)
    line = cli_usage_error(["encode", str(source / f"evil{suffix}"), str(tmp_path / "out.jpg"), "-q", "50"], capsys)
    assert f"evil{suffix}" in line and "not a picture in a format jpegdl reads" in line
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", str(source), str(tmp_path / "out"), "--tables", _tables(tmp_path)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert f"evil{suffix}" in err and "Traceback" not in err
    assert (tmp_path / "out" / "good.jpg").is_file() and not (tmp_path / "out" / "evil.jpg").exists()
    assert tree(source) == before


def _tables(tmp_path) -> str:
    from jpegdl.jpeg import QuantTables

    path = tmp_path / "tables.json"
    if not path.exists():
        QuantTables.from_quality(60).save(path)
    return str(path)


@pytest.mark.parametrize("kind", ["PCX", "TGA", "SGI", "ICO", "QOI"])
def test_formats_outside_the_allowlist_are_refused_whatever_the_suffix(tmp_path, kind, no_programs):
    path = tmp_path / "picture.png"
    Image.new("RGB", (16, 16), (10, 200, 30)).save(path, kind)
    with Image.open(path) as image:
        assert image.format == kind and kind not in PICTURE_FORMATS
    with pytest.raises(ValueError, match="not a picture in a format jpegdl reads"):
        read_picture(path)


def test_an_image_folder_dataset_refuses_a_disguised_file(tmp_path, no_programs, fake_ghostscript):
    from jpegdl.data import create_dataset

    for name in ("a", "b"):
        (tmp_path / "train" / name).mkdir(parents=True)
        picture(tmp_path / "train" / name / "ok.png")
    craft.eps(tmp_path / "train" / "b" / "evil.jpg")
    dataset, _ = create_dataset(f"imagefolder:{tmp_path}", "train", augment=False)
    evil = next(i for i, (path, _) in enumerate(dataset.samples) if path.endswith("evil.jpg"))
    with pytest.raises(ValueError, match=r"evil\.jpg.*not a picture in a format jpegdl reads"):
        dataset[evil]
    assert dataset[0][0].shape[0] == 3


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (65_535, 2), (2, 70_000), (20_000, 20_000)])
def test_a_header_claiming_a_huge_picture_is_refused_from_the_header(tmp_path, capsys, width, height):
    path = craft.png(tmp_path / "bomb.png", width, height, rows=False)
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"above the limit of \d+ pixels|at most 65500 per side"):
        read_picture(path)
    line = cli_usage_error(["encode", str(path), str(tmp_path / "o.jpg"), "-q", "50"], capsys)
    assert "bomb.png" in line and time.perf_counter() - started < 5
    assert not (tmp_path / "o.jpg").exists()


def test_a_small_16_bit_picture_of_81_megapixels_is_refused_from_its_header(tmp_path, capsys):
    """(Its refusal under an address-space cap runs with the capped EDIC victim, tests/hostile/test_edic.py.)"""
    path = craft.png(tmp_path / "deep.png", 9000, 9000, bit_depth=16)
    assert path.stat().st_size < 400_000
    started = time.perf_counter()
    line = cli_usage_error(["encode", str(path), str(tmp_path / "o.jpg"), "-q", "50"], capsys)
    assert "9000x9000, above the limit of 50000000 pixels" in line and "--max-pixels" in line
    assert time.perf_counter() - started < 2


def test_the_max_pixels_flag_and_variable_set_the_limit(tmp_path, capsys, monkeypatch):
    path = picture(tmp_path / "p.png", (40, 30))
    line = cli_usage_error(["encode", str(path), str(tmp_path / "o.jpg"), "-q", "50", "--max-pixels", "1000"], capsys)
    assert "40x30, above the limit of 1000 pixels" in line
    assert main(["encode", str(path), str(tmp_path / "o.jpg"), "-q", "50", "--max-pixels", "1200"]) == 0
    import jpegdl.limits

    monkeypatch.setenv("JPEGDL_MAX_PIXELS", "1000")
    assert jpegdl.limits.PICTURE_PIXELS.value() == 1000
    monkeypatch.setenv("JPEGDL_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="JPEGDL_MAX_PIXELS: expected a positive integer"):
        jpegdl.limits.PICTURE_PIXELS.value()


def test_edic_reads_pictures_through_the_one_reader(tmp_path):
    """16-bit grayscale is scaled (it came in 99.6 % white) and the EXIF orientation is applied."""
    from jpegdl.cli.edic import _read_rgb

    Image.fromarray(np.full((8, 12), 32768, dtype=np.uint16)).save(tmp_path / "deep.png")
    image = _read_rgb(str(tmp_path / "deep.png"))
    assert image.shape == (3, 8, 12) and np.allclose(image.numpy(), 128 / 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "turned.jpg", exif=exif)
    assert _read_rgb(str(tmp_path / "turned.jpg")).shape == (3, 30, 20)
    assert np.array_equal(read_rgb(tmp_path / "deep.png")[..., 0], read_picture(tmp_path / "deep.png"))
    with pytest.raises(ValueError, match="above the limit of 50 pixels"):
        _read_rgb(str(tmp_path / "deep.png"), max_pixels=50)

"""Files from elsewhere: header claims, odd colour modes, corrupt bytes. A clear error or a right answer."""

import io
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from jpegdl.files import decode_pixels, inspect, read_coefficients, read_frame_header, read_picture


def _jpeg(array: np.ndarray | Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _claim_size(data: bytes, height: int, width: int) -> bytes:
    """The same stream with a frame header that claims another size."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[sof + 9 :]


@pytest.fixture(scope="module")
def small() -> bytes:
    return _jpeg(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8))


def test_a_huge_header_claim_is_reported_from_the_header_and_refused_before_decoding(small):
    huge = _claim_size(small, 65500, 65500)
    started = time.perf_counter()
    info = inspect(huge)
    assert (info.width, info.height) == (65500, 65500) and time.perf_counter() - started < 1.0
    for reader in (read_coefficients, decode_pixels):
        with pytest.raises(ValueError, match="claims 65500x65500 pixels, above the limit"):
            reader(huge)


def test_a_zero_size_claim_is_a_clear_error(small):
    with pytest.raises(ValueError, match="claims a 0x16 image"):
        inspect(_claim_size(small, 16, 0))


def test_info_is_exact_for_grayscale_422_440_progressive_and_cmyk(photos):
    gray = inspect(_jpeg(photos["chelsea"][..., 0]))
    assert gray.components == 1 and gray.color == "grayscale" and "chroma" not in gray.to_dict()["tables"]
    assert inspect(_jpeg(photos["chelsea"], subsampling=1)).subsampling == "4:2:2"
    assert inspect(_jpeg(photos["chelsea"], progressive=True)).frame == "progressive"
    cmyk = _jpeg(Image.fromarray(photos["chelsea"]).convert("CMYK"))
    assert (inspect(cmyk).components, inspect(cmyk).color) == (4, "cmyk")
    coefficients = read_coefficients(cmyk)
    assert (coefficients.color, coefficients.num_channels) == ("cmyk", 4)
    assert decode_pixels(cmyk).shape == photos["chelsea"].shape  # decoded to RGB, not 4 channels


def test_4_4_0_sampling_is_named(photos):
    data = _jpeg(photos["chelsea"], subsampling=0)
    sof = data.index(b"\xff\xc0")
    luma_factors = sof + 11  # FF C0, length (2), precision, height (2), width (2), count, id, factors
    header = read_frame_header(data[:luma_factors] + bytes([0x12]) + data[luma_factors + 1 :])
    assert header.subsampling == "4:4:0"


@pytest.mark.parametrize(
    ("mode", "expected_shape"),
    [("L", (20, 30)), ("LA", (20, 30)), ("P", (20, 30, 3)), ("RGBA", (20, 30, 3)), ("1", (20, 30))],
)
def test_picture_modes_read_as_pillow_users_expect(tmp_path, photos, mode, expected_shape):
    image = Image.fromarray(photos["chelsea"][:20, :30]).convert(mode)
    image.save(tmp_path / "p.png")
    assert read_picture(tmp_path / "p.png").shape == expected_shape


def test_16_bit_pictures_are_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(tmp_path / "deep.png")
    assert read_picture(tmp_path / "deep.png").mean() == 128


def test_exif_orientation_is_applied(tmp_path, photos):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(photos["chelsea"][:20, :30]).save(tmp_path / "turned.jpg", exif=exif)
    assert read_picture(tmp_path / "turned.jpg").shape == (30, 20, 3)


def test_pictures_above_the_pixel_limit_are_refused_from_the_header(tmp_path):
    Image.new("L", (400, 300)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="above the limit of 1000 pixels"):
        read_picture(tmp_path / "big.png", max_pixels=1000)
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(ValueError, match="cannot read picture"):
        read_picture(tmp_path / "junk.png")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupt_bytes_of_real_files_give_clear_errors_or_valid_results(photos, data):
    original = _jpeg(photos["coffee"][:40, :48], quality=60)
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(2, len(damaged)))
    damaged = bytes(damaged[:cut])
    for reader in (inspect, read_coefficients):
        try:
            result = reader(damaged)
        except ValueError as err:
            assert "\n" not in str(err)
            continue
        if reader is read_coefficients:
            assert torch.isfinite(result.luma).all()

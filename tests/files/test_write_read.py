import numpy as np
import pytest
import torch

from jpegdl import encode
from jpegdl.files import (
    DECODERS,
    bits_per_pixel,
    decode_pixels,
    frame_type,
    inspect,
    jpeg_bytes,
    mozjpeg_encode,
    parse_segments,
    payload_bytes,
    read_coefficients,
    read_image,
    write_coefficients,
)
from jpegdl.jpeg import QuantTables, make_quantizer
from tests.helpers import pillow_pixels, to_tensor

SIZES = [(37, 53), (8, 16), (1, 1), (30, 22)]


def _image(height, width, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return array[..., 0] if channels == 1 else array


def _component_ids(data: bytes) -> list[int]:
    sof = next(s for s in parse_segments(data) if s.marker == 0xC0)
    return [data[sof.offset + 10 + 3 * i] for i in range(data[sof.offset + 9])]


WRITTEN = ["4:4:4", "4:2:0", "4:2:2", "4:4:0", "4:1:1", "4:1:0", "2x2,1x2,1x1"]
# libjpeg-turbo's fancy 1x2 upsampling is newer than IJG 6b, which replicates those rows.
_VERTICAL_ONLY = {"4:4:0", "2x2,1x2,1x1"}


@pytest.mark.parametrize("subsampling", WRITTEN)
@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_coefficient_files_round_trip_and_open_everywhere(subsampling, height, width, channels):
    x = to_tensor(_image(height, width, channels))
    tables = QuantTables.from_quality(60)
    coefficients = encode(x, tables, subsampling)
    data = write_coefficients(coefficients)
    assert frame_type(data) == "baseline"
    back = read_coefficients(data)
    assert back.size == (height, width)
    assert all(torch.equal(a, b) for a, b in zip(back.components, coefficients.components, strict=True))
    assert torch.equal(back.tables.luma, tables.luma)
    if channels == 3:
        assert back.subsampling == subsampling and _component_ids(data) == [1, 2, 3]
    # Identical to what libjpeg-turbo itself writes for the same pixels and tables.
    reference = jpeg_bytes(x[0], tables, subsampling)
    assert len(data) == len(reference)
    pixels = pillow_pixels(reference)
    for decoder in DECODERS:
        decoded = decode_pixels(data, decoder)
        assert decoded.shape == pixels.shape
        if channels == 1 or subsampling == "4:4:4" or decoder in ("pillow", "turbo210") or (
            decoder == "6b" and subsampling not in _VERTICAL_ONLY
        ):
            # libjpeg 9 upsamples chroma in the DCT domain; everything else is bit-exact.
            assert np.abs(decoded.astype(int) - pixels.astype(int)).max() <= (1 if decoder == "9e" else 0)


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0", "4:2:2", "4:1:1"])
def test_jpeg_bytes_writes_the_tables_as_given(photos, subsampling):
    tables = QuantTables(torch.full((8, 8), 10), torch.full((8, 8), 37))
    data = jpeg_bytes(photos["chelsea"], tables, subsampling)
    info = inspect(data)
    assert torch.equal(info.tables.luma, tables.luma) and torch.equal(info.tables.chroma, tables.chroma)
    assert info.subsampling == subsampling and info.frame == "baseline"
    assert (info.height, info.width) == photos["chelsea"].shape[:2]
    for decoder in DECODERS:
        assert decode_pixels(data, decoder).shape == photos["chelsea"].shape


def test_optimized_huffman_is_smaller_and_decodes_the_same(photos):
    x = photos["coffee"]
    small, large = jpeg_bytes(x, 50, optimize=True), jpeg_bytes(x, 50, optimize=False)
    assert len(small) < len(large)
    assert np.array_equal(pillow_pixels(small), pillow_pixels(large))


def test_payload_is_the_scan_data():
    data = jpeg_bytes(_image(32, 32), 75)
    segments = parse_segments(data)
    headers = sum(2 + s.length for s in segments if s.length) + 2 * sum(1 for s in segments if not s.length)
    assert payload_bytes(data) + headers == len(data)
    assert 0 < payload_bytes(data) < len(data) - 200


def test_mozjpeg_baseline(photos):
    x = photos["astronaut"]
    moz = mozjpeg_encode(x, 75)
    assert frame_type(moz) == "progressive"
    assert torch.equal(inspect(moz).tables.luma, QuantTables.from_quality(75).luma)
    assert len(moz) < len(jpeg_bytes(x, 75))
    for decoder in DECODERS:
        assert decode_pixels(moz, decoder).shape == x.shape
    learned = QuantTables(torch.full((8, 8), 12), torch.full((8, 8), 30))
    assert torch.equal(inspect(mozjpeg_encode(x, learned)).tables.chroma, learned.chroma)
    assert inspect(mozjpeg_encode(x[..., 0].copy(), 50)).components == 1


def test_read_image_and_bpp(tmp_path, photos):
    data = jpeg_bytes(photos["chelsea"], 80)
    path = tmp_path / "c.jpg"
    path.write_bytes(data)
    image = read_image(path)
    assert image.shape == (1, 3, *photos["chelsea"].shape[:2])
    info = inspect(path)
    assert info.bpp == pytest.approx(8 * len(data) / (200 * 200))
    assert info.payload_bpp < info.bpp
    assert bits_per_pixel(100, 10, 10) == 8.0


def test_tensor_and_array_inputs_agree():
    array = _image(20, 30)
    assert jpeg_bytes(array, 70) == jpeg_bytes(to_tensor(array)[0], 70) == jpeg_bytes(to_tensor(array), 70)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a JPEG"),
        (b"GIF89a....", "not a JPEG"),
        ("cut", "truncated"),
        ("garbage", "corrupt|truncated"),
        (123, "bytes"),
    ],
)
def test_corrupt_files_are_rejected(data, message):
    good = jpeg_bytes(_image(16, 16), 75)
    if data == "cut":
        data = good[: len(good) // 2]
    elif data == "garbage":
        data = good[:200] + b"\x00" * 50
    with pytest.raises(ValueError, match=message):
        read_coefficients(data)
    with pytest.raises(ValueError, match=f"{message}|Pillow cannot decode it"):
        decode_pixels(data)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        inspect(tmp_path / "nope.jpg")


def test_export_validation():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"1\.\.255"):
        jpeg_bytes(x, QuantTables(torch.full((8, 8), 300), torch.ones(8, 8, dtype=torch.int64)))
    with pytest.raises(ValueError, match="integer"):
        jpeg_bytes(x, QuantTables.flat(2.5))
    soft = encode(x, 50, quantizer=make_quantizer("soft", alpha=1.0))  # far from integers
    with pytest.raises(ValueError, match="integer indices"):
        write_coefficients(soft)
    huge = encode(x, 50)
    huge = type(huge)(huge.luma * 0 + 2000, huge.chroma, huge.tables, huge.subsampling, huge.size)
    with pytest.raises(ValueError, match="1023"):
        write_coefficients(huge)
    with pytest.raises(ValueError, match="index"):
        write_coefficients(encode(x, 50), index=3)
    with pytest.raises(ValueError, match="one image"):
        jpeg_bytes(torch.rand(2, 3, 8, 8), 50)
    with pytest.raises(ValueError, match="uint8"):
        jpeg_bytes(np.zeros((8, 8, 3)), 50)


@pytest.mark.parametrize("subsampling", WRITTEN)
def test_files_from_our_coefficients_are_byte_identical_to_libjpeg_turbo(photos, subsampling):
    for quality in (20, 75):
        x = to_tensor(photos["coffee"][:61, :97])
        assert write_coefficients(encode(x, quality, subsampling)) == jpeg_bytes(x, quality, subsampling)

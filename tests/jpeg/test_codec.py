"""The codec against libjpeg-turbo itself: coefficients and pixels must be identical."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jpegdl
from jpegdl.jpeg import Coefficients, DiffJPEG, QuantTables, decode, encode
from tests.helpers import libjpeg_coefficients, pillow_jpeg, pillow_pixels, to_tensor

QUALITIES = [1, 10, 50, 75, 90, 95, 100]
SUBSAMPLINGS = ["4:4:4", "4:2:0", "4:2:2", "4:4:0", "4:1:1", "4:1:0", "2x2,1x2,1x1", "1x1,2x2,1x1", "1x2,2x1,1x1"]
# The two modes most files use get every quality; the others two qualities each.
PHOTO_CASES = [(s, q) for s in SUBSAMPLINGS[:2] for q in QUALITIES]
PHOTO_CASES += [(s, q) for s in SUBSAMPLINGS[2:] for q in (10, 90)]


def _as_arrays(coefficients: Coefficients) -> list[np.ndarray]:
    return [c[0].numpy().astype(np.int64) for c in coefficients.components]


def _libjpeg_as_coefficients(data: bytes, tables: QuantTables, subsampling: str, size) -> Coefficients:
    blocks = [torch.from_numpy(b.astype(np.float32))[None] for b in libjpeg_coefficients(data)]
    return Coefficients(blocks[0], tuple(blocks[1:]), tables, subsampling, size)


@pytest.mark.parametrize(("subsampling", "quality"), PHOTO_CASES)
def test_encode_equals_libjpeg_coefficients_on_photos(photos, subsampling, quality):
    tables = QuantTables.from_quality(quality)
    for image in photos.values():
        reference = libjpeg_coefficients(pillow_jpeg(image, tables, subsampling))
        ours = _as_arrays(encode(to_tensor(image), tables, subsampling))
        for mine, theirs in zip(ours, reference, strict=True):
            assert mine.shape == theirs.shape
            assert np.array_equal(mine, theirs)


@pytest.mark.parametrize(("subsampling", "quality"), PHOTO_CASES)
def test_decode_equals_libjpeg_pixels_on_photos(photos, subsampling, quality):
    tables = QuantTables.from_quality(quality)
    for image in photos.values():
        data = pillow_jpeg(image, tables, subsampling)
        size = image.shape[:2]
        decoded = decode(_libjpeg_as_coefficients(data, tables, subsampling, size))
        pixels = torch.round(decoded[0] * 255).to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.array_equal(pixels, pillow_pixels(data))
        round_trip = DiffJPEG(subsampling, quantizer="hard")(to_tensor(image), tables)
        assert torch.equal(round_trip, decoded)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    height=st.integers(1, 67),
    width=st.integers(1, 67),
    channels=st.sampled_from([1, 3]),
    subsampling=st.sampled_from(SUBSAMPLINGS),
    quality=st.integers(1, 100),
    seed=st.integers(0, 2**16),
)
def test_any_size_is_bit_exact_with_libjpeg(height, width, channels, subsampling, quality, seed):
    rng = np.random.default_rng(seed)
    # Smooth content plus noise: realistic coefficients, and saturated pixels at the ends.
    ramp = np.linspace(-40, 300, height * width * channels).reshape(height, width, channels)
    array = np.clip(ramp + rng.normal(0, 30, ramp.shape), 0, 255).astype(np.uint8)
    array = array[..., 0] if channels == 1 else array
    tables = QuantTables.from_quality(quality)
    data = pillow_jpeg(array, tables, subsampling)
    coefficients = encode(to_tensor(array), tables, subsampling)
    for mine, theirs in zip(_as_arrays(coefficients), libjpeg_coefficients(data), strict=True):
        assert np.array_equal(mine, theirs)
    decoded = decode(coefficients)
    assert decoded.shape == (1, channels, height, width)
    pixels = torch.round(decoded[0] * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(pixels.squeeze(-1) if channels == 1 else pixels, pillow_pixels(data))


def test_coefficient_layout_matches_jpeglib():
    x = torch.rand(2, 3, 30, 22)
    c = encode(x, 75, "4:2:0")
    assert c.luma.shape == (2, 4, 3, 8, 8)
    assert [t.shape for t in c.chroma] == [(2, 2, 2, 8, 8)] * 2
    c = encode(x, 75, "4:4:4")
    assert [t.shape for t in c.components] == [(2, 4, 3, 8, 8)] * 3
    assert encode(x[:, :1], 75).chroma == ()
    assert c.size == (30, 22) and c.subsampling == "4:4:4"
    assert c[1].luma.shape == (1, 4, 3, 8, 8)


def test_per_sample_tables_equal_separate_encodes(photos):
    x = torch.cat([to_tensor(img[:64, :64]) for img in photos.values()])
    qualities = [10, 50, 90]
    per_sample = [QuantTables.from_quality(q) for q in qualities]
    stacked = QuantTables(torch.stack([t.luma for t in per_sample]), torch.stack([t.chroma for t in per_sample]))
    batch = encode(x, stacked)
    for i, tables in enumerate(per_sample):
        single = encode(x[i : i + 1], tables)
        assert all(torch.equal(a[i], b[0]) for a, b in zip(batch.components, single.components, strict=True))
        assert torch.equal(decode(batch)[i], decode(single)[0])


def test_float_pipeline_is_close_to_exact(photos):
    x = to_tensor(photos["astronaut"])
    exact = DiffJPEG(quantizer="hard")(x, 75)
    smooth = DiffJPEG(quantizer="hard", exact=False)(x, 75)
    psnr = 10 * torch.log10(1 / ((exact - smooth) ** 2).mean())
    assert psnr > 40


@pytest.mark.parametrize("quantizer", ["ste", "soft", "sampled"])
@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0", "4:2:2", "4:4:0", "4:1:1"])
def test_gradients_reach_images_and_tables(quantizer, subsampling):
    x = torch.rand(2, 3, 19, 27, requires_grad=True)
    luma = QuantTables.from_quality(50).luma.float().requires_grad_()
    chroma = QuantTables.from_quality(50).chroma.float().requires_grad_()
    out = DiffJPEG(subsampling, quantizer)(x, QuantTables(luma, chroma))
    assert out.shape == x.shape
    (out * torch.randn_like(out)).sum().backward()
    for grad in (x.grad, luma.grad, chroma.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_gradients_survive_saturation_and_extreme_tables():
    x = torch.cat([torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)]).requires_grad_()
    for quality in (1, 100):
        tables = QuantTables.from_quality(quality).to(dtype=torch.float32)
        tables = QuantTables(tables.luma.requires_grad_(), tables.chroma.requires_grad_())
        out = DiffJPEG(quantizer="ste")(x, tables)
        out.sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        assert torch.isfinite(tables.luma.grad).all()
        x.grad = None


def test_hard_quantizer_is_not_differentiable():
    x = torch.rand(1, 1, 16, 16, requires_grad=True)
    assert not DiffJPEG(quantizer="hard")(x, 50).requires_grad


def test_grayscale_uses_luma_table_only():
    x = torch.rand(1, 1, 24, 24)
    a = encode(x, QuantTables(QuantTables.from_quality(50).luma, torch.full((8, 8), 7)))
    b = encode(x, QuantTables(QuantTables.from_quality(50).luma, torch.full((8, 8), 99)))
    assert torch.equal(a.luma, b.luma)


def test_module_has_no_parameters():
    assert list(DiffJPEG().parameters()) == []


def test_top_level_api():
    x = torch.rand(1, 3, 16, 16)
    assert jpegdl.decode(jpegdl.encode(x, jpegdl.QuantTables.from_quality(80))).shape == x.shape


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.rand(3, 8, 8), "shape"),
        (torch.rand(1, 2, 8, 8), "channels"),
        (torch.rand(1, 3, 8, 8) * 2, r"\[0, 1\]"),
        (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
        (torch.full((1, 3, 8, 8), float("inf")), "NaN or Inf"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "floating-point"),
        (np.zeros((1, 3, 8, 8)), "torch.Tensor"),
        (torch.rand(1, 3, 0, 8), "empty"),
    ],
)
def test_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        encode(images, 50)


def test_bad_arguments():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="subsampling"):
        encode(x, 50, subsampling="4:3:1")
    with pytest.raises(ValueError, match="subsampling"):
        encode(x, 50, subsampling="3x1,2x1,1x1")  # fractional: 3 is not a multiple of 2
    with pytest.raises(ValueError, match="subsampling"):
        encode(x, 50, subsampling="4x2,2x1,1x1")  # 11 blocks per MCU, libjpeg allows 10
    with pytest.raises(ValueError, match="quantizer"):
        encode(x, 50, quantizer="nearest")
    with pytest.raises(ValueError, match="tables"):
        encode(x, "high")
    with pytest.raises(ValueError, match="per-sample"):
        encode(x, QuantTables(torch.ones(3, 8, 8), torch.ones(3, 8, 8)))
    with pytest.raises(ValueError, match="coefficients"):
        decode(x)

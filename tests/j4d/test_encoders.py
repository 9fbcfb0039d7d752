import io

import numpy as np
import pytest
import torch
from PIL import Image

from jpegdl.files import decode_pixels, jpeg_bytes, read_coefficients, write_coefficients
from jpegdl.j4d import encode_image, probabilistic_coefficients
from jpegdl.j4d.encoders import rd_coefficients
from jpegdl.jpeg.codec import analyze, encode
from jpegdl.jpeg.quantize import SoftQuantizer
from jpegdl.jpeg.tables import QuantTables


@pytest.fixture
def image(photos):
    return torch.from_numpy(photos["coffee"][:61, :77].copy()).permute(2, 0, 1).float()[None] / 255


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
def test_very_hard_draws_are_libjpeg_rounding(image, subsampling):
    tables = QuantTables.from_quality(40)
    drawn = probabilistic_coefficients(image, tables, hardness=1e6, subsampling=subsampling,
                                       generator=torch.Generator().manual_seed(0))  # fmt: skip
    rounded = encode(image, tables, subsampling)
    # Exact ties (z / q = k + 1/2) are split by the PMF; everything else must agree.
    for a, b in zip(drawn.components, rounded.components, strict=True):
        assert (a != b).float().mean() < 1e-3
    assert encode_image(image[0], tables, subsampling) == jpeg_bytes(image[0], tables, subsampling)


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
def test_probabilistic_files_are_standard_and_hold_the_drawn_indices(image, subsampling):
    tables = QuantTables.from_quality(60)
    drawn = probabilistic_coefficients(image, tables, 1.0, subsampling, torch.Generator().manual_seed(3))
    data = write_coefficients(drawn, 0)
    back = read_coefficients(data)
    for a, b in zip(back.components, drawn.components, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(back.tables.luma, tables.luma)
    pillow = np.asarray(Image.open(io.BytesIO(data)))
    assert pillow.shape == (61, 77, 3)
    for decoder in ("6b", "turbo210", "9e"):
        assert decode_pixels(data, decoder).shape == pillow.shape


def test_draws_are_seeded_and_follow_the_pmf():
    torch.manual_seed(0)
    image = torch.rand(1, 1, 64, 64)
    tables = QuantTables.flat(9.0).rounded()
    def draw(seed: int) -> bytes:
        generator = torch.Generator().manual_seed(seed)
        return encode_image(image[0], tables, encoder="probabilistic", hardness=0.8, generator=generator)

    assert draw(5) == draw(5) and draw(5) != draw(6)
    # Over many draws the mean index is the soft quantizer's conditional mean.
    z = analyze(image, "4:4:4")[0]
    steps = tables.luma.double().view(1, 1, 1, 8, 8)
    soft = SoftQuantizer(alpha=0.8 / steps.square())
    expected = soft(z.double(), steps)
    generator = torch.Generator().manual_seed(1)
    draws = torch.stack([probabilistic_coefficients(image, tables, 0.8, "4:4:4", generator).luma for _ in range(200)])
    error = (draws.mean(0).double() - expected).abs().mean()
    assert error < 0.06  # about 0.8 standard errors of a 200-draw mean
    assert (torch.round(z.double() / steps) - expected).abs().mean() > 2 * error  # rounding is not the PMF's mean


def test_indices_stay_within_baseline_limits():
    image = torch.zeros(1, 1, 16, 16)
    drawn = probabilistic_coefficients(image, QuantTables.flat(1.0).rounded(), hardness=0.05,
                                       generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert drawn.luma[..., 0, 0].min() >= -1024 and drawn.luma.abs().max() <= 1024
    write_coefficients(drawn, 0)


def test_bad_arguments(image):
    with pytest.raises(ValueError, match="encoder"):
        encode_image(image[0], QuantTables.from_quality(50), encoder="trellis")
    with pytest.raises(ValueError, match="hardness"):
        probabilistic_coefficients(image, QuantTables.from_quality(50), hardness=-1.0)
    with pytest.raises(ValueError, match=r"1\.\.255"):
        probabilistic_coefficients(image, QuantTables(torch.full((8, 8), 300), torch.full((8, 8), 300)))


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
def test_rd_encoder_trades_distortion_for_fewer_bytes_and_writes_standard_files(image, subsampling):
    tables = QuantTables.from_quality(75)
    flat = (torch.full((8, 8), 1e-4), torch.full((8, 8), 1e-4))
    rounded = encode(image, tables, subsampling)
    same = rd_coefficients(image, tables, flat, 0.0, subsampling)  # lambda 0: libjpeg's rounding
    for a, b in zip(same.components, rounded.components, strict=True):
        assert torch.equal(a, b)
    cheap = rd_coefficients(image, tables, flat, 50.0, subsampling)
    for a, b in zip(cheap.components, rounded.components, strict=True):
        assert torch.equal(a[..., 0, 0], b[..., 0, 0])  # DC untouched
        assert ((a - b).abs() <= 1).all() and (a.abs() <= b.abs()).all()  # only moves towards zero, by one
    data = encode_image(image[0], tables, subsampling, "rd", sensitivity=flat, lam=50.0)
    assert len(data) < len(jpeg_bytes(image[0], tables, subsampling))
    back = read_coefficients(data)
    for a, b in zip(back.components, cheap.components, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="sensitivity"):
        encode_image(image[0], tables, subsampling, "rd")
    with pytest.raises(ValueError, match="lam"):
        rd_coefficients(image, tables, flat, -1.0, subsampling)

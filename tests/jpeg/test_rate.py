import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jpegdl.jpeg.codec import analyze, component_steps, encode
from jpegdl.jpeg.quantize import SoftQuantizer
from jpegdl.jpeg.rate import coding_order, entropy_bits, estimate_rate
from jpegdl.jpeg.tables import QuantTables


def _entropy(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _inputs(images, tables, subsampling="4:4:4", dtype=torch.float64, exact=True):
    coefficients = analyze(images.to(dtype), subsampling, exact)
    steps = component_steps(tables.to(dtype=dtype), len(coefficients), dtype)
    return coefficients, steps


def test_entropy_of_known_histograms_and_zero_bins():
    histogram = torch.tensor([[1.0, 1, 1, 1], [2.0, 0, 0, 0], [1.0, 1, 0, 0]], requires_grad=True)
    bits = entropy_bits(histogram)
    assert torch.allclose(bits, torch.tensor([2.0, 0.0, 1.0]))
    bits.sum().backward()
    assert torch.isfinite(histogram.grad).all()


def test_coding_order_raster_and_mcu_groups():
    assert coding_order(2, 3).tolist() == [0, 1, 2, 3, 4, 5]
    # 4 x 4 blocks in 2 x 2 groups: block (r, c) has raster index 4r + c.
    assert coding_order(4, 4, mcu=2).tolist() == [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]
    # Ragged edges: 3 x 3 blocks, the last group row and column hold fewer blocks.
    assert coding_order(3, 3, mcu=2).tolist() == [0, 1, 3, 4, 2, 5, 6, 7, 8]


@pytest.mark.parametrize("quality", [10, 50, 90])
def test_hard_limit_equals_the_entropy_of_rounded_indices(quality):
    """As the hardness grows the estimate becomes the plug-in entropy of the rounded indices.

    The float front end avoids exact ties z / q = k + 1/2 (frequent with libjpeg's integer DCT),
    which rounding sends away from zero and the PMF splits evenly.
    """
    generator = torch.Generator().manual_seed(quality)
    images = torch.rand(6, 1, 24, 40, generator=generator)
    tables = QuantTables.from_quality(quality)
    coefficients, steps = _inputs(images, tables, exact=False)
    hard = SoftQuantizer(alpha=1e4 / steps[0].square())
    indices = encode(images.double(), tables, "4:4:4", exact=False).luma.numpy()  # (B, 3, 5, 8, 8)
    flat = indices.reshape(6, 15, 64)
    expected_ac = sum(_entropy(flat[:, :, m].ravel()) for m in range(1, 64))
    dc = flat[:, :, 0]
    differences = np.diff(np.concatenate([np.zeros((6, 1)), dc], axis=1), axis=1)  # predictor 0 per image
    for dc_mode, expected_dc in (("index", _entropy(dc.ravel())), ("difference", _entropy(differences.ravel()))):
        estimate = estimate_rate(coefficients, steps, hard, (24, 40), "4:4:4", dc=dc_mode)
        assert estimate.bits.shape == (1, 8, 8)
        assert estimate.bits[0, 0, 0].item() == pytest.approx(expected_dc, abs=1e-6)
        assert estimate.bpp.item() == pytest.approx(15 * (expected_dc + expected_ac) / (24 * 40), rel=1e-4)


def test_rate_falls_as_steps_grow_and_the_gradient_says_so():
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    steps_value = torch.full((8, 8), 6.0, dtype=torch.float64, requires_grad=True)
    tables = QuantTables(steps_value, steps_value)
    coefficients = analyze(images.double(), "4:2:0")
    steps = component_steps(tables, 3, torch.float64)
    rate = estimate_rate(coefficients, steps, SoftQuantizer(alpha=2.0 / 36), (32, 32), "4:2:0")
    rate.bpp.backward()
    assert torch.isfinite(steps_value.grad).all() and steps_value.grad.sum() < 0
    coarse = component_steps(QuantTables.flat(24.0).to(dtype=torch.float64), 3, torch.float64)
    coarser = estimate_rate(coefficients, coarse, SoftQuantizer(alpha=2.0 / 24**2), (32, 32), "4:2:0")
    assert coarser.bpp < rate.bpp


@settings(max_examples=15, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    subsampling=st.sampled_from(["4:4:4", "4:2:0"]),
    hardness=st.floats(0.2, 20),
)
def test_estimate_is_finite_non_negative_and_pooling_never_lowers_chroma_bits(height, width, subsampling, hardness):
    images = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(height * 41 + width))
    coefficients, steps = _inputs(images, QuantTables.from_quality(60), subsampling)
    quantizers = [SoftQuantizer(alpha=hardness / s.square()) for s in steps]
    separate = estimate_rate(coefficients, steps, quantizers, (height, width), subsampling)
    pooled = estimate_rate(coefficients, steps, quantizers, (height, width), subsampling, chroma="pooled")
    assert torch.isfinite(separate.bpp) and separate.bpp >= 0
    # The entropy of a mixture is at least the mean entropy of its parts (concavity).
    assert pooled.bits[1].sum() >= separate.bits[1:].sum(0).sum() / 2 - 1e-9


def test_estimate_tracks_real_payload_over_qualities():
    from skimage import data

    from jpegdl.files import jpeg_bytes, payload_bytes

    image = torch.from_numpy(data.camera()[:128, :128].copy()).float()[None, None] / 255
    estimates, payloads = [], []
    for quality in (10, 30, 50, 70, 90):
        tables = QuantTables.from_quality(quality)
        coefficients, steps = _inputs(image, tables)
        estimate = estimate_rate(coefficients, steps, SoftQuantizer(alpha=50 / steps[0].square()), (128, 128))
        estimates.append(estimate.bpp.item())
        payloads.append(8 * payload_bytes(jpeg_bytes(image[0], tables)) / 128**2)
    assert estimates == sorted(estimates) and payloads == sorted(payloads)
    ratios = np.array(estimates) / np.array(payloads)
    assert np.all((ratios > 0.3) & (ratios < 2)), ratios  # one small image: plug-in entropy is biased low


def test_bad_arguments():
    images = torch.rand(1, 1, 8, 8)
    coefficients, steps = _inputs(images, QuantTables.from_quality(50))
    quantizer = SoftQuantizer()
    with pytest.raises(ValueError, match="dc"):
        estimate_rate(coefficients, steps, quantizer, (8, 8), dc="median")
    with pytest.raises(ValueError, match="chroma"):
        estimate_rate(coefficients, steps, quantizer, (8, 8), chroma="mixed")
    with pytest.raises(ValueError, match="quantizer"):
        estimate_rate(coefficients, steps, [quantizer, quantizer], (8, 8))
    with pytest.raises(ValueError, match="subsampling"):
        estimate_rate(coefficients, steps, quantizer, (8, 8), "4:3:1")
    assert math.isfinite(estimate_rate(coefficients, steps, quantizer, (8, 8)).bpp.item())

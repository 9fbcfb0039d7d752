import pytest
import torch

from jpegdl.jpeg.dct import block_dct, block_idct, dct_matrix
from jpegdl.jpeg.islow import fdct_islow, idct_islow, range_limit


def test_dct_is_orthonormal_and_inverts():
    basis = dct_matrix(torch.float64)
    assert torch.allclose(basis @ basis.T, torch.eye(8, dtype=torch.float64))
    x = torch.randn(10, 8, 8, dtype=torch.float64)
    assert torch.allclose(block_idct(block_dct(x)), x)
    flat = torch.full((8, 8), 100.0, dtype=torch.float64)
    assert block_dct(flat)[0, 0].item() == pytest.approx(800.0)


def test_islow_fdct_is_eight_times_the_dct_up_to_fixed_point_error():
    x = torch.randint(-128, 128, (2000, 8, 8))
    error = fdct_islow(x) - 8 * block_dct(x.double())
    assert error.abs().max() < 2


def test_islow_idct_matches_float_idct_closely():
    coefficients = torch.randint(-60, 60, (2000, 8, 8))
    error = idct_islow(coefficients) - block_idct(coefficients.double())
    assert error.abs().max() <= 1


def test_islow_dc_only_block():
    block = torch.zeros(1, 8, 8, dtype=torch.int64)
    block[0, 0, 0] = 80  # DC of a flat block of +10 (orthonormal scale 8 * 10)
    assert idct_islow(block).eq(10).all()
    flat = torch.full((1, 8, 8), 10)
    assert fdct_islow(flat)[0, 0, 0].item() == 8 * 80


def test_range_limit_clamps_then_wraps_like_libjpeg():
    x = torch.tensor([-600, -512, -129, -128, 0, 127, 128, 511, 512, 700])
    assert range_limit(x).tolist() == [255, 0, 0, 0, 128, 255, 255, 255, 0, 0]


def test_matrix_form_equals_the_integer_flow_graph():
    from jpegdl.jpeg.islow import FDCT_BITS, IDCT_BITS, _fdct_sums, _idct_sums, flow_graph_pass

    samples = torch.randint(-128, 128, (3000, 8, 8))
    rows = flow_graph_pass(samples, _fdct_sums, FDCT_BITS[0])
    reference = flow_graph_pass(rows.transpose(-1, -2), _fdct_sums, FDCT_BITS[1]).transpose(-1, -2)
    assert torch.equal(fdct_islow(samples).to(torch.int64), reference)

    coefficients = torch.randint(-1024, 1024, (3000, 8, 8)) * torch.randint(1, 256, (3000, 1, 1))
    columns = flow_graph_pass(coefficients.transpose(-1, -2), _idct_sums, IDCT_BITS[0])
    reference = flow_graph_pass(columns.transpose(-1, -2), _idct_sums, IDCT_BITS[1])
    assert torch.equal(idct_islow(coefficients).to(torch.int64), reference)

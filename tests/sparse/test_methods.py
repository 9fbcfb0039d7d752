"""Every method, compiled and reference, equals F.conv2d; compiled encoders write the reference's arrays."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jpegdl.sparse import ops, reference
from jpegdl.sparse.geometry import check_conv

REFERENCES = {
    "im2col": reference.im2col_conv,
    "mec_a": lambda *a: reference.mec_conv(*a, solution="A"),
    "mec_b": lambda *a: reference.mec_conv(*a, solution="B"),
    "cpo": reference.cpo_conv,
    "cps": reference.cps_conv,
}


def sparse_input(shape, density: float, generator: torch.Generator) -> torch.Tensor:
    values = torch.randn(shape, generator=generator)
    return values * (torch.rand(shape, generator=generator) < density)


def assert_conv_equal(got: torch.Tensor, expected: torch.Tensor) -> None:
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * (1 + expected.abs().max().item()))


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 13))
    w = draw(st.integers(max(1, kw - 2 * pw), 13))
    return {
        "batch": draw(st.integers(1, 3)), "channels": draw(st.integers(1, 6)), "out": draw(st.integers(1, 20)),
        "size": (h, w), "kernel": (kh, kw), "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "padding": (ph, pw), "density": draw(st.sampled_from([0.0, 0.02, 0.1, 0.3, 0.6, 0.9, 1.0])),
        "bias": draw(st.booleans()), "seed": draw(st.integers(0, 2**16)),
    }  # fmt: skip


def make_case(case):
    generator = torch.Generator().manual_seed(case["seed"])
    x = sparse_input((case["batch"], case["channels"], *case["size"]), case["density"], generator)
    if case["channels"] > 1:
        x[:, case["seed"] % case["channels"]] = 0  # an all-zero channel in every image
    weight = torch.randn(case["out"], case["channels"], *case["kernel"], generator=generator)
    bias = torch.randn(case["out"], generator=generator) if case["bias"] else None
    return x, weight, bias


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases())
def test_compiled_methods_equal_conv2d(case):
    x, weight, bias = make_case(case)
    expected = F.conv2d(x, weight, bias, case["stride"], case["padding"])
    for method in ops.METHODS:
        assert_conv_equal(ops.conv2d(x, weight, bias, case["stride"], case["padding"], method), expected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases())
def test_reference_methods_equal_conv2d_and_encoders_agree(case):
    x, weight, bias = make_case(case)
    expected = F.conv2d(x, weight, bias, case["stride"], case["padding"])
    for function in REFERENCES.values():
        assert_conv_equal(function(x, weight, bias, case["stride"], case["padding"]), expected)
    geometry = check_conv(x, weight, bias, case["stride"], case["padding"])
    for kind, encode in (("cpo", reference.cpo_encode), ("cps", reference.cps_encode)):
        compiled, expected_map = ops.encode(x, geometry, kind), encode(x, geometry)
        for got, want in zip(compiled.arrays(), expected_map.arrays(), strict=True):
            assert got.dtype == want.dtype and torch.equal(got, want)


@pytest.mark.parametrize("method", ops.METHODS)
def test_all_zero_input_gives_the_bias(method):
    x, weight, bias = torch.zeros(2, 5, 9, 8), torch.randn(7, 5, 3, 3), torch.randn(7)
    out = ops.conv2d(x, weight, bias, 2, 1, method)
    assert_conv_equal(out, F.conv2d(x, weight, bias, 2, 1))
    if method in ("cpo", "cps"):
        matrix = ops.encode(x, check_conv(x, weight, bias, 2, 1), method)
        assert matrix.nnz == 0 and matrix.channels.numel() == 0 and matrix.nbytes() == 4 * 3 + 4


@pytest.mark.parametrize("method", ops.METHODS)
def test_dense_input_and_multiple_threads(method):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 17, 15, generator=generator).abs() + 0.1  # no zero at all
    weight = torch.randn(40, 6, 3, 5, generator=generator)
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            expected = F.conv2d(x, weight, None, (1, 2), (1, 2))
            assert_conv_equal(ops.conv2d(x, weight, None, (1, 2), (1, 2), method), expected)
    finally:
        torch.set_num_threads(previous)


def test_zero_channels_are_skipped_and_cost_no_storage():
    generator = torch.Generator().manual_seed(2)
    x = sparse_input((1, 8, 12, 12), 0.5, generator)
    x[:, 1::2] = 0
    geometry = check_conv(x, torch.zeros(4, 8, 3, 3), None, 1, 1)
    for kind in ("cpo", "cps"):
        matrix = ops.encode(x, geometry, kind)
        assert matrix.channels.tolist() == [0, 2, 4, 6]
        assert matrix.segment_ptr.numel() == 4 * geometry.out_size[1] + 1


def test_cps_patterns_cover_vertical_runs():
    """A dense column run of 8 rows is two pattern words; isolated non-zeros stay raw words."""
    x = torch.zeros(1, 1, 8, 5)
    x[0, 0, :, 2] = torch.arange(1.0, 9.0)  # padded rows 1..8 with padding 1: groups {1,2,3}, {4..7}, {8}
    x[0, 0, 0, 4] = 5.0
    geometry = check_conv(x, torch.zeros(1, 1, 3, 3), None, 1, 1)
    cps, cpo = ops.encode(x, geometry, "cps"), ops.encode(x, geometry, "cpo")
    words = cps.words.to(torch.int64) & 0xFFFF
    assert cpo.nnz == cps.nnz == 9
    assert int((words >= 0x8000).sum()) == 2 and words.numel() == 4
    assert cps.nbytes() < cpo.nbytes()
    assert torch.equal(cps.values, cpo.values)


def test_tall_maps_use_32_bit_words():
    x = torch.zeros(1, 2, 23000, 3)
    x[0, 1, 22990, 1] = 2.0
    x[0, 0, 100:104, 0] = 1.0
    weight = torch.randn(3, 2, 5, 3)
    geometry = check_conv(x, weight, None, 1, 0)
    for kind in ("cpo", "cps"):
        matrix = ops.encode(x, geometry, kind)
        assert matrix.index_bits == 32
        assert_conv_equal(ops.conv2d(x, weight, None, 1, 0, kind), F.conv2d(x, weight))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": torch.zeros(1, 3, 5)}, "x: expected a 4-D tensor"),
        ({"x": torch.zeros(1, 3, 5, 5, dtype=torch.float64)}, "x: expected float32"),
        ({"weight": torch.zeros(2, 4, 3, 3)}, "weight: expected 3 input channels"),
        ({"weight": torch.zeros(2, 3, 9, 3)}, "weight: kernel"),
        ({"bias": torch.zeros(3)}, "bias: expected float32 of shape"),
        ({"stride": 0}, "stride: expected an integer >= 1"),
        ({"padding": -1}, "padding: expected an integer >= 0"),
        ({"method": "winograd"}, "method: expected one of"),
        ({"weight": torch.full((2, 3, 3, 3), float("nan"))}, "weight, bias: contain NaN"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, message):
    args = {"x": torch.zeros(1, 3, 5, 5), "weight": torch.zeros(2, 3, 3, 3), "bias": None, "stride": 1,
            "padding": 1, "method": "cpo"} | kwargs  # fmt: skip
    with pytest.raises(ValueError, match=message):
        ops.conv2d(**args)


@pytest.mark.parametrize("method", ["cpo", "cps"])
def test_non_finite_activations_are_rejected_by_sparse_formats(method):
    x = torch.zeros(1, 2, 6, 6)
    x[0, 1, 3, 3] = float("inf")
    with pytest.raises(ValueError, match="x: contains NaN or Inf"):
        ops.conv2d(x, torch.ones(2, 2, 3, 3), None, 1, 1, method)
    with pytest.raises(ValueError, match="x: contains NaN or Inf"):
        reference.cpo_conv(x, torch.ones(2, 2, 3, 3), None, 1, 1)

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jpegdl.evaluate.bjontegaard import accuracy_at_rate, bd_accuracy, bd_rate, monotone, rate_at_accuracy

REFERENCE = [(0.2, 0.60), (0.4, 0.72), (0.8, 0.80), (1.6, 0.84), (3.2, 0.86)]


def test_identical_curves_have_no_difference():
    assert bd_rate(REFERENCE, REFERENCE)["bd_rate"] == pytest.approx(0, abs=1e-12)
    assert bd_accuracy(REFERENCE, REFERENCE)["bd_accuracy"] == pytest.approx(0, abs=1e-12)


@given(factor=st.floats(0.2, 5.0))
def test_a_curve_scaled_in_rate_has_that_bd_rate(factor):
    scaled = [(r * factor, a) for r, a in REFERENCE]
    assert bd_rate(REFERENCE, scaled)["bd_rate"] == pytest.approx(factor - 1, rel=1e-9, abs=1e-12)


def test_a_curve_shifted_in_accuracy_has_that_bd_accuracy():
    shifted = [(r, a + 0.01) for r, a in REFERENCE]
    assert bd_accuracy(REFERENCE, shifted)["bd_accuracy"] == pytest.approx(0.01, abs=1e-12)


def test_monotone_sorts_drops_non_improving_and_saturated_points():
    points = [(1.6, 0.84), (0.2, 0.60), (0.4, 0.58), (0.8, 0.80), (3.2, 0.86)]
    assert monotone(points).tolist() == [[0.2, 0.6], [0.8, 0.8], [1.6, 0.84], [3.2, 0.86]]
    assert monotone(points, ceiling=0.85)[-1].tolist() == [1.6, 0.84]
    with pytest.raises(ValueError, match="points"):
        monotone([(0.0, 0.5), (1.0, 0.6)])
    with pytest.raises(ValueError, match="points"):
        monotone([(math.nan, 0.5)])


def test_disjoint_or_short_curves_give_none_and_interpolation_hits_the_points():
    assert bd_rate(REFERENCE, [(0.1, 0.1), (0.2, 0.2)]) is None
    assert bd_rate(REFERENCE, [(1.0, 0.8)]) is None
    assert rate_at_accuracy(REFERENCE, 0.80) == pytest.approx(0.8)
    assert accuracy_at_rate(REFERENCE, 0.4) == pytest.approx(0.72)
    assert rate_at_accuracy(REFERENCE, 0.99) is None and accuracy_at_rate(REFERENCE, 10.0) is None


def test_equal_rates_keep_one_point_so_curves_interpolate():
    from jpegdl.evaluate.bjontegaard import bd_accuracy, monotone

    assert monotone([(0.1, 20.0), (0.1, 21.0), (0.2, 22.0)]).tolist() == [[0.1, 21.0], [0.2, 22.0]]
    assert bd_accuracy([(0.1, 20.0), (0.1, 21.0), (0.2, 22.0), (0.4, 25.0)], [(0.1, 21.0), (0.3, 24.0)]) is not None

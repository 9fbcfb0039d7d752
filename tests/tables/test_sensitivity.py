import math

import pytest
import torch
from torch import nn

from jpegdl.jpeg import QuantTables
from jpegdl.layers import JPEGLayer, Normalize
from jpegdl.tables.sensitivity import frequency_sensitivity, lambda_matched_tables, scaled_tables, sensitivity_tables


def loader(channels=3, batches=3):
    torch.manual_seed(0)
    return [(torch.rand(4, channels, 16, 16), torch.randint(0, 3, (4,))) for _ in range(batches)]


def linear_model(channels=3):
    torch.manual_seed(0)
    return nn.Sequential(Normalize((0.5,) * channels, (0.25,) * channels), nn.Flatten(),
                         nn.Linear(channels * 16 * 16, 3))  # fmt: skip


def test_sensitivity_of_several_models_is_their_mean():
    a, b = linear_model(), linear_model()
    with torch.no_grad():
        b[-1].weight.mul_(3)
    s_a, s_b = frequency_sensitivity(a, loader()), frequency_sensitivity(b, loader())
    both = frequency_sensitivity([a, b], loader())
    assert torch.allclose(both[0], (s_a[0] + s_b[0]) / 2, rtol=1e-4)
    assert (both[0] >= 0).all() and both[0].shape == (8, 8)


def test_sensitivity_tables_scale_the_largest_luma_step_to_q_max():
    tables = sensitivity_tables(linear_model(), loader(), q_max=5.0)
    assert torch.isclose(tables.luma.max(), torch.tensor(5.0))
    assert (tables.chroma > 0).all() and torch.isfinite(tables.chroma).all()
    JPEGLayer(init=tables, step_range=(0.1, 255.0))(torch.rand(1, 3, 16, 16))


def test_scaled_tables_give_the_finest_step_to_the_most_sensitive_frequency():
    sensitivity = torch.rand(8, 8) + 1e-3
    sensitivity[0, 0] = 100.0
    tables = scaled_tables((sensitivity, sensitivity), 3.0)
    assert tables.luma[0, 0] == 3 and tables.luma.min() >= 3 and tables.luma.max() <= 255
    assert tables.luma.dtype == torch.int64
    # q ~ s^-1/2: four times the sensitivity, half the step
    sensitivity = torch.full((8, 8), 1.0)
    sensitivity[0, 1] = 4.0
    assert scaled_tables((sensitivity, sensitivity), 10.0).luma[0, 0] == 20


def test_lambda_matched_tables_follow_the_closed_form():
    s = torch.full((8, 8), 1e-5)
    tables = lambda_matched_tables((s, s), 0.05, 784)
    expected = math.sqrt(12 * 0.05 / (math.log(2) * 784 * 1e-5))
    assert isinstance(tables, QuantTables) and tables.luma[0, 0] == round(expected)
    assert lambda_matched_tables((s, s), 4 * 0.05, 784).luma[0, 0] == round(2 * expected)


def test_bad_input():
    s = torch.ones(8, 8)
    with pytest.raises(ValueError, match="lam"):
        lambda_matched_tables((s, s), 0.0, 784)
    with pytest.raises(ValueError, match="pixels"):
        lambda_matched_tables((s, s), 1.0, 0)
    with pytest.raises(ValueError, match="sensitivity"):
        scaled_tables((s, -s), 1.0)
    with pytest.raises(ValueError, match="scale"):
        scaled_tables((s, s), float("nan"))
    with pytest.raises(ValueError, match="loader"):
        frequency_sensitivity(linear_model(), [])
    with pytest.raises(ValueError, match="q_max"):
        sensitivity_tables(linear_model(), loader(), q_max=0.0)

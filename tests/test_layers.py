import pytest
import torch
from torch import nn

import jpegdl
from jpegdl.files import jpeg_bytes, read_image
from jpegdl.jpeg import QuantTables
from jpegdl.layers import JPEGLayer, JPEGModel, prepend
from tests.helpers import to_tensor


def test_parameter_count_and_table_export():
    layer = JPEGLayer(init="ijg", quality=60)
    assert sum(p.numel() for p in layer.parameters()) == 128
    assert sum(p.numel() for p in JPEGLayer(channels=1).parameters()) == 64  # luma only
    assert sum(p.numel() for p in JPEGLayer(rounds=3).parameters()) == 3 * 128
    assert torch.equal(layer.tables().rounded().luma, QuantTables.from_quality(60).luma)


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0", "4:2:2", "4:4:0", "4:1:1"])
def test_hard_mode_equals_a_real_jpeg_file(photos, subsampling):
    layer = JPEGLayer(init=QuantTables(torch.full((8, 8), 7.4), torch.full((8, 8), 20.6)), subsampling=subsampling)
    layer.mode = "hard"
    x = to_tensor(photos["chelsea"][:90, :70])
    rounded = layer.tables().rounded()
    assert torch.equal(layer(x), jpegdl.decode(jpegdl.encode(x, rounded, subsampling)))
    assert torch.equal(layer(x), read_image(jpeg_bytes(x, rounded, subsampling)))


def test_soft_mode_trains_the_tables_and_is_close_to_hard_when_hard():
    torch.manual_seed(0)
    layer = JPEGLayer(init="flat", flat_step=6.0, alpha=1e4)
    x = torch.rand(2, 3, 24, 24)
    soft = layer(x)
    layer.mode = "hard"
    hard = layer(x)
    # Equal up to the float-vs-ISLOW IDCT (a fractional index anywhere selects the float IDCT).
    assert (soft - hard).abs().mean() < 1 / 255
    layer.mode = "ste"
    assert torch.equal(layer(x), hard)
    layer.mode = "soft"
    layer.alpha = 0.5
    optimizer = torch.optim.Adam(layer.table_parameters(), lr=0.1)
    (log_steps,) = layer.table_parameters()
    before = layer.tables()
    (layer(x) - x).square().mean().backward()
    assert log_steps.grad is not None and torch.isfinite(log_steps.grad).all() and log_steps.grad.abs().sum() > 0
    optimizer.step()
    after = layer.tables()
    assert not torch.equal(before.luma, after.luma) and not torch.equal(before.chroma, after.chroma)
    # Steps live in log space: Adam's first step moves each by at most lr = 10 % (nearly 10 % unless its
    # gradient is near Adam's eps), whatever the step's size.
    ratio = (after.luma / before.luma).log().abs()
    assert (ratio <= 0.1 + 1e-4).all() and ratio.median() > 0.095


def test_steps_are_clamped_and_hardness_matching_runs():
    layer = JPEGLayer(init="flat", flat_step=1000.0, step_range=(0.5, 255.0), hardness=0.7)
    assert torch.isclose(layer.tables().luma.max(), torch.tensor(255.0))
    with torch.no_grad():
        layer.table_parameters()[0].fill_(-10.0)  # log-steps: q = exp(-10) is below the range
    layer(torch.rand(1, 3, 8, 8))
    assert torch.isclose(layer.tables().luma.min(), torch.tensor(0.5))


def test_multiple_rounds_and_grayscale():
    x = torch.rand(2, 1, 17, 9, requires_grad=True)
    layer = JPEGLayer(channels=1, rounds=2, mode="ste")
    out = layer(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert layer.table_parameters()[0].grad.shape == (2, 1, 8, 8)  # two rounds, one (luma) table


def test_prepend_normalises_after_the_layer():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    wrapped = prepend(model, JPEGLayer(), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert isinstance(wrapped, JPEGModel)
    assert wrapped(torch.rand(5, 3, 8, 8)).shape == (5, 4)
    assert "jpeg.trainable_tables.log_steps" in {n for n, _ in wrapped.named_parameters()}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 2}, "channels"),
        ({"rounds": 0}, "rounds"),
        ({"mode": "round"}, "mode"),
        ({"init": "sensitivity"}, "init"),
        ({"step_range": (0, 255)}, "step_range"),
        ({"alpha": -1.0}, "alpha"),
        ({"hardness": 0.0}, "hardness"),
        ({"subsampling": "4:3:1"}, "subsampling"),
    ],
)
def test_bad_layer_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        JPEGLayer(**kwargs)


def test_bad_inputs_to_layer_and_prepend():
    with pytest.raises(ValueError, match="channel"):
        JPEGLayer(channels=1)(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="mean"):
        prepend(nn.Identity(), JPEGLayer(), mean=(0.5,), std=(0.2,))
    with pytest.raises(ValueError, match="both"):
        prepend(nn.Identity(), JPEGLayer(), mean=(0.5, 0.5, 0.5))

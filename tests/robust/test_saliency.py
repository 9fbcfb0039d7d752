from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jpegdl.layers import JPEGLayer, prepend
from jpegdl.models import create
from jpegdl.robust import SALIENCY_METHODS, find_target_layer, saliency_maps


def zoo_model(jpeg: bool):
    torch.manual_seed(0)
    network = create("resnet8", 10, 1)
    model = prepend(network, JPEGLayer(channels=1), (0.3,), (0.35,)) if jpeg else network
    return model.eval(), network


@settings(max_examples=6, deadline=None)
@given(size=st.sampled_from([16, 28, 33]), count=st.integers(1, 3), method=st.sampled_from(sorted(SALIENCY_METHODS)),
       jpeg=st.booleans())  # fmt: skip
def test_saliency_maps_have_the_input_size_are_finite_and_in_range(size, count, method, jpeg):
    model, network = zoo_model(jpeg)
    images = torch.rand(count, 1, size, size, generator=torch.Generator().manual_seed(size))
    maps, layer = saliency_maps(model, images, method, search=network)
    assert maps.shape == (count, size, size) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert layer == "layers"  # the zoo ResNet's last stage: the final feature map


def test_a_named_layer_is_used_and_explicit_targets_are_accepted():
    model, network = zoo_model(jpeg=True)
    images = torch.rand(2, 1, 28, 28)
    name, module = find_target_layer(model, images, "layers.1.conv1", search=network)
    assert module is network.layers[1].conv1
    maps, used = saliency_maps(model, images, layer="layers.1.conv1", targets=torch.tensor([3, 4]), search=network)
    assert used == name and maps.shape == (2, 28, 28)


def test_unknown_layer_or_method_gives_clear_errors():
    model, _ = zoo_model(jpeg=False)
    images = torch.rand(1, 1, 28, 28)
    with pytest.raises(ValueError, match="layer: CifarResNet has no module 'layer9'; its last feature layers are"):
        saliency_maps(model, images, layer="layer9")
    with pytest.raises(ValueError, match="method: expected one of"):
        saliency_maps(model, images, method="shap")
    with pytest.raises(ValueError, match=r"images: expected \(B, C, H, W\)"):
        saliency_maps(model, images[0])

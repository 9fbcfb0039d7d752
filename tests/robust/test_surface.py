from __future__ import annotations

import pytest
import torch
from torch import nn

from jpegdl.layers import JPEGLayer, Normalize, prepend
from jpegdl.robust import attack_surface, layer_mode


def jpeg_model() -> nn.Module:
    torch.manual_seed(0)
    classifier = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    return prepend(classifier, JPEGLayer(channels=1, init="ijg", quality=50), mean=(0.5,), std=(0.25,)).eval()


def input_gradient(module: nn.Module, images: torch.Tensor) -> torch.Tensor:
    images = images.clone().requires_grad_(True)
    module(images).square().sum().backward()
    return images.grad


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))


def test_bpda_keeps_the_forward_pass_and_uses_the_identity_gradient(images):
    model = jpeg_model()
    bpda = attack_surface(model, "bpda")
    assert torch.equal(bpda(images), model(images))
    processed = model.jpeg(images).detach()
    behind_the_layer = nn.Sequential(model.normalize, model.model)
    assert torch.allclose(input_gradient(bpda, images), input_gradient(behind_the_layer, processed), atol=1e-6)


def test_classifier_surface_skips_the_layer(images):
    model = jpeg_model()
    classifier = attack_surface(model, "classifier")
    assert torch.allclose(classifier(images), model.model(model.normalize(images)))


def test_hard_layer_passes_image_gradients_straight_through_but_not_to_the_tables(images):
    model = jpeg_model()
    with layer_mode(model, "hard"):
        gradient = input_gradient(attack_surface(model, "layer"), images)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    assert model.jpeg.table_parameters()[0].grad is None
    assert model.jpeg.mode == "soft"


def test_models_without_a_layer_are_the_same_for_every_surface(images):
    model = nn.Sequential(Normalize((0.5,), (0.25,)), nn.Flatten(), nn.Linear(256, 3))
    for gradient in ("layer", "bpda", "classifier"):
        assert attack_surface(model, gradient) is model


def test_layer_mode_restores_the_mode_after_an_error():
    model = jpeg_model()
    with pytest.raises(RuntimeError), layer_mode(model, "hard"):
        raise RuntimeError("boom")
    assert model.jpeg.mode == "soft"


def test_unknown_surface_or_mode_is_rejected():
    with pytest.raises(ValueError, match="gradient: expected one of"):
        attack_surface(jpeg_model(), "transfer")
    with pytest.raises(ValueError, match="layer_mode"), layer_mode(jpeg_model(), "round"):
        pass

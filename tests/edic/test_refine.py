"""Encoder-side latent refinement: the search lowers the objective, the file is never worse than the plain
encoder's, any decoder reads it, the same settings give the same bytes, and bad settings are refused."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("compressai")

from jpegdl.edic import CodecConfig, RefineSettings, build_model, decode_image, encode_image, pad_to_stride
from jpegdl.edic.codec import model_ids
from jpegdl.edic.refine import refine_latents, relaxed_cost

SMALL = {"channels": 8, "latent_channels": 8, "enhance_channels": 4, "enhance_blocks": 1, "enhance_residuals": 1}
LMBDAS = (0.002, 0.05)


def _codec(**overrides):
    torch.manual_seed(0)
    config = CodecConfig(**{**SMALL, **overrides})
    model = build_model(config).eval()
    for parameter in model.parameters():
        parameter.data.add_(torch.randn_like(parameter) * 1e-3)
    model.update(force=True)
    return model, config


def _image(height=70, width=90):
    generator = torch.Generator().manual_seed(3)
    ramp = torch.linspace(0, 1, width)[None, None, :].expand(3, height, width)
    return (0.6 * ramp + 0.4 * torch.rand(3, height, width, generator=generator)).clamp(0, 1)[None]


def _true_cost(data: bytes, decoded: torch.Tensor, image: torch.Tensor, lmbda: float) -> float:
    mse = torch.mean(((decoded * 255).round() / 255 - image) ** 2).item()
    return 8 * len(data) / image[0, 0].numel() + lmbda * 255**2 * mse


def _mean_relaxed_cost(model, image, y, z, rate, lmbda, draws=8):
    gains = model._gains(rate, 1, image.device)
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        return sum(relaxed_cost(model, image, y, z, gains, lmbda, generator)[0].item() for _ in range(draws)) / draws


def test_the_search_lowers_the_relaxed_objective():
    model, config = _codec(lmbdas=LMBDAS)
    image = _image()
    padded = pad_to_stride(image)
    for rate, lmbda in enumerate(config.lmbdas):
        start = refine_latents(model, padded, image, rate, lmbda, RefineSettings(steps=0))
        found = refine_latents(model, padded, image, rate, lmbda, RefineSettings(steps=30, learning_rate=0.05))
        assert found[0].shape == start[0].shape and found[1].shape == start[1].shape
        before = _mean_relaxed_cost(model, image, *start, rate, lmbda)
        assert _mean_relaxed_cost(model, image, *found, rate, lmbda) < before


def test_the_search_leaves_the_weights_untouched_and_gives_them_no_gradients():
    model, config = _codec(lmbdas=LMBDAS)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    image = _image()
    refine_latents(model, pad_to_stride(image), image, 1, config.lmbdas[1], RefineSettings(steps=3))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("overrides", [{"lmbdas": LMBDAS}, {"lmbdas": LMBDAS, "components": 1, "attention": False,
                                                             "enhancement": False}])  # fmt: skip
def test_a_refined_file_is_never_worse_reads_with_the_plain_decoder_and_is_reproducible(overrides):
    model, config = _codec(**overrides)
    ids = model_ids(model, config)
    image = _image()
    search = RefineSettings(steps=25, learning_rate=0.05, seed=7)
    for rate, lmbda in enumerate(config.lmbdas):
        plain = encode_image(model, config, image, rate=rate)
        refined = encode_image(model, config, image, rate=rate, refine=search)
        assert refined == encode_image(model, config, image, rate=rate, refine=search)
        decoded = decode_image(model, config, refined, ids)
        assert decoded.shape == image.shape
        plain_cost = _true_cost(plain, decode_image(model, config, plain, ids), image, lmbda)
        assert _true_cost(refined, decoded, image, lmbda) <= plain_cost + 1e-9


def test_the_search_runs_under_inference_mode_and_no_grad():
    model, config = _codec(lmbdas=LMBDAS)
    image = _image(40, 40)
    search = RefineSettings(steps=3, learning_rate=0.05)
    with torch.inference_mode():
        inside = encode_image(model, config, image, rate=1, refine=search)
    with torch.no_grad():
        assert encode_image(model, config, image, rate=1, refine=search) == inside
    assert encode_image(model, config, image, rate=1, refine=search) == inside


def test_a_single_rate_codec_needs_its_lambda_and_baselines_cannot_search():
    model, config = _codec()
    image = _image(40, 40)
    with pytest.raises(ValueError, match="lmbda"):
        encode_image(model, config, image, refine=RefineSettings(steps=1))
    with pytest.raises(ValueError, match="lmbda"):
        encode_image(model, config, image, refine=RefineSettings(steps=1), lmbda=math.nan)
    data = encode_image(model, config, image, refine=RefineSettings(steps=2), lmbda=0.01)
    assert decode_image(model, config, data).shape == image.shape
    baseline, baseline_config = _codec(architecture="mbt2018-mean")
    with pytest.raises(ValueError, match="refine"):
        encode_image(baseline, baseline_config, image, refine=RefineSettings(steps=1), lmbda=0.01)


@settings(max_examples=25, deadline=None)
@given(steps=st.one_of(st.integers(-5, -1), st.integers(100_001, 10**7), st.floats(0.5, 2.0), st.booleans()))
def test_bad_step_counts_are_refused(steps):
    with pytest.raises(ValueError, match="steps"):
        RefineSettings(steps=steps)


@pytest.mark.parametrize("learning_rate", [0, -0.1, 1.5, math.nan, "0.01"])
def test_bad_learning_rates_are_refused(learning_rate):
    with pytest.raises(ValueError, match="learning_rate"):
        RefineSettings(steps=1, learning_rate=learning_rate)

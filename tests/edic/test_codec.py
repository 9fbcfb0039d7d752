"""EDIC end to end: real bitstreams equal the forward pass, odd sizes, bad streams and bad images."""

import pytest
import torch

pytest.importorskip("compressai")

from jpegdl.edic import (
    ARCHITECTURES,
    ChannelAttention,
    CodecConfig,
    Enhancement,
    build_model,
    decode_image,
    encode_image,
    pad_to_stride,
)

SMALL = {"channels": 8, "latent_channels": 8, "enhance_channels": 8, "enhance_blocks": 1, "enhance_residuals": 1}


def _codec(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    config = CodecConfig(**{**SMALL, **overrides})
    model = build_model(config).eval()
    # Perturb the zero-initialised enhancement tail so that the test covers a non-identity enhancement.
    for parameter in model.parameters():
        parameter.data.add_(torch.randn_like(parameter) * 1e-3)
    model.update(force=True)
    return model, config


def _image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, width)[None, None, :].expand(3, height, width)
    return (0.6 * ramp + 0.4 * torch.rand(3, height, width, generator=generator)).clamp(0, 1)


@pytest.mark.parametrize("overrides", [{}, {"components": 1}, {"attention": False, "enhancement": False},
                                       {"architecture": "bmshj2018-hyperprior"}, {"architecture": "mbt2018-mean"}])
def test_decoded_bitstream_equals_eval_forward(overrides):
    model, config = _codec(**overrides)
    image = _image(64, 128)
    data = encode_image(model, config, image)
    decoded = decode_image(model, config, data, precision="float32")  # the forward pass runs in float32
    with torch.no_grad():
        reference = model(pad_to_stride(image[None]))["x_hat"].clamp(0, 1)
    assert torch.equal(decoded, reference)


def test_edic_latents_decode_bit_exactly():
    model, _ = _codec(seed=3)
    image = _image(128, 64, seed=3)[None]
    encoded = model.compress(image)
    decoded = model.decompress(encoded["strings"], encoded["shape"])
    assert torch.equal(decoded["y_hat"], torch.round(model.analysis(image)).detach())


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (63, 65), (130, 71)])
def test_any_size_is_padded_and_cropped(size):
    model, config = _codec()
    image = _image(*size)
    decoded = decode_image(model, config, encode_image(model, config, image))
    assert decoded.shape == (1, 3, *size)
    assert decoded.min() >= 0 and decoded.max() <= 1


def test_corrupt_truncated_and_foreign_streams_are_rejected():
    model, config = _codec()
    data = encode_image(model, config, _image(40, 50))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(ValueError, match="corrupt"):
        decode_image(model, config, bytes(flipped))
    with pytest.raises(ValueError, match="truncated"):
        decode_image(model, config, data[:-7])
    with pytest.raises(ValueError, match="truncated"):
        decode_image(model, config, data[:12])
    with pytest.raises(ValueError, match="over-long"):
        decode_image(model, config, data + b"\0")
    with pytest.raises(ValueError, match="not an EDIC stream"):
        decode_image(model, config, b"\xff\xd8\xff\xe0" + data[4:])
    other, other_config = _codec(seed=1)
    with pytest.raises(ValueError, match="made by model"):
        decode_image(other, other_config, data)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (torch.rand(1, 32, 32), "expected float"),
        (torch.full((3, 8, 8), float("nan")), "finite"),
        (torch.rand(3, 8, 8) + 1, "within"),
        (torch.zeros(3, 8, 8, dtype=torch.uint8), "float"),
        (torch.zeros(3, 0, 8), "sides"),
    ],
)
def test_bad_images_raise(image, message):
    model, config = _codec()
    with pytest.raises(ValueError, match=message):
        encode_image(model, config, image)


def test_config_validation():
    with pytest.raises(ValueError, match="architecture"):
        CodecConfig(architecture="jpeg")
    with pytest.raises(ValueError, match="components"):
        CodecConfig(components=0)
    with pytest.raises(ValueError, match="unknown keys"):
        CodecConfig.from_dict({"channels": 8, "lambda": 1})
    assert set(ARCHITECTURES) == {"edic", "bmshj2018-hyperprior", "mbt2018-mean"}


def test_attention_and_enhancement_modules():
    attention = ChannelAttention(32)
    x = torch.randn(2, 32, 4, 4)
    y = attention(x)
    assert y.shape == x.shape
    ratio = y / x
    torch.testing.assert_close(ratio, ratio[..., :1, :1].expand_as(ratio))  # one weight per channel
    assert ((ratio > 0) & (ratio < 1)).all()
    image = torch.rand(1, 3, 16, 16)
    assert torch.equal(Enhancement(8, 1, 1)(image), image)  # the zero-initialised tail starts as identity

"""Reconstruction precision: the bitstream and latents never depend on it; bfloat16 costs < 0.1 dB."""

import pytest
import torch

pytest.importorskip("compressai")

from jpegdl.edic import decode_image, encode_image
from jpegdl.edic.codec import model_ids
from jpegdl.edic.precision import PRECISIONS, native_cpu_bfloat16, resolve_precision
from jpegdl.edic.shipped import load_shipped


def test_resolve_precision():
    assert resolve_precision("float32", "cpu") == torch.float32
    assert resolve_precision("bfloat16", "cpu") == torch.bfloat16
    assert resolve_precision("auto", "cpu") == (torch.bfloat16 if native_cpu_bfloat16() else torch.float32)
    assert resolve_precision("auto", "cuda") == torch.float32
    for bad in ("float16", "", None):
        with pytest.raises(ValueError, match="precision"):
            resolve_precision(bad, "cpu")


def test_cli_parser_offers_the_same_precisions():
    from jpegdl.cli import edic as cli_edic

    assert cli_edic.PRECISIONS == PRECISIONS


@pytest.fixture(scope="module")
def shipped():
    model, config = load_shipped("edic")
    picture = torch.rand(3, 64, 96, generator=torch.Generator().manual_seed(0))
    picture = torch.nn.functional.avg_pool2d(picture[None], 5, 1, 2)[0]  # smooth, photo-like
    return model, config, model_ids(model, config), picture


def _psnr(a, b):
    return float(10 * torch.log10(1 / torch.mean((a - b) ** 2)))


@pytest.mark.parametrize("rate", [0, 3])
def test_bfloat16_decodes_the_same_stream_within_a_tenth_of_a_db(shipped, rate):
    model, config, ids, picture = shipped
    data = encode_image(model, config, picture, ids[rate], rate)
    exact = decode_image(model, config, data, ids, precision="float32")
    fast = decode_image(model, config, data, ids, precision="bfloat16")
    assert fast.dtype == exact.dtype == torch.float32 and fast.shape == exact.shape == (1, 3, 64, 96)
    assert float(fast.min()) >= 0 and float(fast.max()) <= 1
    assert abs(_psnr(fast, picture[None]) - _psnr(exact, picture[None])) < 0.1
    assert torch.equal(fast, decode_image(model, config, data, ids, precision="bfloat16"))  # deterministic


def test_decode_refuses_an_unknown_precision(shipped):
    model, config, ids, picture = shipped
    data = encode_image(model, config, picture, ids[0], 0)
    with pytest.raises(ValueError, match="precision"):
        decode_image(model, config, data, ids, precision="half")

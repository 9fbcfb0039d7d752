"""Variable-rate EDIC: per-rate gains, rate indexes in the stream's model id, per-sample lambdas, exact resume."""

import numpy as np
import pytest
import torch

pytest.importorskip("compressai")

from jpegdl.edic import CodecConfig, build_model, decode_image, encode_image, pad_to_stride
from jpegdl.edic.codec import model_id, model_ids
from jpegdl.edic.data import split_by_file
from jpegdl.edic.objective import rate_distortion
from jpegdl.edic.training import TrainSettings, train_and_save

LMBDAS = (0.002, 0.01, 0.05)
SMALL = {"channels": 8, "latent_channels": 8, "enhance_channels": 4, "enhance_blocks": 1, "enhance_residuals": 1}


def _codec(**overrides):
    torch.manual_seed(0)
    config = CodecConfig(**{**SMALL, "lmbdas": LMBDAS, **overrides})
    model = build_model(config).eval()
    for parameter in model.parameters():
        parameter.data.add_(torch.randn_like(parameter) * 1e-3)
    model.update(force=True)
    return model, config


def _image(height=64, width=96):
    generator = torch.Generator().manual_seed(1)
    ramp = torch.linspace(0, 1, width)[None, None, :].expand(3, height, width)
    return (0.7 * ramp + 0.3 * torch.rand(3, height, width, generator=generator)).clamp(0, 1)


@pytest.mark.parametrize("overrides", [{}, {"components": 1, "attention": False, "enhancement": False}])
def test_each_rate_decodes_to_its_eval_forward_and_the_header_names_the_rate(overrides):
    model, config = _codec(**overrides)
    image = _image()
    sizes = []
    for rate in range(config.rates):
        data = encode_image(model, config, image, rate=rate)
        assert data[5:13] == model_id(model, config, rate)
        decoded = decode_image(model, config, data, precision="float32")  # the rate is found from the header alone
        assert torch.equal(decode_image(model, config, data, model_ids(model, config), precision="float32"), decoded)
        assert torch.equal(decode_image(model, config, data, model_id(model, config, rate), precision="float32"),
                           decoded)
        with torch.no_grad():
            reference = model(pad_to_stride(image[None]), rate)["x_hat"].clamp(0, 1)[..., :64, :96]
        assert torch.equal(decoded, reference)
        sizes.append(len(data))
    assert sizes == sorted(sizes)  # the initial gains step coarser at lower lambdas
    assert len(set(model_ids(model, config))) == config.rates


def test_rate_indexes_are_checked():
    model, config = _codec()
    with pytest.raises(ValueError, match="rate"):
        encode_image(model, config, _image(), rate=3)
    with pytest.raises(ValueError, match="rate"):
        model(torch.rand(2, 3, 64, 64))  # a variable-rate codec needs its rate
    single, single_config = _codec(lmbdas=())
    with pytest.raises(ValueError, match="rate"):
        encode_image(single, single_config, _image(), rate=1)


@pytest.mark.parametrize("lmbdas, message", [((0.01, 0.002), "increasing"), ((0.0,), "> 0"),
                                             ((float("nan"),), "> 0"), (tuple(np.linspace(0.1, 1, 17)), "up to")])
def test_config_checks_lmbdas(lmbdas, message):
    with pytest.raises(ValueError, match=message):
        CodecConfig(lmbdas=lmbdas)
    with pytest.raises(ValueError, match="variable rate"):
        CodecConfig(architecture="mbt2018-mean", lmbdas=(0.01,))
    assert CodecConfig.from_dict(CodecConfig(lmbdas=(0.01, 0.1)).to_dict()).lmbdas == (0.01, 0.1)


def test_per_sample_lambdas_equal_the_scalar_loss_when_equal():
    model, _ = _codec()
    model.train()
    x = torch.rand(3, 3, 64, 64)
    torch.manual_seed(2)
    output = model(x, torch.tensor([1, 1, 1]))
    per_sample = rate_distortion(output, x, torch.full((3,), 0.01))
    scalar = rate_distortion(output, x, 0.01)
    for key in ("loss", "bpp", "distortion"):
        assert torch.allclose(per_sample[key], scalar[key], rtol=1e-5), key
    with pytest.raises(ValueError, match="per-sample"):
        rate_distortion(output, x, torch.full((2,), 0.01))


def test_learning_rate_drops():
    settings = TrainSettings(lr=1e-3, lr_drops=(10, 20))
    assert [settings.lr_at(s) for s in (0, 9, 10, 19, 20, 99)] == pytest.approx([1e-3, 1e-3, 3e-4, 3e-4, 9e-5, 9e-5])
    with pytest.raises(ValueError, match="lr_drops"):
        TrainSettings(lr_drops=(20, 10))


def test_variable_rate_training_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    images = [torch.from_numpy(rng.integers(0, 256, (3, 96, 96), dtype=np.uint8)) for _ in range(2)]
    config = CodecConfig(**SMALL, lmbdas=LMBDAS)
    settings = TrainSettings(steps=4, batch_size=3, checkpoint_every=2, lr=1e-3, lr_drops=(3,))
    straight, straight_history = train_and_save(config, settings, images, tmp_path / "a", crop=64, progress=False)
    train_and_save(config, TrainSettings(**{**settings.to_dict(), "steps": 2}), images, tmp_path / "b", crop=64,
                   progress=False)
    resumed, resumed_history = train_and_save(config, settings, images, tmp_path / "b", crop=64, resume=True,
                                              progress=False)
    assert [r["loss"] for r in resumed_history] == [r["loss"] for r in straight_history]
    assert model_ids(straight, config) == model_ids(resumed, config)


def test_split_by_file_is_disjoint_and_stable(tmp_path):
    paths = [tmp_path / f"picture-{i}.png" for i in range(200)]
    splits = split_by_file(paths, validation=0.15, test=0.2)
    assert sorted(p for part in splits.values() for p in part) == sorted(paths)
    assert 10 <= len(splits["validation"]) <= 50 and 20 <= len(splits["test"]) <= 60
    assert split_by_file(list(reversed(paths)), 0.15, 0.2) == splits
    assert split_by_file(paths[:100], 0.15, 0.2)["test"] == [p for p in splits["test"] if p in paths[:100]]
    with pytest.raises(ValueError, match="fractions"):
        split_by_file(paths, 0.6, 0.5)

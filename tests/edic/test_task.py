"""The DNN-oriented EDIC: views for small gray images, the rate + task objective, training with
exact resume, and ``edic:`` operating points in a rate-accuracy evaluation."""

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("compressai")

from jpegdl.edic import CodecConfig, build_model
from jpegdl.edic.checkpoint import load_codec
from jpegdl.edic.task import LabelledSampler, classifier_view, codec_view, rate_task
from jpegdl.edic.training import TrainSettings, train_task_codec
from jpegdl.evaluate.codecs import parse_codecs
from jpegdl.evaluate.measurement import evaluate_codecs

SMALL = CodecConfig(channels=8, latent_channels=8, enhance_channels=4, enhance_blocks=1, enhance_residuals=1)


def _classifier() -> nn.Module:
    torch.manual_seed(5)
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 3))


def _data(count: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(count, 1, 28, 28, generator=generator), torch.randint(3, (count,), generator=generator)


def test_gray_images_go_through_as_padded_rgb_and_come_back():
    images, _ = _data(2)
    padded = codec_view(images)
    assert padded.shape == (2, 3, 64, 64)
    assert torch.allclose(classifier_view(padded, (28, 28), 1), images, atol=1e-7)
    assert torch.equal(padded[:, :, 40, 50], padded[:, :, 27, 27])  # replicated edge
    with pytest.raises(ValueError, match="images"):
        codec_view(torch.rand(2, 2, 8, 8))


def test_task_objective_trains_the_codec_not_the_classifier():
    images, labels = _data(4)
    classifier = _classifier().requires_grad_(False)
    model = build_model(SMALL)
    terms = rate_task(model, (images, labels), classifier, task_weight=2.0, lmbda=0.0)
    assert set(terms) == {"loss", "bpp", "distortion", "task"}
    assert torch.isclose(terms["loss"], terms["bpp"] + 2.0 * terms["task"])
    terms["loss"].backward()
    assert model.g_a[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in classifier.parameters())


def test_task_settings_are_checked():
    with pytest.raises(ValueError, match="task_weight"):
        TrainSettings(task_weight=float("nan"))
    with pytest.raises(ValueError, match="lmbda"):
        TrainSettings(task_weight=1.0, lmbda=-1.0)
    assert TrainSettings(task_weight=1.0, lmbda=0.0).lmbda == 0.0
    with pytest.raises(ValueError, match="lmbda"):
        TrainSettings(lmbda=0.0)  # a pixel codec needs a distortion weight


def test_labelled_sampler_is_seeded():
    images, labels = _data()
    a, b = LabelledSampler(images, labels, seed=3), LabelledSampler(images, labels, seed=3)
    first = a.sample(5)
    assert torch.equal(first[0], b.sample(5)[0])
    with pytest.raises(ValueError, match="labels"):
        LabelledSampler(images, labels[:3])


def test_task_codec_resumes_exactly_and_its_points_are_measured(tmp_path):
    images, labels = _data()
    classifier = _classifier()
    settings = TrainSettings(lmbda=0.0, task_weight=1.0, steps=4, batch_size=3, checkpoint_every=2, lr=1e-3)
    straight, history = train_task_codec(SMALL, settings, images, labels, classifier, tmp_path / "a",
                                         progress=False)  # fmt: skip
    half = TrainSettings(**{**settings.to_dict(), "steps": 2})
    train_task_codec(SMALL, half, images, labels, classifier, tmp_path / "b", progress=False)
    resumed, resumed_history = train_task_codec(SMALL, settings, images, labels, classifier, tmp_path / "b",
                                                resume=True, progress=False)  # fmt: skip
    assert [r["loss"] for r in resumed_history] == [r["loss"] for r in history]
    assert all(np.isfinite(r["task"]) for r in history)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    load_codec(tmp_path / "a" / "codec.pt")

    uint8 = [(image[0] * 255).round().byte().numpy() for image in images[:4]]
    specs = parse_codecs(f"edic:{tmp_path},ijg")  # a folder of */codec.pt: a sweep of two codecs
    points = evaluate_codecs(specs, uint8, labels[:4], {"net": classifier.eval()}, qualities=(50,), progress=False)
    edic = [p for p in points if p.codec.startswith("edic")]
    assert [p.setting for p in edic] == ["a", "b"]
    for point in edic:
        assert 0 < point.payload_bpp < point.bpp and 0 <= point.accuracy["net"] <= 1
    with pytest.raises(ValueError, match="no EDIC codec"):
        parse_codecs(f"edic:{tmp_path / 'missing'}")


@pytest.mark.slow
def test_cli_trains_a_codec_for_a_run(trained_run, tmp_path, capsys):
    from jpegdl.cli import main

    main(["edic", "train", "--task-model", str(trained_run), "--task-images", "16", "--task-weight", "1", "3",
          "--steps", "2", "--batch-size", "4", "--channels", "8", "--latent-channels", "8", "--enhance-channels",
          "4", "--out", str(tmp_path), "--device", "cpu"])  # fmt: skip
    out = capsys.readouterr().out
    assert "16 fashion-mnist training images of shape (1, 28, 28)" in out and "cross-entropy" in out
    assert (tmp_path / "task-1" / "codec.pt").is_file() and (tmp_path / "task-3" / "codec.pt").is_file()
    with pytest.raises(SystemExit):
        main(["edic", "train", "--task-model", str(trained_run), "--lmbda", "0.1", "0.2", "--out", str(tmp_path)])
    assert "one MSE weight" in capsys.readouterr().err

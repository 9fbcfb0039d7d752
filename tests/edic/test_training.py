"""Training: exact resume, photo folders with duplicates, and the jpegdl edic command line."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("compressai")

from jpegdl.checkpoints import load_checkpoint
from jpegdl.cli import main
from jpegdl.edic import CodecConfig, build_model, decode_image
from jpegdl.edic.checkpoint import load_codec
from jpegdl.edic.data import CropSampler, deduplicate, find_images, load_training_images
from jpegdl.edic.training import TrainSettings, train_codec

SMALL = CodecConfig(channels=8, latent_channels=8, enhance_channels=4, enhance_blocks=1, enhance_residuals=1)


def _picture(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y - seed), np.sin(3 * (x + y) * (seed + 1))], -1)
    return ((base * 0.4 + 0.5 + rng.normal(0, 0.02, base.shape)).clip(0, 1) * 255).astype(np.uint8)


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for seed in range(2):
        Image.fromarray(_picture(200, 260, seed)).save(folder / f"picture{seed}.png")
    # The first picture again at a lower resolution, as wallpaper packages ship it: a duplicate.
    Image.fromarray(_picture(200, 260, 0)).resize((130, 100)).save(folder / "sub" / "picture0-small.jpg", quality=95)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_find_and_deduplicate(photo_folder):
    paths = find_images([photo_folder])
    assert len(paths) == 3
    kept = deduplicate(paths)
    assert [p.name for p in kept] == ["picture0.png", "picture1.png"]
    images = load_training_images(kept, short_side=150, min_side=64)
    assert [tuple(i.shape) for i in images] == [(3, 150, 195)] * 2 and images[0].dtype == torch.uint8
    with pytest.raises(ValueError, match="no such folder"):
        find_images([photo_folder / "missing"])
    empty = photo_folder.parent / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        find_images([empty])


def test_crop_sampler_is_seeded_and_in_range():
    images = [torch.from_numpy(_picture(140, 300, 0)).permute(2, 0, 1).contiguous()]
    a, b = CropSampler(images, 64, seed=5), CropSampler(images, 64, seed=5)
    batch = a.sample(3)
    assert batch.shape == (3, 3, 64, 64) and batch.min() >= 0 and batch.max() <= 1
    assert torch.equal(batch, b.sample(3))
    with pytest.raises(ValueError, match="crop"):
        CropSampler(images, 256)


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run(tmp_path):
    images = [torch.from_numpy(_picture(160, 160, s)).permute(2, 0, 1).contiguous() for s in range(2)]
    settings = TrainSettings(steps=4, batch_size=2, checkpoint_every=2, lr=1e-3)

    def run(steps: int, checkpoint, resume: bool):
        torch.manual_seed(0)
        model = build_model(SMALL)
        sampler = CropSampler(images, 64, seed=1)
        history = train_codec(model, sampler, TrainSettings(**{**settings.to_dict(), "steps": steps}),
                              checkpoint, resume=resume, progress=False)
        return model, history

    straight, straight_history = run(4, None, False)
    run(2, tmp_path / "train.pt", False)
    resumed, resumed_history = run(4, tmp_path / "train.pt", True)
    assert [r["loss"] for r in resumed_history] == [r["loss"] for r in straight_history]
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert load_checkpoint(tmp_path / "train.pt")["step"] == 4
    with pytest.raises(ValueError, match="other settings"):
        train_codec(build_model(SMALL), CropSampler(images, 64), TrainSettings(steps=6, lmbda=1.0),
                    tmp_path / "train.pt", resume=True, progress=False)


@pytest.mark.slow
def test_cli_train_compress_decompress_eval(photo_folder, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["edic", "train", "--data", str(photo_folder), "-o", str(out), "--steps", "2", "--crop", "64",
                 "--batch-size", "2", "--channels", "8", "--latent-channels", "8", "--enhance-channels", "4",
                 "--lmbda", "0.01", "--short-side", "128", "--device", "cpu"]) == 0
    codec = out / "lambda-0.01" / "codec.pt"
    assert json.loads(codec.with_suffix(".json").read_text())["channels"] == 8
    model, config = load_codec(codec)
    picture = photo_folder / "picture1.png"
    assert main(["edic", "compress", str(picture), "-o", str(tmp_path / "enc"), "-m", str(codec)]) == 0
    stream = tmp_path / "enc" / "picture1.edic"
    assert main(["edic", "decompress", str(stream), "-o", str(tmp_path / "dec"), "-m", str(codec)]) == 0
    decoded = np.asarray(Image.open(tmp_path / "dec" / "picture1.png"))
    expected = decode_image(model, config, stream.read_bytes())[0].permute(1, 2, 0).mul(255).round().byte().numpy()
    assert decoded.shape == (200, 260, 3) and np.array_equal(decoded, expected)
    assert main(["edic", "eval", str(codec), "--images", str(picture), "--json", str(tmp_path / "rd.json")]) == 0
    point = json.loads((tmp_path / "rd.json").read_text())[str(codec)]["images"]["picture1"]
    assert point["bpp"] == pytest.approx(stream.stat().st_size * 8 / (200 * 260))
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["edic", "train", "--data", str(photo_folder), "-o", str(out), "--crop", "100"])
    assert "multiple of the model's stride" in capsys.readouterr().err
    stream.write_bytes(stream.read_bytes()[:-3])
    with pytest.raises(SystemExit) as exit_info:
        main(["edic", "decompress", str(stream), "-o", str(tmp_path / "dec2"), "-m", str(codec)])
    assert exit_info.value.code == 2 and "truncated" in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_two_cpu_processes_resume_exactly(photo_folder, tmp_path):
    import sys

    from jpegdl.utils import free_port
    from tests.helpers import run_torchrun

    def train(out, steps: int, resume: bool = False):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                   str(free_port()), "-m", "jpegdl.cli", "edic", "train", "--data", str(photo_folder), "-o", str(out),
                   "--steps", str(steps), "--crop", "64", "--batch-size", "2", "--channels", "8", "--latent-channels",
                   "8", "--enhance-channels", "4", "--lmbda", "0.01", "--short-side", "128", "--device", "cpu",
                   "--checkpoint-every", "2"] + (["--resume"] if resume else [])  # fmt: skip
        result = run_torchrun(command, command.index("-o") + 1)
        assert result.returncode == 0, result.stderr
        return result

    straight = train(tmp_path / "a", 4)
    assert straight.stdout.count("lambda 0.01:") == 1  # rank 0 alone reports
    train(tmp_path / "b", 2)
    train(tmp_path / "b", 4, resume=True)
    a = load_checkpoint(tmp_path / "a" / "lambda-0.01" / "train.pt")
    b = load_checkpoint(tmp_path / "b" / "lambda-0.01" / "train.pt")
    assert len(a["torch_rng"]) == 2 and not torch.equal(a["sampler_rng"][0], a["sampler_rng"][1])
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    with pytest.raises(ValueError, match="written by 2 process"):
        _, config = load_codec(tmp_path / "a" / "lambda-0.01" / "codec.pt")
        train_codec(build_model(config), CropSampler([torch.zeros(3, 64, 64, dtype=torch.uint8)], 64),
                    TrainSettings(**{**a["settings"], "steps": 6}), tmp_path / "a" / "lambda-0.01" / "train.pt",
                    resume=True, progress=False)  # fmt: skip


def test_saved_codec_reloads_to_the_same_model_id(tmp_path):
    from jpegdl.edic import encode_image, model_id
    from jpegdl.edic.checkpoint import save_codec

    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    save_codec(model, SMALL, tmp_path / "codec.pt", half=True)
    stored = torch.load(tmp_path / "codec.pt", weights_only=True)
    parameters = dict(model.named_parameters())
    assert all(stored[name].dtype == torch.float16 for name in parameters)
    first, config = load_codec(tmp_path / "codec.pt")
    second, _ = load_codec(tmp_path / "codec.pt")
    assert model_id(first, config) == model_id(second, config) == model_id(model, SMALL)
    # float16 would flush the constants held in buffers (likelihood bound 1e-9, GDN pedestal 2**-36) to zero
    assert first.likelihood_bound.bound.item() == pytest.approx(1e-9)
    assert first.entropy_bottleneck.likelihood_lower_bound.bound.item() == pytest.approx(1e-9)
    image = torch.rand(3, 40, 40)
    assert decode_image(second, config, encode_image(first, config, image)).shape == (1, 3, 40, 40)
    (tmp_path / "other.json").write_text(json.dumps({**SMALL.to_dict(), "channels": 16}))
    (tmp_path / "other.pt").write_bytes((tmp_path / "codec.pt").read_bytes())
    with pytest.raises(ValueError, match="do not fit"):
        load_codec(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="missing"):
        load_codec(tmp_path / "nothing.pt")

import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from jpegdl.j4d import LearnableTables, learn_tables, load_hardness
from jpegdl.jpeg.tables import QuantTables


def tiny_classifier(channels: int = 1, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, 3))  # fmt: skip


def loader(channels: int = 1, size: int = 16, count: int = 64, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, channels, size, size, generator=generator)
    labels = torch.randint(0, 3, (count,), generator=generator)
    return DataLoader(TensorDataset(images, labels), batch_size=32)


def test_a_larger_lambda_gives_coarser_tables_and_a_lower_rate():
    model = tiny_classifier()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    cheap = learn_tables(model, loader(), lam=0.0, epochs=3, progress=False)
    small = learn_tables(model, loader(), lam=5.0, epochs=3, progress=False)
    assert small.tables.luma.mean() > cheap.tables.luma.mean()
    assert small.history[-1]["bpp"] < small.history[0]["bpp"]
    assert small.history[-1]["bpp"] < cheap.history[-1]["bpp"]
    for key, value in model.state_dict().items():  # the classifier stays frozen
        assert torch.equal(value, weights[key]), key
    assert all(not p.requires_grad for p in model.parameters()) and not model.training


@pytest.mark.parametrize("quantizer", ["soft", "sampled", "ste"])
@pytest.mark.parametrize("loss", ["ce", "kl"])
def test_every_training_quantizer_and_loss_moves_the_tables(quantizer, loss):
    result = learn_tables(tiny_classifier(), loader(), lam=1.0, quantizer=quantizer, loss=loss, progress=False)
    assert not torch.equal(result.tables.luma, QuantTables.from_quality(50).luma.float())
    assert all(torch.isfinite(torch.tensor(h["objective"])) for h in result.history)


def test_universal_rgb_tables_with_learned_hardness_stay_in_range(tmp_path):
    models = [tiny_classifier(3, seed=s) for s in (0, 1)]
    result = learn_tables(models, loader(3), lam=2.0, subsampling="4:2:0", learn_hardness=True, lr=0.5,
                          step_range=(2.0, 40.0), progress=False)  # fmt: skip
    for table in (result.tables.luma, result.tables.chroma):
        assert table.min() >= 2.0 - 1e-4 and table.max() <= 40.0 + 1e-3
    assert result.settings["models"] == 2 and result.channels == 3
    assert not torch.allclose(result.hardness, torch.full((2, 8, 8), 8.0))
    path = result.save(tmp_path / "t.json")
    loaded = QuantTables.load(path)  # the plain tables reader takes the rounded baseline tables
    assert loaded.luma.dtype == torch.int64 and torch.equal(loaded.luma, result.rounded.luma)
    assert isinstance(load_hardness(path), torch.Tensor)
    data = json.loads(path.read_text())
    assert data["subsampling"] == "4:2:0" and data["lambda"] == 2.0 and len(data["history"]) == 2


def test_kl_loss_ignores_the_labels():
    data = loader()
    shuffled = DataLoader(TensorDataset(data.dataset.tensors[0], torch.randint(0, 3, (64,))), batch_size=32)
    a = learn_tables(tiny_classifier(), data, lam=0.5, loss="kl", progress=False)
    b = learn_tables(tiny_classifier(), shuffled, lam=0.5, loss="kl", progress=False)
    assert torch.equal(a.tables.luma, b.tables.luma)


def test_bad_arguments():
    model = tiny_classifier()
    with pytest.raises(ValueError, match="lam"):
        learn_tables(model, loader(), lam=-0.1)
    with pytest.raises(ValueError, match="lam"):
        learn_tables(model, loader(), lam=float("nan"))
    with pytest.raises(ValueError, match="quantizer"):
        learn_tables(model, loader(), lam=1.0, quantizer="hard")
    with pytest.raises(ValueError, match="loss"):
        learn_tables(model, loader(), lam=1.0, loss="mse")
    with pytest.raises(ValueError, match="models"):
        learn_tables([], loader(), lam=1.0)
    with pytest.raises(ValueError, match="data"):
        learn_tables(model, [], lam=1.0)
    with pytest.raises(ValueError, match="step_range"):
        LearnableTables(QuantTables.from_quality(50), step_range=(0.5, 255))
    with pytest.raises(ValueError, match="hardness"):
        LearnableTables(QuantTables.from_quality(50), hardness=0.0)

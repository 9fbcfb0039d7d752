"""convert() swaps eligible convolutions and keeps the outputs; profiles report real bytes and times."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from jpegdl.cli import main
from jpegdl.models.registry import create
from jpegdl.sparse.convert import CANDIDATES, choose, convert, eligible_layers, format_profiles, profile_layers
from jpegdl.sparse.formats import im2col_bytes
from jpegdl.sparse.module import SparseConv2d, is_eligible
from jpegdl.sparse.ops import METHODS


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    torch.manual_seed(0)
    model = create("resnet8", 10, 1).eval()
    for module in model.modules():  # non-trivial batch-norm statistics, so activations are not all alike
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


def test_eligibility():
    assert is_eligible(nn.Conv2d(3, 4, 3, padding=1))
    assert is_eligible(nn.Conv2d(3, 4, (1, 7), stride=2, padding=(0, 3), bias=True))
    assert not is_eligible(nn.Conv2d(3, 4, 1))  # pointwise
    assert not is_eligible(nn.Conv2d(4, 4, 3, groups=2))
    assert not is_eligible(nn.Conv2d(3, 4, 3, dilation=2))
    assert not is_eligible(nn.Conv2d(3, 4, 3, padding="same"))
    assert not is_eligible(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"))


@pytest.mark.parametrize("method", [*METHODS, "auto"])
def test_converted_model_gives_the_same_outputs(resnet, method):
    images = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    converted = convert(resnet, images[:1], method=method, repeats=1)
    with torch.no_grad():
        torch.testing.assert_close(converted(images), resnet(images), rtol=1e-4, atol=1e-4)
    swapped = [m for m in converted.modules() if isinstance(m, SparseConv2d)]
    if method not in ("auto", "torch"):
        assert len(swapped) == len(eligible_layers(resnet)) and {m.method for m in swapped} == {method}
    assert not any(isinstance(m, SparseConv2d) for m in resnet.modules())  # the original is untouched


def test_profile_table_and_choices(resnet):
    sample = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    profiles = profile_layers(resnet, sample, repeats=2, warmup=1)
    assert [p.name for p in profiles] == list(eligible_layers(resnet))
    for p in profiles:
        assert set(p.seconds) == set(METHODS) and p.choice in CANDIDATES
        assert p.choice == choose(p.min_seconds)
        assert p.choice == "torch" or p.min_seconds[p.choice] <= 0.95 * p.min_seconds["torch"]
        assert p.bytes["im2col"] == im2col_bytes(p.geometry)
        assert 0 <= p.sparsity <= 1 and p.index_bits["cpo"] == 16
        assert p.bytes["cpo"] < p.bytes["im2col"]
    assert profiles[1].sparsity > 0.2  # a post-ReLU input
    table = format_profiles(profiles)
    assert "layers.0.conv1" in table and "widths: values float32 (4 B)" in table
    record = profiles[1].to_dict()
    assert record["compression_vs_im2col"]["cpo"] > 1 and record["geometry"]["kernel"] == [3, 3]
    chosen = convert(resnet, profiles=profiles)
    kept = {p.name for p in profiles if p.choice == "torch"}
    for name, module in eligible_layers(resnet).items():
        replaced = chosen.get_submodule(name)
        assert (type(replaced) is nn.Conv2d) == (name in kept), name
        del module


def test_choose_keeps_torch_within_the_margin():
    assert choose({"cpo": 0.97, "cps": 1.2, "im2col": 2.0, "torch": 1.0}) == "torch"
    assert choose({"cpo": 0.90, "cps": 1.2, "im2col": 2.0, "torch": 1.0}) == "cpo"
    assert choose({"cpo": 0.97, "im2col": 2.0}, candidates=("cpo", "im2col")) == "cpo"
    with pytest.raises(ValueError, match="candidates: none"):
        choose({"mec_a": 1.0})


def test_convert_rejects_bad_arguments(resnet):
    with pytest.raises(ValueError, match="method: expected 'auto' or one of"):
        convert(resnet, torch.rand(1, 1, 28, 28), method="fft")
    with pytest.raises(ValueError, match="sample: method='auto' needs a sample"):
        convert(resnet)
    with pytest.raises(ValueError, match="methods: unknown"):
        profile_layers(resnet, torch.rand(1, 1, 28, 28), methods=["cpo", "csr"])
    with pytest.raises(ValueError, match=r"conv: expected an nn\.Conv2d"):
        SparseConv2d(nn.Conv2d(2, 2, 1), "cpo")
    layer = SparseConv2d(nn.Conv2d(2, 3, 3), "cps")
    with pytest.raises(ValueError, match="x: expected float32"):
        layer(torch.zeros(1, 4, 8, 8))


def test_sparse_profile_cli(trained_run, tmp_path, capsys):
    out = tmp_path / "profile.json"
    assert main(["sparse-profile", "--run", str(trained_run), "--images", "2", "--repeats", "1",
                 "--json", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "resnet8 on 2 fashion-mnist test image(s)" in text and "layers.0.conv1" in text
    record = json.loads(out.read_text())
    assert record["images"] == 2 and len(record["layers"]) == 7
    assert all(layer["geometry"]["batch"] == 2 for layer in record["layers"])
    assert "whole model (fastest repeat): plain PyTorch" in text and "convert(method='auto') keeps" in text
    assert record["whole_model"][0]["choices"] == {} and record["whole_model"][0]["seconds"] > 0


def test_sparse_profile_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sparse-profile", "--run", str(tmp_path)])
    assert exit_info.value.code == 2 and "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["sparse-profile", "--run", str(tmp_path), "--threads", "0"])
    assert exit_info.value.code == 2 and "--threads" in capsys.readouterr().err


def test_compiled_kernels_are_cached_in_the_build_folder():
    from jpegdl.sparse.extension import build_directory, kernels

    module = kernels()
    assert Path(module.__file__).parent == build_directory()
    assert any(build_directory().glob("*.so"))


def _claiming(profiles, method: str):
    """Copies of ``profiles`` whose timings claim ``method`` is twice as fast as PyTorch on every layer."""
    claimed = []
    for p in profiles:
        fastest = {m: 1.0 for m in p.min_seconds} | {method: 0.5}
        claimed.append(dataclasses.replace(p, choice=method, min_seconds=fastest))
    return claimed


def test_whole_model_check_rejects_a_selection_that_is_slower_end_to_end(resnet, monkeypatch):
    import jpegdl.sparse.convert as convert_module

    class Slow(SparseConv2d):
        def forward(self, x):
            time.sleep(0.003)
            return super().forward(x)

    sample = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    claimed = _claiming(profile_layers(resnet, sample, repeats=1, warmup=0), "cpo")
    monkeypatch.setattr(convert_module, "SparseConv2d", Slow)
    assert convert_module.whole_model_choices(resnet, claimed, sample, repeats=3) == {}
    kept = convert(resnet, sample, profiles=claimed, repeats=3)
    assert not any(isinstance(m, SparseConv2d) for m in kept.modules())
    unchecked = convert(resnet, sample, profiles=claimed, check_whole=False)
    assert all(type(m) is Slow for m in unchecked.modules() if isinstance(m, SparseConv2d))
    assert any(isinstance(m, Slow) for m in unchecked.modules())


def test_whole_model_check_keeps_a_selection_that_is_faster(resnet, monkeypatch):
    import jpegdl.sparse.convert as convert_module

    sample = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(6))
    claimed = _claiming(profile_layers(resnet, sample, repeats=1, warmup=0), "cps")
    monkeypatch.setattr(convert_module, "WHOLE_MODEL_MARGIN", -100.0)  # any conversion counts as faster
    converted = convert(resnet, sample, profiles=claimed, repeats=2)
    swapped = {m.method for m in converted.modules() if isinstance(m, SparseConv2d)}
    assert swapped == {"cps"}
    with torch.no_grad():
        torch.testing.assert_close(converted(sample), resnet(sample), rtol=1e-4, atol=1e-4)

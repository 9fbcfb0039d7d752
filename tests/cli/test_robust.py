from __future__ import annotations

import json

import pytest

from jpegdl.cli import main


def test_attack_compares_runs_and_writes_json_and_plot(trained_run, jpeg_run, tmp_path, capsys):
    main(["attack", "--run", str(trained_run), "--run", str(jpeg_run), "--attack", "fgsm", "pgd",
          "--eps", "0,2/255,16/255", "--images", "40", "--backend", "native", "--out", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert "2/255" in out and "16/255" in out and "r8-jpeg" in out
    result = json.loads((tmp_path / "robustness.json").read_text())
    assert result["images"] == 40 and result["settings"]["eps"] == [2 / 255, 16 / 255]
    assert set(result["runs"]) == {"r8", "r8-jpeg"} and result["runs"]["r8-jpeg"]["jpeg_layer"]
    for run in result["runs"].values():
        for curve in run["attacks"].values():
            assert all(p["robust"] <= curve["clean"] for p in curve["points"])
    assert (tmp_path / "robustness.png").stat().st_size > 10_000


@pytest.mark.parametrize("flag", ["--bpda", "--classifier-only"])
def test_attack_gradient_surfaces_and_hard_layer(jpeg_run, tmp_path, flag, capsys):
    main(["attack", "--run", str(jpeg_run), "--eps", "4/255", "--images", "20", flag, "--layer-mode", "hard",
          "--out", str(tmp_path)])  # fmt: skip
    settings = json.loads((tmp_path / "robustness.json").read_text())["settings"]
    assert settings["gradient"] == {"--bpda": "bpda", "--classifier-only": "classifier"}[flag]
    assert settings["layer_mode"] == "hard" and settings["backend"] == "torchattacks"


def test_explain_writes_a_saliency_grid(trained_run, jpeg_run, tmp_path, capsys):
    main(["explain", "--run", str(trained_run), "--run", str(jpeg_run), "--images", "3", "--out",
          str(tmp_path / "maps.png")])  # fmt: skip
    out = capsys.readouterr().out
    assert "gradcam++ at layer 'layers'" in out
    assert (tmp_path / "maps.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["attack", "--run", "r", "--eps=-1/255", "--out", "o"], "--eps: expected a number in [0, 1]"),
        (["attack", "--run", "r", "--eps", "2", "--out", "o"], "--eps: expected a number in [0, 1]"),
        (["attack", "--run", "r", "--eps", "one", "--out", "o"], "--eps: expected numbers or fractions"),
        (["attack", "--run", "r", "--attack", "cw", "--out", "o"], "invalid choice: 'cw'"),
        (["attack", "--run", "r", "--step-size", "3", "--out", "o"], "--step-size: expected a number in [0, 1]"),
        (["attack", "--run", "r", "--bpda", "--classifier-only", "--out", "o"], "not allowed with argument"),
        (["explain", "--run", "r", "--method", "lime", "--out", "o.png"], "invalid choice: 'lime'"),
    ],
)
def test_bad_flags_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_bad_runs_layers_and_epsilons_give_clear_errors(trained_run, tmp_path, capsys):
    cases = [
        (["attack", "--run", str(tmp_path / "nowhere"), "--out", str(tmp_path)], "no checkpoint"),
        (["attack", "--run", str(trained_run), "--eps", "0", "--out", str(tmp_path)], "at least one value > 0"),
        (["explain", "--run", str(trained_run), "--layer", "layer9", "--out", str(tmp_path / "m.png")],
         "layer: CifarResNet has no module 'layer9'"),
        (["explain", "--run", str(trained_run), "--select", "disagree", "--out", str(tmp_path / "m.png")],
         "'disagree' needs two runs"),
    ]  # fmt: skip
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from jpegdl.jpeg.tables import (
    ANNEX_K_CHROMA,
    ANNEX_K_LUMA,
    NATURAL_TO_ZIGZAG,
    QuantTables,
    from_zigzag,
    ijg_scale_factor,
    ijg_table,
    to_zigzag,
)


def reference_ijg(base: np.ndarray, quality: int, force_baseline: bool) -> np.ndarray:
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    table = np.clip((base.astype(np.int64) * scale + 50) // 100, 1, 32767)
    return np.minimum(table, 255) if force_baseline else table


@pytest.mark.parametrize("force_baseline", [True, False])
def test_ijg_tables_match_libjpeg_formula_for_every_quality(force_baseline):
    for quality in range(0, 101):
        for base in (ANNEX_K_LUMA, ANNEX_K_CHROMA):
            expected = reference_ijg(base.numpy(), quality, force_baseline)
            assert np.array_equal(ijg_table(base, quality, force_baseline).numpy(), expected)


@pytest.mark.parametrize("quality", [1, 5, 10, 23, 24, 25, 50, 75, 90, 95, 99, 100])
def test_tables_equal_what_libjpeg_turbo_writes(quality):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buffer, "JPEG", quality=quality)
    written = Image.open(io.BytesIO(buffer.getvalue())).quantization
    tables = QuantTables.from_quality(quality)
    assert written[0] == tables.luma.flatten().tolist()
    assert written[1] == tables.chroma.flatten().tolist()


def test_known_values():
    assert ijg_scale_factor(0) == ijg_scale_factor(1) == 5000
    assert ijg_scale_factor(50) == 100 and ijg_scale_factor(100) == 0
    q75 = QuantTables.from_quality(75)
    assert q75.luma[0].tolist() == [8, 6, 5, 8, 12, 20, 26, 31]
    assert q75.chroma[0].tolist() == [9, 9, 12, 24, 50, 50, 50, 50]
    assert torch.equal(QuantTables.from_quality(50).luma, ANNEX_K_LUMA)
    assert QuantTables.from_quality(100).luma.eq(1).all()
    assert ijg_table(ANNEX_K_LUMA, 1, force_baseline=False).max() == 6050


def test_zigzag_round_trip_and_order():
    table = torch.arange(64).reshape(8, 8)
    zig = to_zigzag(table)
    assert zig[:6].tolist() == [0, 1, 8, 16, 9, 2]
    assert torch.equal(from_zigzag(zig), table)
    assert NATURAL_TO_ZIGZAG[:8].tolist() == [0, 1, 5, 6, 14, 15, 27, 28]


def test_json_round_trip(tmp_path):
    tables = QuantTables.from_quality(42)
    tables.save(tmp_path / "t.json")
    loaded = QuantTables.load(tmp_path / "t.json")
    assert torch.equal(loaded.luma, tables.luma) and torch.equal(loaded.chroma, tables.chroma)
    zig = {"order": "zigzag", "luma": to_zigzag(tables.luma).tolist(), "chroma": to_zigzag(tables.chroma).tolist()}
    (tmp_path / "z.json").write_text(json.dumps(zig))
    assert torch.equal(QuantTables.load(tmp_path / "z.json").luma, tables.luma)


def test_float_tables_survive_json(tmp_path):
    tables = QuantTables.flat(3.25)
    tables.save(tmp_path / "f.json")
    assert QuantTables.load(tmp_path / "f.json").luma[0, 0].item() == 3.25


def test_cjpeg_text():
    text = QuantTables.from_quality(75).to_cjpeg()
    numbers = [int(v) for line in text.splitlines() if not line.startswith("#") for v in line.split()]
    assert len(numbers) == 128
    assert numbers[:8] == [8, 6, 5, 8, 12, 20, 26, 31]


def test_rounded_clamps_to_baseline():
    tables = QuantTables(torch.full((8, 8), 0.3), torch.full((8, 8), 300.0))
    rounded = tables.rounded()
    assert rounded.luma.eq(1).all() and rounded.chroma.eq(255).all()


@pytest.mark.parametrize(
    ("luma", "message"),
    [
        (torch.zeros(8, 8), "> 0"),
        (-torch.ones(8, 8), "> 0"),
        (torch.full((8, 8), float("nan")), "NaN"),
        (torch.ones(4, 4), "shape"),
        ([[1] * 8] * 8, "torch.Tensor"),
    ],
)
def test_invalid_tables_are_rejected(luma, message):
    with pytest.raises(ValueError, match=message):
        QuantTables(luma, torch.ones(8, 8))


def test_export_rejects_non_baseline_tables():
    with pytest.raises(ValueError, match=r"1\.\.255"):
        QuantTables(torch.full((8, 8), 256), torch.ones(8, 8, dtype=torch.int64)).baseline()
    with pytest.raises(ValueError, match="integer"):
        QuantTables(torch.full((8, 8), 2.5), torch.ones(8, 8)).to_cjpeg()


@pytest.mark.parametrize("quality", [-1, 101, float("nan"), "75", True])
def test_bad_quality(quality):
    with pytest.raises(ValueError, match="quality"):
        QuantTables.from_quality(quality)


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        QuantTables.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="JSON"):
        QuantTables.load(tmp_path / "bad.json")
    (tmp_path / "short.json").write_text(json.dumps({"luma": [1] * 10, "chroma": [1] * 64}))
    with pytest.raises(ValueError, match="64 values"):
        QuantTables.load(tmp_path / "short.json")

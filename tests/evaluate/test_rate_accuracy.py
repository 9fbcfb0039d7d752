import numpy as np
import pytest
import torch

from jpegdl.evaluate.rate_accuracy import (
    CodecSpec,
    compare,
    decode_files,
    encode_many,
    evaluate_codecs,
    format_comparisons,
    gracelike_tables,
    parse_codecs,
)
from jpegdl.files import payload_bytes, save_jpeg
from jpegdl.j4d import learn_tables
from tests.j4d.test_learn import loader, tiny_classifier


@pytest.fixture
def test_set():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(20, 1, 16, 16, generator=generator)
    arrays = [np.floor(i[0].numpy() * 255 + 0.5).astype(np.uint8) for i in images]
    return arrays, torch.randint(0, 3, (20,), generator=generator)


def test_parse_codecs(tmp_path):
    (tmp_path / "t.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    specs = parse_codecs(f"ijg, mozjpeg,sensitivity,learned:{tmp_path / 't.json'}")
    assert [s.kind for s in specs] == ["ijg", "mozjpeg", "sensitivity", "learned"] and specs[-1].name == "learned:t"
    for bad, message in (("ijg,webp", "unknown codec"), (f"learned:{tmp_path / 'x.json'}", "no such"),
                         (f"learned:{tmp_path / 'empty'}", "no \\*.json"), ("", "unknown codec")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_codecs(bad)


def test_gracelike_tables_give_the_finest_step_to_the_most_sensitive_frequency():
    sensitivity = torch.rand(8, 8) + 1e-3
    sensitivity[0, 0] = 100.0
    tables = gracelike_tables((sensitivity, sensitivity), 3.0)
    assert tables.luma[0, 0] == 3 and tables.luma.min() >= 3 and tables.luma.max() <= 255
    assert tables.luma.dtype == torch.int64


def test_every_point_is_real_files(test_set, tmp_path):
    arrays, labels = test_set
    model = tiny_classifier()
    learn_tables(model, loader(), lam=1.0, progress=False).save(tmp_path / "learned" / "lambda1.json")
    specs = [CodecSpec("ijg"), CodecSpec("learned", str(tmp_path / "learned"))]
    points = evaluate_codecs(specs, arrays, labels, {"tiny": model}, qualities=(20, 80), probabilistic_seeds=(0, 1),
                             progress=False)  # fmt: skip
    assert [(p.codec, p.setting, p.seed) for p in points] == [
        ("ijg", 20, None), ("ijg", 80, None), ("learned:learned", "lambda1", None),
        ("learned:learned+prob", "lambda1", 0), ("learned:learned+prob", "lambda1", 1),
    ]  # fmt: skip
    files = [save_jpeg(a, 20, "4:4:4") for a in arrays]
    assert points[0].bpp == pytest.approx(8 * sum(map(len, files)) / (20 * 256))
    assert points[0].payload_bpp == pytest.approx(8 * sum(map(payload_bytes, files)) / (20 * 256))
    assert points[0].bpp < points[1].bpp and all(0 <= p.accuracy["tiny"] <= 1 for p in points)
    assert points[3].bpp != points[4].bpp  # different draws


def test_parallel_encoding_matches_serial(test_set):
    arrays, _ = test_set
    from functools import partial

    encoder = partial(save_jpeg, tables=50, subsampling="4:4:4")
    serial = encode_many(arrays, encoder, 1, progress=False)
    assert encode_many(arrays, encoder, 2, progress=False) == serial
    assert decode_files(serial).shape == (20, 1, 16, 16)


def test_compare_reports_bd_rate_against_ijg():
    ijg = [(0.5, 0.70), (1.0, 0.80), (2.0, 0.85), (4.0, 0.88)]
    half = [(r / 2, a) for r, a in ijg]
    points = [{"codec": c, "setting": i, "bpp": r + 1, "payload_bpp": r, "accuracy": {"m": a}}
              for c, curve in (("ijg", ijg), ("better", half)) for i, (r, a) in enumerate(curve)]  # fmt: skip
    rows = compare(points, {"m": 0.90})
    assert len(rows) == 1 and rows[0]["bd_rate_payload_bpp"]["bd_rate"] == pytest.approx(-0.5)
    assert rows[0]["payload_bpp_at_minus_5pt"]["saving"] == pytest.approx(0.5)
    assert "-50.0%" in format_comparisons(rows)

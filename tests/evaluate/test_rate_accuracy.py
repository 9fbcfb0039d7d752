import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from jpegdl.evaluate.rate_accuracy import (
    CodecSpec,
    compare,
    decode_files,
    encode_many,
    evaluate_codecs,
    format_comparisons,
    parse_codecs,
    rate_accuracy,
)
from jpegdl.files import jpeg_bytes, payload_bytes
from jpegdl.j4d import learn_tables


def tiny_classifier(channels: int = 1, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, 3))  # fmt: skip


def loader(count: int = 64) -> DataLoader:
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(count, 1, 16, 16, generator=generator)
    return DataLoader(TensorDataset(images, torch.randint(0, 3, (count,), generator=generator)), batch_size=32)


@pytest.fixture
def test_set():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(20, 1, 16, 16, generator=generator)
    arrays = [np.floor(i[0].numpy() * 255 + 0.5).astype(np.uint8) for i in images]
    return arrays, torch.randint(0, 3, (20,), generator=generator)


def test_parse_codecs(tmp_path):
    (tmp_path / "t.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    specs = parse_codecs(f"ijg, mozjpeg,sensitivity,learned:{tmp_path / 't.json'},learned-rd:{tmp_path / 't.json'}")
    assert [s.kind for s in specs] == ["ijg", "mozjpeg", "sensitivity", "learned", "learned-rd"]
    assert specs[3].name == "learned:t" and specs[4].name == "learned-rd:t"
    for bad, message in (("ijg,webp", "unknown codec"), (f"learned:{tmp_path / 'x.json'}", "no such"),
                         (f"learned:{tmp_path / 'empty'}", "no \\*.json"), ("", "unknown codec")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_codecs(bad)


def test_every_point_is_real_files(test_set, tmp_path):
    arrays, labels = test_set
    model = tiny_classifier()
    learn_tables(model, loader(), lam=1.0, sweeps=1, progress=False).save(tmp_path / "learned" / "lambda1.json")
    specs = [CodecSpec("ijg"), CodecSpec("learned", str(tmp_path / "learned"))]
    points = evaluate_codecs(specs, arrays, labels, {"tiny": model}, qualities=(20, 80), probabilistic_seeds=(0, 1),
                             progress=False)  # fmt: skip
    assert [(p.codec, p.setting, p.seed) for p in points] == [
        ("ijg", 20, None), ("ijg", 80, None), ("learned:learned", "lambda1", None),
        ("learned:learned+prob", "lambda1", 0), ("learned:learned+prob", "lambda1", 1),
    ]  # fmt: skip
    files = [jpeg_bytes(a, 20, "4:4:4") for a in arrays]
    assert points[0].bpp == pytest.approx(8 * sum(map(len, files)) / (20 * 256))
    assert points[0].payload_bpp == pytest.approx(8 * sum(map(payload_bytes, files)) / (20 * 256))
    assert points[0].bpp < points[1].bpp and all(0 <= p.accuracy["tiny"] <= 1 for p in points)
    assert points[3].bpp != points[4].bpp  # different draws
    from jpegdl.evaluate.per_image import unpack_counts, unpack_flags

    record = points[0].to_dict()  # per-image records agree with the aggregates
    assert unpack_counts(record["per_image_payload"]).tolist() == [payload_bytes(f) for f in files]
    assert unpack_flags(record["per_image_correct"]["tiny"]).mean() == pytest.approx(points[0].accuracy["tiny"])


def test_parallel_encoding_matches_serial(test_set):
    arrays, _ = test_set
    from functools import partial

    encoder = partial(jpeg_bytes, tables=50, subsampling="4:4:4")
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


def test_rate_accuracy_entry_point_with_sensitivity_and_rd_codecs(test_set, tmp_path):
    arrays, labels = test_set
    dataset = TensorDataset(torch.stack([torch.from_numpy(a).float().div(255).unsqueeze(0) for a in arrays]), labels)
    model = tiny_classifier()
    learn_tables(model, loader(), lam=0.5, sweeps=1, progress=False).save(tmp_path / "t" / "lambda0.5.json")
    result = rate_accuracy({"tiny": model}, dataset, f"ijg,sensitivity,learned-rd:{tmp_path / 't'}",
                           qualities=(20, 60), scales=(2, 8), sensitivity_data=loader().dataset, limit=12,
                           progress=False)  # fmt: skip
    codecs = [p["codec"] for p in result["points"]]
    assert codecs == ["ijg", "ijg", "sensitivity", "sensitivity", "learned-rd:t"]
    assert result["test_images"] == 12 and set(result["uncompressed_accuracy"]) == {"tiny"}
    assert all(row["reference"] == "ijg" and row["rounds"] <= 1000 for row in result["bootstrap"])
    with pytest.raises(ValueError, match="bootstrap_rounds"):
        rate_accuracy({"tiny": model}, dataset, "ijg", bootstrap_rounds=-1, progress=False)
    with pytest.raises(ValueError, match="sensitivity_data"):
        rate_accuracy({"tiny": model}, dataset, "sensitivity", progress=False)


def test_guided_codecs_write_one_point_per_threshold_and_measure_every_model(test_set):
    arrays, labels = test_set
    dataset = TensorDataset(torch.stack([torch.from_numpy(a).float().div(255).unsqueeze(0) for a in arrays]), labels)
    models = {"guide": tiny_classifier(seed=0), "other": tiny_classifier(seed=1)}
    result = rate_accuracy(models, dataset, "ijg,guided,guided-ijg", qualities=(10, 90), guided_thresholds=(0.0, 10.0),
                           sensitivity_data=loader().dataset, limit=10, bootstrap_rounds=0, progress=False)  # fmt: skip
    guided = [p for p in result["points"] if p["codec"].startswith("guided")]
    assert [(p["codec"], p["setting"]) for p in guided] == [("guided", 0.0), ("guided", 10.0), ("guided-ijg", 0.0),
                                                            ("guided-ijg", 10.0)]  # fmt: skip
    for p in guided:
        assert set(p["accuracy"]) == {"guide", "other"} and p["per_image_payload"]
    # a threshold nothing exceeds picks the coarsest tables for every image: fewer bytes than the strictest one
    assert guided[1]["payload_bpp"] < guided[0]["payload_bpp"] and guided[3]["payload_bpp"] < guided[2]["payload_bpp"]
    with pytest.raises(ValueError, match="sensitivity_data"):
        rate_accuracy(models, dataset, "guided", progress=False)


def test_guided_points_refuse_mixed_sizes_and_empty_sets():
    from jpegdl.evaluate.guided_points import guided_points
    from jpegdl.j4d.guided import quality_ladder

    images = [np.zeros((16, 16), np.uint8), np.zeros((12, 20), np.uint8)]
    for bad, message in ((images, "one image size"), ([], "empty")):
        with pytest.raises(ValueError, match=message):
            guided_points(tiny_classifier(), quality_ladder((90, 5)), (0.05,), bad, torch.tensor([0, 1]),
                          {"tiny": tiny_classifier()})  # fmt: skip

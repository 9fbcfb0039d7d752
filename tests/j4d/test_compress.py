import numpy as np
import pytest
import torch
from PIL import Image

from jpegdl.files import inspect, read_coefficients
from jpegdl.j4d import compress_folder
from jpegdl.jpeg.tables import QuantTables


@pytest.fixture
def folder(tmp_path, photos):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    Image.fromarray(photos["chelsea"]).save(source / "cat.png")
    Image.fromarray(photos["coffee"][:40, :50, 0]).save(source / "sub" / "gray.bmp")
    rgba = np.dstack([photos["astronaut"][:33, :21], np.full((33, 21), 128, np.uint8)])
    Image.fromarray(rgba).save(source / "sub" / "alpha.png")
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (source / "notes.txt").write_text("not an image")
    return source


def test_every_readable_image_becomes_a_standard_jpeg(folder, tmp_path):
    tables = QuantTables.from_quality(50)
    with pytest.warns(UserWarning, match="broken.png"):
        summary = compress_folder(folder, tmp_path / "out", tables, "4:2:0", progress=False)
    assert summary["files"] == 3 and summary["skipped"] == 1
    cat, gray = inspect(tmp_path / "out" / "cat.jpg"), inspect(tmp_path / "out" / "sub" / "gray.jpg")
    assert (cat.width, cat.height, cat.subsampling) == (200, 200, "4:2:0") and gray.components == 1
    assert inspect(tmp_path / "out" / "sub" / "alpha.jpg").components == 3
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*.jpg"))
    assert summary["bytes"] == written and 0 < summary["payload_bpp"] < summary["bpp"]


def test_probabilistic_output_does_not_depend_on_workers(folder, tmp_path):
    tables = QuantTables.from_quality(70)
    options = {"subsampling": "4:4:4", "encoder": "probabilistic", "hardness": 1.5, "seed": 4, "progress": False}
    with pytest.warns(UserWarning):
        compress_folder(folder, tmp_path / "one", tables, workers=1, **options)
    with pytest.warns(UserWarning):
        compress_folder(folder, tmp_path / "two", tables, workers=2, **options)
    for path in (tmp_path / "one").rglob("*.jpg"):
        assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
    drawn = read_coefficients(tmp_path / "one" / "cat.jpg").luma
    rounded_dir = tmp_path / "rounded"
    with pytest.warns(UserWarning):
        compress_folder(folder, rounded_dir, tables, "4:4:4", progress=False)
    assert not torch.equal(drawn, read_coefficients(rounded_dir / "cat.jpg").luma)


def test_bad_inputs(tmp_path, folder):
    (tmp_path / "empty").mkdir()
    tables = QuantTables.from_quality(50)
    with pytest.raises(ValueError, match="no images"):
        compress_folder(tmp_path / "empty", tmp_path / "out", tables)
    with pytest.raises(ValueError, match="no such folder"):
        compress_folder(tmp_path / "missing", tmp_path / "out", tables)
    with pytest.raises(ValueError, match=r"1\.\.255"):
        compress_folder(folder, tmp_path / "out", QuantTables(torch.full((8, 8), 300), torch.full((8, 8), 2)))
    with pytest.raises(ValueError, match="integer"):
        compress_folder(folder, tmp_path / "out", QuantTables.flat(7.5))
    with pytest.raises(ValueError, match="encoder"):
        compress_folder(folder, tmp_path / "out", tables, encoder="mozjpeg")


def test_two_inputs_never_share_an_output_and_a_bad_picture_never_stops_the_batch(tmp_path):
    import numpy as np
    from PIL import Image

    from jpegdl.j4d import compress_folder
    from jpegdl.jpeg import QuantTables

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("b.png", "b.bmp"):
        Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(folder / name)
    with pytest.raises(ValueError, match="would both be written to"):
        compress_folder(folder, tmp_path / "out", QuantTables.from_quality(50), progress=False)
    (folder / "b.bmp").unlink()
    Image.new("L", (200, 200)).save(folder / "huge.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.warns(UserWarning):
        summary = compress_folder(folder, tmp_path / "out", QuantTables.from_quality(50), progress=False,
                                  max_pixels=1000)  # fmt: skip
    assert summary["files"] == 1 and summary["skipped"] == 2
    assert any("above the limit" in reason for reason in summary["skipped_files"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["b.jpg"]

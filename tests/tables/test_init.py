import torch

from jpegdl.jpeg import QuantTables
from jpegdl.tables import lsq_tables


def loader(channels=3, batches=3):
    torch.manual_seed(0)
    return [(torch.rand(4, channels, 16, 16), torch.randint(0, 3, (4,))) for _ in range(batches)]


def test_lsq_tables_follow_coefficient_magnitudes():
    bright = [(0.75 + 0.2 * images, labels) for images, labels in loader()]
    tables = lsq_tables(bright, limit=None)
    assert isinstance(tables, QuantTables) and (tables.luma > 0).all()
    # Bright noisy images: the DC (level far from mid-grey) dominates the AC magnitudes.
    assert tables.luma[0, 0] == tables.luma.max()
    flat = [(torch.full((2, 1, 8, 8), 0.5), torch.zeros(2, dtype=torch.long))]
    assert lsq_tables(flat).luma[1:, 1:].max() <= 1e-3 + 1e-9


def test_grayscale_tables():
    tables = lsq_tables(loader(channels=1))
    assert torch.equal(tables.luma, tables.chroma)

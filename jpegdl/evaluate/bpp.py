"""Bits per pixel of a dataset written as real JPEG files with given tables."""

from __future__ import annotations

from torch.utils.data import Dataset

from jpegdl.files import jpeg_bytes, payload_bytes
from jpegdl.jpeg.tables import QuantTables


def dataset_bpp(dataset: Dataset, tables: QuantTables, subsampling: str = "4:4:4", limit: int | None = None) -> dict:
    """Encode every image (``(C, H, W)`` in [0, 1]) with libjpeg-turbo, optimized Huffman tables.

    Returns:
        ``{"images", "bpp", "payload_bpp"}``: whole-file bits per pixel (headers included) and
        entropy-coded payload alone (as when a dataset shares its tables), averaged per pixel.
    """
    tables = tables.rounded()
    count = len(dataset) if limit is None else min(limit, len(dataset))
    file_bits = payload_bits = pixels = 0
    for index in range(count):
        image = dataset[index][0]
        data = jpeg_bytes(image, tables, subsampling)
        file_bits += 8 * len(data)
        payload_bits += 8 * payload_bytes(data)
        pixels += image.shape[-2] * image.shape[-1]
    return {"images": count, "bpp": file_bits / pixels, "payload_bpp": payload_bits / pixels}

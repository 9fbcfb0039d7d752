"""Write standard JPEG files: from pixels with given tables (Pillow / libjpeg-turbo), from our
integer coefficients (jpeglib), and with mozjpeg's trellis encoder as a baseline."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from jpegdl.files.arrays import to_uint8
from jpegdl.files.markers import renumber_components
from jpegdl.files.tempfiles import temp_path
from jpegdl.jpeg.codec import Coefficients
from jpegdl.jpeg.sampling import check_subsampling
from jpegdl.jpeg.tables import QuantTables

_PILLOW_SUBSAMPLING = {"4:4:4": 0, "4:2:0": 2}
MAX_AC_INDEX = 1023
DC_INDEX_RANGE = (-1024, 1023)
MOZJPEG_VERSION = "mozjpeg403"


def _tables_for(tables: QuantTables | int) -> QuantTables:
    if isinstance(tables, bool):
        raise ValueError(f"tables: expected QuantTables or an IJG quality 0..100, got {tables!r}")
    if isinstance(tables, int):
        return QuantTables.from_quality(tables)
    if not isinstance(tables, QuantTables):
        raise ValueError(f"tables: expected QuantTables or an IJG quality 0..100, got {type(tables).__name__}")
    return tables


def jpeg_bytes(
    image: torch.Tensor | np.ndarray,
    tables: QuantTables | int,
    subsampling: str = "4:2:0",
    optimize: bool = True,
    icc_profile: bytes | None = None,
) -> bytes:
    """Encode one image as a baseline JPEG with exactly these tables (Pillow, libjpeg-turbo).

    Args:
        image: float ``(C, H, W)`` / ``(1, C, H, W)`` in [0, 1], or uint8 ``(H, W[, 3])``.
        tables: integer steps 1..255 (``QuantTables``) or an IJG quality 0..100.
        subsampling: ``"4:2:0"`` or ``"4:4:4"`` (ignored for grayscale).
        optimize: per-image optimized Huffman tables (two-pass); else Annex K tables.
        icc_profile: an ICC colour profile to embed (the source picture's), or ``None``.

    Returns:
        The JPEG file as bytes (SOF0; the tables are written as given, never rescaled).
    """
    pixels = to_uint8(image)
    luma, chroma = _tables_for(tables).baseline()
    check_subsampling(subsampling)
    qtables = [luma.flatten().tolist()]
    options: dict = {"icc_profile": icc_profile} if icc_profile else {}
    if pixels.ndim == 3:
        qtables.append(chroma.flatten().tolist())
        options["subsampling"] = _PILLOW_SUBSAMPLING[subsampling]
    buffer = io.BytesIO()
    # Never pass quality= together with qtables=: Pillow would rescale the tables.
    Image.fromarray(pixels).save(buffer, "JPEG", qtables=qtables, optimize=optimize, **options)
    return buffer.getvalue()


def _index_blocks(component: torch.Tensor, index: int, name: str) -> np.ndarray:
    blocks = component[index].detach().cpu().double()
    if not torch.isfinite(blocks).all() or not torch.equal(blocks, blocks.round()):
        raise ValueError(f"{name}: a JPEG file holds integer indices; use a hard, ste or sampled quantizer")
    ac = blocks.clone()
    ac[..., 0, 0] = 0
    if ac.abs().max() > MAX_AC_INDEX:
        raise ValueError(f"{name}: AC indices must lie in -1023..1023 (8-bit baseline), got {int(ac.abs().max())}")
    dc = blocks[..., 0, 0]
    if dc.numel() and (dc.min() < DC_INDEX_RANGE[0] or dc.max() > DC_INDEX_RANGE[1]):
        raise ValueError(f"{name}: DC indices must lie in -1024..1023, got {int(dc.min())}..{int(dc.max())}")
    return blocks.to(torch.int16).numpy()


def write_coefficients(coefficients: Coefficients, index: int = 0, optimize: bool = True) -> bytes:
    """Write image ``index`` of ``coefficients`` as a baseline JPEG, bit-exact (jpeglib, libjpeg 6b).

    The indices must be integers within baseline limits and the tables integers 1..255;
    anything else raises ``ValueError`` (libjpeg would silently write SOF1 or wrap values).
    """
    if not isinstance(coefficients, Coefficients):
        raise ValueError(f"coefficients: expected Coefficients, got {type(coefficients).__name__}")
    if not 0 <= index < coefficients.batch_size:
        raise ValueError(f"index: expected 0..{coefficients.batch_size - 1}, got {index}")
    import jpeglib

    tables = coefficients[index].tables
    if tables.luma.dim() == 3:
        tables = QuantTables(tables.luma[0], tables.chroma[0])
    luma_table, chroma_table = tables.baseline()
    names = ("coefficients.luma", "coefficients.chroma[0]", "coefficients.chroma[1]")
    blocks = [_index_blocks(c, index, n) for c, n in zip(coefficients.components, names, strict=False)]
    height, width = coefficients.size
    if len(blocks) == 3:
        qt = torch.stack([luma_table, chroma_table]).numpy().astype(np.uint16)
        jpeg = jpeglib.from_dct(Y=blocks[0], Cb=blocks[1], Cr=blocks[2], qt=qt)
        jpeg.samp_factor = coefficients.subsampling
    else:
        jpeg = jpeglib.from_dct(Y=blocks[0], Cb=None, Cr=None, qt=luma_table[None].numpy().astype(np.uint16))
    jpeg.height, jpeg.width = height, width
    flags = ["+OPTIMIZE_CODING"] if optimize else ["-OPTIMIZE_CODING"]
    with temp_path() as path:
        jpeg.write_dct(path, flags=flags)
        with open(path, "rb") as file:
            data = file.read()
    return renumber_components(data)


def mozjpeg_encode(
    image: torch.Tensor | np.ndarray,
    tables: QuantTables | int = 75,
    subsampling: str = "4:2:0",
) -> bytes:
    """Encode with mozjpeg 4.0.3 (trellis quantization, progressive, optimized Huffman).

    ``tables`` as an int uses mozjpeg's quality scaling of the Annex K tables
    (``base_quant_tbl_idx=0``), so qualities match IJG's; ``QuantTables`` are used as given.
    """
    import jpeglib

    pixels = to_uint8(image)
    check_subsampling(subsampling)
    with temp_path() as path, jpeglib.version(MOZJPEG_VERSION):
        jpeg = jpeglib.from_spatial(pixels if pixels.ndim == 3 else pixels[..., None])
        if pixels.ndim == 3:
            jpeg.samp_factor = subsampling
        if isinstance(tables, int) and not isinstance(tables, bool):
            if not 0 <= tables <= 100:
                raise ValueError(f"tables: expected an IJG quality 0..100, got {tables}")
            jpeg.write_spatial(path, qt=max(tables, 1), base_quant_tbl_idx=0, flags=["+FORCE_BASELINE"])
        else:
            luma, chroma = _tables_for(tables).baseline()
            qt = torch.stack([luma, chroma] if pixels.ndim == 3 else [luma]).numpy().astype(np.uint16)
            jpeg.write_spatial(path, qt=qt)
        with open(path, "rb") as file:
            data = file.read()
    return renumber_components(data)

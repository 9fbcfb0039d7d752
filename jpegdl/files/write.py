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
from jpegdl.jpeg.sampling import check_subsampling, sampling_factors
from jpegdl.jpeg.tables import QuantTables, baseline_table

_PILLOW_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
LIBJPEG_TURBO = "turbo210"
ICC_CHUNK = 65519  # APP2 payload after the 14-byte ICC_PROFILE header
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
    """Encode one image as a baseline JPEG with exactly these tables (libjpeg-turbo).

    Args:
        image: float ``(C, H, W)`` / ``(1, C, H, W)`` in [0, 1], or uint8 ``(H, W[, 3])``.
        tables: integer steps 1..255 (``QuantTables``) or an IJG quality 0..100.
        subsampling: any mode ``jpegdl.encode`` accepts (ignored for grayscale). 4:4:4, 4:2:2 and
            4:2:0 are written by Pillow, the others by jpeglib's libjpeg-turbo 2.1 (same encoder).
        optimize: per-image optimized Huffman tables (two-pass); else Annex K tables.
        icc_profile: an ICC colour profile to embed (the source picture's), or ``None``.

    Returns:
        The JPEG file as bytes (SOF0; the tables are written as given, never rescaled).
    """
    pixels = to_uint8(image)
    luma, chroma = _tables_for(tables).baseline()
    subsampling = check_subsampling(subsampling)
    if pixels.ndim == 3 and subsampling not in _PILLOW_SUBSAMPLING:
        return _libjpeg_bytes(pixels, torch.stack([luma, chroma]), subsampling, optimize, icc_profile)
    qtables = [luma.flatten().tolist()]
    options: dict = {"icc_profile": icc_profile} if icc_profile else {}
    if pixels.ndim == 3:
        qtables.append(chroma.flatten().tolist())
        options["subsampling"] = _PILLOW_SUBSAMPLING[subsampling]
    buffer = io.BytesIO()
    # Never pass quality= together with qtables=: Pillow would rescale the tables.
    Image.fromarray(pixels).save(buffer, "JPEG", qtables=qtables, optimize=optimize, **options)
    return buffer.getvalue()


def jpeglib_factors(subsampling: str, components: int) -> list[list[int]]:
    """jpeglib's ``samp_factor`` layout: ``[[v, h], ...]`` per component."""
    return [[v, h] for h, v in sampling_factors(subsampling, components)]


def _libjpeg_bytes(
    pixels: np.ndarray, tables: torch.Tensor, subsampling: str, optimize: bool, icc_profile: bytes | None
) -> bytes:
    """Colour ``pixels`` written by libjpeg-turbo (jpeglib) at sampling factors Pillow cannot set."""
    import jpeglib

    with temp_path() as path, jpeglib.version(LIBJPEG_TURBO):
        jpeg = jpeglib.from_spatial(np.ascontiguousarray(pixels))
        jpeg.samp_factor = jpeglib_factors(subsampling, 3)
        flags = ["+OPTIMIZE_CODING"] if optimize else ["-OPTIMIZE_CODING"]
        jpeg.write_spatial(path, qt=tables.numpy().astype(np.uint16), flags=flags)
        with open(path, "rb") as file:
            data = renumber_components(file.read())
    return with_icc_profile(data, icc_profile) if icc_profile else data


def with_icc_profile(data: bytes, profile: bytes) -> bytes:
    """``data`` with ``profile`` embedded as APP2 ``ICC_PROFILE`` chunks right after SOI (and JFIF)."""
    chunks = [profile[i : i + ICC_CHUNK] for i in range(0, len(profile), ICC_CHUNK)] or [b""]
    if len(chunks) > 255:
        raise ValueError(f"icc_profile: {len(profile)} bytes need more than 255 APP2 chunks")
    segments = b"".join(
        b"\xff\xe2" + (16 + len(chunk)).to_bytes(2, "big") + b"ICC_PROFILE\x00" + bytes([i + 1, len(chunks)]) + chunk
        for i, chunk in enumerate(chunks)
    )
    insert = 2
    if data[2:4] == b"\xff\xe0":  # keep JFIF first
        insert = 4 + int.from_bytes(data[4:6], "big")
    return data[:insert] + segments + data[insert:]


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

    if coefficients.color not in ("", "grayscale", "ycbcr"):
        raise ValueError(f"coefficients: writing {coefficients.color.upper()} files is not supported (grayscale and"
                         " YCbCr are)")  # fmt: skip
    tables = coefficients[index].tables
    if tables.luma.dim() == 3:
        tables = QuantTables(tables.luma[0], tables.chroma[0])
    luma_table, chroma_table = tables.baseline()
    names = ("coefficients.luma", "coefficients.chroma[0]", "coefficients.chroma[1]")
    blocks = [_index_blocks(c, index, n) for c, n in zip(coefficients.components, names, strict=False)]
    height, width = coefficients.size
    if len(blocks) == 3:
        if coefficients.component_tables:  # e.g. separate Cb and Cr tables, read from a file
            steps = [baseline_table(t, "coefficients.component_tables") for t in coefficients.component_tables]
            qt = torch.stack(steps)
            jpeg = jpeglib.from_dct(Y=blocks[0], Cb=blocks[1], Cr=blocks[2], qt=qt.numpy().astype(np.uint16))
            jpeg.quant_tbl_no = np.array([0, 1, 2])
        else:
            qt = torch.stack([luma_table, chroma_table]).numpy().astype(np.uint16)
            jpeg = jpeglib.from_dct(Y=blocks[0], Cb=blocks[1], Cr=blocks[2], qt=qt)
        jpeg.samp_factor = jpeglib_factors(coefficients.subsampling, 3)
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
    subsampling = check_subsampling(subsampling)
    with temp_path() as path, jpeglib.version(MOZJPEG_VERSION):
        jpeg = jpeglib.from_spatial(pixels if pixels.ndim == 3 else pixels[..., None])
        if pixels.ndim == 3:
            jpeg.samp_factor = jpeglib_factors(subsampling, 3)
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

"""Read JPEG files: coefficients and tables (jpeglib), pixels (Pillow), and a summary."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from jpegdl.files.arrays import to_tensor
from jpegdl.files.headers import read_frame_header
from jpegdl.files.markers import parse_segments, payload_bytes
from jpegdl.files.pictures import MAX_PIXELS
from jpegdl.files.tempfiles import temp_path
from jpegdl.jpeg.codec import Coefficients
from jpegdl.jpeg.tables import QuantTables

DECODERS = ("pillow", "6b", "turbo210", "9e")


def load_bytes(source: bytes | str | Path, name: str = "source") -> bytes:
    """Bytes of a JPEG given as bytes or a path; validates the marker structure."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{name}: no such file {str(path)!r}")
        data = path.read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise ValueError(f"{name}: expected bytes or a path, got {type(source).__name__}")
    parse_segments(data, name)
    return data


def _subsampling(factors: np.ndarray) -> str:
    factors = np.asarray(factors).reshape(-1, 2)
    if len(factors) == 1 or (factors == factors[0]).all():
        return "4:4:4"
    if factors[0].tolist() == [2, 2] and (factors[1:] == 1).all():
        return "4:2:0"
    raise ValueError(f"source: chroma sampling factors {factors.tolist()} are not supported (4:4:4 and 4:2:0 are)")


def read_coefficients(source: bytes | str | Path, max_pixels: int = MAX_PIXELS) -> Coefficients:
    """Quantization indices, tables and sampling of a JPEG file, as a batch of one.

    Tables must follow libjpeg's usual assignment (Y: table 0, Cb and Cr: one shared table).
    """
    import jpeglib

    data = load_bytes(source)
    header = read_frame_header(data)
    if header.pixels > max_pixels:
        check_claimed_size(data, max_pixels)
    if header.color not in ("grayscale", "ycbcr"):
        raise ValueError(f"source: {header.color.upper()} JPEG files have no YCbCr coefficients (jpegdl reads"
                         " grayscale and YCbCr files)")  # fmt: skip
    if header.subsampling not in ("4:4:4", "4:2:0"):
        raise ValueError(f"source: {header.subsampling} chroma sampling is not supported for coefficients"
                         " (4:4:4 and 4:2:0 are)")  # fmt: skip
    with temp_path(data) as path:
        jpeg = jpeglib.read_dct(path)
        luma = torch.from_numpy(np.array(jpeg.Y, dtype=np.float32))[None]
        tables = torch.from_numpy(np.array(jpeg.qt, dtype=np.int64))
        slots = [int(s) for s in np.asarray(jpeg.quant_tbl_no).ravel()]
        if jpeg.has_chrominance:
            if slots[1] != slots[2]:
                raise ValueError("source: Cb and Cr use different quantization tables; jpegdl shares one")
            chroma = tuple(torch.from_numpy(np.array(c, dtype=np.float32))[None] for c in (jpeg.Cb, jpeg.Cr))
            quant = QuantTables(tables[slots[0]], tables[slots[1]])
            subsampling = _subsampling(jpeg.samp_factor)
        else:
            chroma = ()
            quant = QuantTables(tables[slots[0]], tables[slots[0]].clone())
            subsampling = "4:4:4"
        size = (int(jpeg.height), int(jpeg.width))
    return Coefficients(luma, chroma, quant, subsampling, size)


def read_image(source: bytes | str | Path, decoder: str = "pillow") -> torch.Tensor:
    """Decode a JPEG file to a ``(1, C, H, W)`` float tensor in [0, 1].

    Args:
        decoder: ``"pillow"`` (libjpeg-turbo; never draft mode) or a jpeglib build:
            ``"6b"``, ``"turbo210"``, ``"9e"`` (any name ``jpeglib.version`` accepts).
    """
    return to_tensor(decode_pixels(source, decoder))


def decode_pixels(source: bytes | str | Path, decoder: str = "pillow", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode to uint8 ``(H, W)`` or ``(H, W, 3)`` with the chosen libjpeg build (CMYK becomes RGB)."""
    data = load_bytes(source)
    check_claimed_size(data, max_pixels)
    if decoder == "pillow":
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                return np.asarray(image.convert("L" if image.mode == "L" else "RGB"))
        except OSError as err:
            raise ValueError(f"source: Pillow cannot decode this JPEG ({err})") from None
    import jpeglib

    with temp_path(data) as path, jpeglib.version(decoder):
        pixels = jpeglib.read_spatial(path).spatial
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


@dataclass(frozen=True)
class JpegInfo:
    """What ``jpegdl info`` reports about a file, read from its headers (nothing is decoded).

    ``tables.chroma`` repeats the luma table for grayscale files, which have none; ``to_dict``
    leaves it out for them.
    """

    height: int
    width: int
    components: int
    subsampling: str
    frame: str
    color: str
    tables: QuantTables
    file_bytes: int
    payload_bytes: int

    @property
    def bpp(self) -> float:
        """Whole-file bits per pixel."""
        return bits_per_pixel(self.file_bytes, self.height, self.width)

    @property
    def payload_bpp(self) -> float:
        """Entropy-coded scan data alone, bits per pixel."""
        return bits_per_pixel(self.payload_bytes, self.height, self.width)

    def to_dict(self) -> dict:
        tables = self.tables.to_dict()
        if self.components == 1:
            tables.pop("chroma")
        return {
            "height": self.height,
            "width": self.width,
            "components": self.components,
            "color": self.color,
            "subsampling": self.subsampling,
            "frame": self.frame,
            "file_bytes": self.file_bytes,
            "payload_bytes": self.payload_bytes,
            "bpp": round(self.bpp, 6),
            "payload_bpp": round(self.payload_bpp, 6),
            "tables": tables,
        }


def inspect(source: bytes | str | Path) -> JpegInfo:
    """Size, sampling, colour, tables and byte counts of a JPEG file, from its markers alone."""
    data = load_bytes(source)
    header = read_frame_header(data)
    slots = [slot for *_, slot in header.components]
    luma = header.tables[slots[0]]
    chroma = header.tables[slots[1]] if len(slots) > 1 else luma.clone()
    return JpegInfo(
        height=header.height,
        width=header.width,
        components=len(header.components),
        subsampling=header.subsampling,
        frame=header.frame,
        color=header.color,
        tables=QuantTables(luma, chroma),
        file_bytes=len(data),
        payload_bytes=payload_bytes(data),
    )


def check_claimed_size(data: bytes, max_pixels: int = MAX_PIXELS, name: str = "source") -> None:
    """Refuse a stream whose header claims more than ``max_pixels`` pixels, before decoding it."""
    header = read_frame_header(data, name)
    if header.pixels > max_pixels:
        raise ValueError(f"{name}: the JPEG header claims {header.width}x{header.height} pixels, above the limit of"
                         f" {max_pixels} (pass a larger max_pixels to accept it)")  # fmt: skip


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
    """``8 * bytes / (H * W)`` with the original (unpadded) image size."""
    if height < 1 or width < 1:
        raise ValueError(f"height, width: expected positive sizes, got {height}x{width}")
    return 8.0 * num_bytes / (height * width)

"""Read JPEG files: coefficients and tables (libjpeg-turbo via jpeglib), pixels (Pillow or a libjpeg
build), and a summary; every failure is one ``ValueError`` line naming the file."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from jpegdl.files.arrays import to_tensor
from jpegdl.files.headers import FrameHeader, read_frame_header
from jpegdl.files.libjpeg import run_libjpeg
from jpegdl.files.markers import SOS, parse_segments
from jpegdl.files.pictures import MAX_PIXELS
from jpegdl.jpeg.codec import Coefficients
from jpegdl.jpeg.sampling import geometry
from jpegdl.jpeg.tables import QuantTables

DECODERS = ("pillow", "6b", "turbo210", "9e")


def load_bytes(source: bytes | str | Path, name: str = "source") -> bytes:
    """Bytes of a JPEG given as bytes or a path; validates the marker structure."""
    data, label = load_source(source, name)
    parse_segments(data, label)
    return data


def load_source(source: bytes | str | Path, name: str = "source") -> tuple[bytes, str]:
    """The bytes of ``source`` and the label errors use: ``name 'path'`` for a file, else ``name``."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        label = f"{name} {str(path)!r}"
        if not path.is_file():
            raise ValueError(f"{name}: no such file {str(path)!r}")
        try:
            return path.read_bytes(), label
        except OSError as err:
            raise ValueError(f"{label}: cannot read it ({err.strerror})") from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name
    raise ValueError(f"{name}: expected bytes or a path, got {type(source).__name__}")


def decodable_header(data: bytes, label: str, max_pixels: int = MAX_PIXELS) -> FrameHeader:
    """The frame header, once the stream is known safe to decode with libjpeg.

    Refuses, from the markers alone and before any allocation: 12-bit (and other non-8-bit)
    samples, more than ``max_pixels`` pixels, and a size the scan data cannot back (see
    :func:`check_claimed_size`).
    """
    header = read_frame_header(data, label)
    if header.precision != 8:
        raise ValueError(f"{label}: {header.precision}-bit JPEG files are not supported (jpegdl decodes 8-bit samples)")
    check_claimed_size(data, max_pixels, label, header)
    return header


def read_coefficients(source: bytes | str | Path, max_pixels: int = MAX_PIXELS, name: str = "source") -> Coefficients:
    """Quantization indices, tables, sampling and colour space of a JPEG file, as a batch of one.

    Reads baseline, extended, progressive and arithmetic-coded 8-bit files of any sampling
    factors and of 1, 3 or 4 components (grayscale, YCbCr, RGB, CMYK, YCCK) with libjpeg-turbo;
    ``jpegdl.decode`` of the result gives libjpeg-turbo's pixels. Components whose tables do not
    follow the luma / shared-chroma assignment get ``component_tables``.

    Raises:
        ValueError: one line naming the file: not a JPEG, lossless / hierarchical / 12-bit,
            above ``max_pixels``, more pixels than its scan data can hold, or corrupt data.
    """
    data, label = load_source(source, name)
    header = decodable_header(data, label, max_pixels)

    def read(path: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        import jpeglib

        jpeg = jpeglib.read_dct(path)
        count = jpeg.num_components
        planes = [jpeg.Y] if count == 1 else [jpeg.Y, jpeg.Cb, jpeg.Cr, jpeg.K][:count]
        tables = [np.array(jpeg.get_component_qt(i), dtype=np.int64) for i in range(len(planes))]
        return [np.array(p, dtype=np.float32) for p in planes], tables

    planes, tables = run_libjpeg(data, label, read)
    if len(planes) != len(header.components):
        raise ValueError(f"{label}: libjpeg read {len(planes)} components of the {len(header.components)} declared")
    shapes = geometry((header.height, header.width), header.factors)
    components = []
    for plane, shape in zip(planes, shapes, strict=True):
        if plane.shape[:2] != (shape.rows, shape.cols):
            raise ValueError(f"{label}: libjpeg returned {plane.shape[:2]} blocks where {shape.rows}x{shape.cols}"
                             " were expected")  # fmt: skip
        components.append(torch.from_numpy(plane)[None])
    steps = [torch.from_numpy(t) for t in tables]
    default = len(steps) == 1 or (len(steps) == 3 and torch.equal(steps[1], steps[2]))
    quant = QuantTables(steps[0], (steps[1] if len(steps) > 1 else steps[0]).clone())
    return Coefficients(components[0], tuple(components[1:]), quant, header.subsampling,
                        (header.height, header.width), header.color,
                        () if default else tuple(steps))  # fmt: skip


def read_image(source: bytes | str | Path, decoder: str = "pillow", max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Decode a JPEG file to a ``(1, C, H, W)`` float tensor in [0, 1] (C = 1 or 3; CMYK becomes RGB).

    Args:
        decoder: ``"pillow"`` (libjpeg-turbo; never draft mode) or a jpeglib build:
            ``"6b"``, ``"turbo210"``, ``"9e"`` (any name ``jpeglib.version`` accepts).
    """
    return to_tensor(decode_pixels(source, decoder, max_pixels))


def decode_pixels(
    source: bytes | str | Path, decoder: str = "pillow", max_pixels: int = MAX_PIXELS, name: str = "source"
) -> np.ndarray:
    """Decode to uint8 ``(H, W)`` or ``(H, W, 3)`` with the chosen libjpeg build.

    CMYK and YCCK become RGB as Pillow converts them (Adobe's inverted CMYK, then Pillow's
    ``CMYK -> RGB``), for every decoder. ``"pillow"`` reads whatever Pillow reads; the libjpeg
    builds refuse 12-bit, lossless and hierarchical files with one line.
    """
    data, label = load_source(source, name)
    if decoder == "pillow":
        return _pillow_pixels(data, label, max_pixels)
    _check_decoder(decoder)
    header = decodable_header(data, label, max_pixels)
    pixels = run_libjpeg(data, label, lambda path: _spatial(path), version=decoder)
    if pixels.shape[-1] == 4:
        inverted = 255 - pixels  # Pillow reads every CMYK JPEG as Adobe's inverted CMYK
        return np.asarray(Image.fromarray(np.ascontiguousarray(inverted), "CMYK").convert("RGB"))
    if pixels.shape[-1] == 1 or header.color == "grayscale":
        return np.ascontiguousarray(pixels[..., 0])
    return pixels


def _spatial(path: str) -> np.ndarray:
    import jpeglib

    return np.asarray(jpeglib.read_spatial(path).spatial)


def _check_decoder(decoder: object) -> None:
    import jpeglib

    if decoder not in jpeglib.version.versions():
        raise ValueError(f"decoder: expected 'pillow' or a jpeglib build such as {', '.join(DECODERS[1:])},"
                         f" got {decoder!r}")  # fmt: skip


def _pillow_pixels(data: bytes, label: str, max_pixels: int) -> np.ndarray:
    """Pillow's decode, as ``read_picture`` does it, without its EXIF rotation."""
    if data[:2] != b"\xff\xd8":
        raise ValueError(f"{label}: not a JPEG stream (no SOI marker at the start)")
    try:
        header = read_frame_header(data, label)
    except ValueError:
        header = None  # Pillow may still read it: let Pillow decide
    if header is not None:
        check_claimed_size(data, max_pixels, label, header)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ValueError(f"{label}: the image is {width}x{height} pixels, above the limit of {max_pixels}"
                                 " (pass a larger max_pixels to accept it)")  # fmt: skip
            image.load()
            return np.asarray(image.convert("L" if image.mode in ("L", "1", "I", "I;16", "F") else "RGB"))
    except (OSError, SyntaxError, Image.DecompressionBombError, ValueError) as err:
        if isinstance(err, ValueError) and str(err).startswith(label):
            raise
        raise ValueError(f"{label}: Pillow cannot decode it ({err})") from None


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


def inspect(source: bytes | str | Path, name: str = "source") -> JpegInfo:
    """Size, sampling, colour, tables and byte counts of a JPEG file, from its markers alone."""
    data, label = load_source(source, name)
    header = read_frame_header(data, label)
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
        payload_bytes=sum(s.scan_bytes for s in parse_segments(data, label) if s.marker == SOS),
    )


def check_claimed_size(
    data: bytes, max_pixels: int = MAX_PIXELS, name: str = "source", header: FrameHeader | None = None
) -> None:
    """Refuse, before decoding, a stream whose header claims more than ``max_pixels`` pixels, or more
    blocks than its scan data can code.

    Every coded block costs at least one bit of scan data (its DC code in the first scan that
    holds it), so ``8 * scan bytes`` bounds the block count of a genuine file. A few-kB file that
    claims 8146 x 8500 pixels (a decompression bomb, or a badly truncated file) is refused here
    instead of allocating gigabytes.
    """
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ValueError(f"max_pixels: expected a positive integer, got {max_pixels!r}")
    header = header or read_frame_header(data, name)
    if header.pixels > max_pixels:
        raise ValueError(f"{name}: the JPEG header claims {header.width}x{header.height} pixels, above the limit of"
                         f" {max_pixels} (pass a larger max_pixels to accept it)")  # fmt: skip
    blocks = sum(g.rows * g.cols for g in geometry((header.height, header.width), header.factors))
    scan_bits = 8 * sum(s.scan_bytes for s in parse_segments(data, name) if s.marker == SOS)
    if scan_bits < blocks:
        raise ValueError(f"{name}: the JPEG header claims {header.width}x{header.height} pixels ({blocks} blocks)"
                         f" but the file holds {scan_bits // 8} bytes of scan data, too few to code them"
                         " (truncated, corrupt or a decompression bomb)")  # fmt: skip


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
    """``8 * bytes / (H * W)`` with the original (unpadded) image size."""
    if height < 1 or width < 1:
        raise ValueError(f"height, width: expected positive sizes, got {height}x{width}")
    return 8.0 * num_bytes / (height * width)

"""The ``.edic`` file format: a small header, then the entropy-coded strings.

Layout (all integers big-endian):

====== ======= =========================================================
offset size    field
====== ======= =========================================================
0      4       magic ``b"EDIC"``
4      1       format version (1)
5      8       model id: the first 8 bytes of SHA-256 over the codec's config and weights
13     4       image height in pixels (1 .. 65535 used)
17     4       image width
21     2       hyper-latent height ``h`` (= ceil(height / 64))
23     2       hyper-latent width ``w``
25     1       number of strings S (2 for every model here: y, then z)
26     4 * S   byte length of each string
..     ..      the strings, back to back
end-4  4       CRC-32 of everything before it
====== ======= =========================================================
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from jpegdl.limits import EDIC_PIXELS

MAGIC = b"EDIC"
VERSION = 1
MODEL_ID_BYTES = 8
_HEADER = struct.Struct(">4sB8sIIHHB")
MAX_SIDE = 65535


@dataclass(frozen=True)
class EdicStream:
    """A parsed ``.edic`` file: which model, which image size, and the coded strings."""

    model_id: bytes
    height: int
    width: int
    latent_shape: tuple[int, int]
    strings: tuple[bytes, ...]


def pack(stream: EdicStream) -> bytes:
    """Serialize a stream (inverse of :func:`unpack`)."""
    if len(stream.model_id) != MODEL_ID_BYTES:
        raise ValueError(f"model_id: expected {MODEL_ID_BYTES} bytes, got {len(stream.model_id)}")
    if not (1 <= stream.height <= MAX_SIDE and 1 <= stream.width <= MAX_SIDE):
        raise ValueError(f"image size: expected sides 1..{MAX_SIDE}, got {stream.height}x{stream.width}")
    if not 1 <= len(stream.strings) <= 255:
        raise ValueError(f"strings: expected 1..255 strings, got {len(stream.strings)}")
    header = _HEADER.pack(MAGIC, VERSION, stream.model_id, stream.height, stream.width,
                          *stream.latent_shape, len(stream.strings))
    lengths = struct.pack(f">{len(stream.strings)}I", *(len(s) for s in stream.strings))
    body = header + lengths + b"".join(stream.strings)
    return body + struct.pack(">I", zlib.crc32(body))


def unpack(data: bytes, max_pixels: int | None = None) -> EdicStream:
    """Parse and check a ``.edic`` file; a wrong magic, version, truncation or corruption raises ValueError.

    The claimed image size is checked against ``max_pixels`` (default ``JPEGDL_MAX_EDIC_PIXELS``)
    before anything is decoded: decoding allocates in proportion to it.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"data: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4 or data[:4] != MAGIC:
        raise ValueError("data: not an EDIC stream (the file does not start with b'EDIC')")
    if len(data) < _HEADER.size + 4:
        raise ValueError(f"data: truncated EDIC stream ({len(data)} bytes, the header alone needs {_HEADER.size + 4})")
    _magic, version, model_id, height, width, lat_h, lat_w, count = _HEADER.unpack_from(data)
    if version != VERSION:
        raise ValueError(f"data: EDIC format version {version} is not supported (expected {VERSION})")
    limit = EDIC_PIXELS.value() if max_pixels is None else max_pixels
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise ValueError(f"data: corrupt EDIC header (image size {height}x{width}; sides are 1..{MAX_SIDE})")
    if height * width > limit:
        raise ValueError(f"data: the stream claims a {width}x{height} image, above the limit of {limit} pixels"
                         f" (raise it with {EDIC_PIXELS.variable})")  # fmt: skip
    if count < 1:
        raise ValueError("data: corrupt EDIC header (no coded strings)")
    end = _HEADER.size + 4 * count
    if len(data) < end + 4:
        raise ValueError(f"data: truncated EDIC stream ({len(data)} bytes, header and lengths need {end + 4})")
    lengths = struct.unpack_from(f">{count}I", data, _HEADER.size)
    expected = end + sum(lengths) + 4
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "over-long"
        raise ValueError(f"data: {kind} EDIC stream ({len(data)} bytes, the header announces {expected})")
    (crc,) = struct.unpack_from(">I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise ValueError("data: corrupt EDIC stream (CRC-32 mismatch)")
    strings, offset = [], end
    for length in lengths:
        strings.append(data[offset : offset + length])
        offset += length
    return EdicStream(model_id, height, width, (lat_h, lat_w), tuple(strings))

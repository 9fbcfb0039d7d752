"""Crafted hostile files for the hostile-input suite (not a test module): each builder writes one file."""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
       b"/Helvetica findfont 12 scalefont setfont 0 0 moveto (run) show showpage\n%%EOF\n")  # fmt: skip


def eps(path: Path, binary_header: bool = False) -> Path:
    """PostScript that Pillow's EPS plugin would hand to Ghostscript; optionally with the DOS EPS
    binary header (``C5 D0 D3 C6``) that some tools write."""
    if binary_header:
        header = b"\xc5\xd0\xd3\xc6" + struct.pack("<6I", 30, len(EPS), 0, 0, 0, 0) + b"\xff\xff"
        path.write_bytes(header + EPS)
    else:
        path.write_bytes(EPS)
    return path


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(path: Path, width: int, height: int, bit_depth: int = 8, color: int = 0, rows: bool = True) -> Path:
    """A valid PNG header claiming ``width x height`` (color type 0: gray, 2: RGB); its pixel data are
    zeros compressed row by row (a 9000x9000 16-bit picture is 158 KB), or a single byte (``rows=False``,
    a header that lies: the decoder would run out of data)."""
    channels = {0: 1, 2: 3}[color]
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    compressor = zlib.compressobj(9)
    body = bytearray()
    if rows:
        row = bytes(1 + width * channels * bit_depth // 8)
        for _ in range(height):
            body += compressor.compress(row)
    body += compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", bytes(body))
                     + _chunk(b"IEND", b""))  # fmt: skip
    return path


def fifo(path: Path) -> Path:
    """A named pipe nobody writes to: reading it would block for ever."""
    os.mkfifo(path)
    return path


def gzip_bomb(path: Path, inflated: int) -> Path:
    """A gzip file of zeros (an IDX header first) that inflates to ``inflated`` bytes."""
    with gzip.open(path, "wb", compresslevel=9) as file:
        file.write(struct.pack(">HBBIII", 0, 8, 3, inflated // 784, 28, 28))
        chunk = bytes(1 << 20)
        for _ in range(inflated // len(chunk)):
            file.write(chunk)
    return path


def deflated_checkpoint(source: Path, path: Path, padding: int = 0) -> Path:
    """``source`` (a torch zip checkpoint) repacked with deflated members, plus a member of ``padding``
    zero bytes: a small file whose members declare far more than its size."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as repacked:
        for member in original.infolist():
            repacked.writestr(member.filename, original.read(member))
        if padding:
            prefix = original.infolist()[0].filename.split("/")[0]
            repacked.writestr(f"{prefix}/data/padding", bytes(padding))
    return path


def nested_json(depth: int) -> str:
    return '{"luma": ' + "[" * depth + "1" + "]" * depth + ', "chroma": 1}'


def jpeg_bytes(width: int = 16, height: int = 16) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()

"""A JPEG file's frame header and quantization tables, read from its markers alone.

Nothing is decoded: the size a header claims is known before any pixel or coefficient is
allocated, so readers can refuse a 2 KB file that claims 65500 x 65500 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jpegdl.files.markers import SOF_MARKERS, parse_segments
from jpegdl.jpeg.sampling import describe
from jpegdl.jpeg.tables import from_zigzag

DQT, APP0, APP14 = 0xDB, 0xE0, 0xEE
READ_SOF = {**SOF_MARKERS, 0xC9: "arithmetic", 0xCA: "arithmetic progressive"}
_OTHER_SOF = {0xC3: "lossless", 0xC5: "differential (hierarchical)", 0xC6: "differential progressive",
              0xC7: "differential lossless", 0xCB: "arithmetic lossless", 0xCD: "arithmetic differential",
              0xCE: "arithmetic differential progressive", 0xCF: "arithmetic differential lossless"}  # fmt: skip
_RGB_IDS = (ord("R"), ord("G"), ord("B"))


@dataclass(frozen=True)
class FrameHeader:
    """What the SOF, DQT and Adobe markers say.

    Attributes:
        height, width: the image size in pixels (both >= 1).
        frame: ``"baseline"``, ``"extended"``, ``"progressive"``, ``"arithmetic"`` or
            ``"arithmetic progressive"``.
        components: ``(id, horizontal factor, vertical factor, table slot)`` per component.
        tables: table slot -> ``(8, 8)`` int64 steps in natural order.
        adobe_transform: the Adobe APP14 colour transform flag (0, 1, 2), ``None`` without one.
        precision: bits per sample (8; 12 for 12-bit files, which jpegdl does not decode).
        jfif: whether a JFIF APP0 marker is present (libjpeg then assumes YCbCr for 3 components).
    """

    height: int
    width: int
    frame: str
    components: tuple[tuple[int, int, int, int], ...]
    tables: dict[int, torch.Tensor]
    adobe_transform: int | None
    precision: int = 8
    jfif: bool = False

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def color(self) -> str:
        """The colour space libjpeg assumes (``jdapimin.c``): ``"grayscale"``, ``"ycbcr"``, ``"rgb"``,
        ``"cmyk"`` or ``"ycck"``.

        3 components: YCbCr with a JFIF marker; else RGB for Adobe transform 0; else RGB for
        component IDs 'R', 'G', 'B' without an Adobe marker; else YCbCr. 4 components: CMYK
        without an Adobe marker or with transform 0, else YCCK.
        """
        count = len(self.components)
        if count == 1:
            return "grayscale"
        if count == 3:
            if self.jfif:
                return "ycbcr"
            if self.adobe_transform is not None:
                return "rgb" if self.adobe_transform == 0 else "ycbcr"
            return "rgb" if tuple(c[0] for c in self.components) == _RGB_IDS else "ycbcr"
        return "cmyk" if self.adobe_transform in (None, 0) else "ycck"

    @property
    def factors(self) -> tuple[tuple[int, int], ...]:
        """``(h, v)`` sampling factors per component."""
        return tuple((h, v) for _, h, v, _ in self.components)

    @property
    def subsampling(self) -> str:
        """A named mode (``"4:4:4"``, ``"4:2:2"``, ``"4:4:0"``, ``"4:2:0"``, ``"4:1:1"``, ``"4:1:0"``)
        or ``"HxV,HxV,..."`` factors."""
        return describe(self.factors)


def read_frame_header(data: bytes, name: str = "source") -> FrameHeader:
    """Parse the markers of a JPEG stream (bytes) into a :class:`FrameHeader`.

    Raises:
        ValueError: not a JPEG stream, truncated markers, no frame header, a frame type jpegdl
            does not read (lossless, hierarchical), a zero width or height (DNL), invalid sampling
            factors, or a DQT table referenced by a component but never defined.
    """
    segments = parse_segments(data, name)
    tables: dict[int, torch.Tensor] = {}
    frame = None
    adobe = None
    jfif = False
    for segment in segments:
        body = data[segment.offset + 4 : segment.offset + 2 + segment.length]
        if segment.marker == DQT:
            tables.update(_parse_dqt(body, name))
        elif segment.marker == APP14 and body[:5] == b"Adobe" and len(body) >= 12:
            adobe = body[11]
        elif segment.marker == APP0 and body[:5] == b"JFIF\x00":
            jfif = True
        elif segment.marker in _OTHER_SOF:
            raise ValueError(f"{name}: {_OTHER_SOF[segment.marker]} JPEG files are not supported (jpegdl reads"
                             " baseline, extended, progressive and arithmetic-coded DCT files)")  # fmt: skip
        elif segment.marker in READ_SOF and frame is None:
            frame = (READ_SOF[segment.marker], body)
    if frame is None:
        raise ValueError(f"{name}: no frame header (SOF marker) in the JPEG stream")
    kind, body = frame
    if len(body) < 6:
        raise ValueError(f"{name}: truncated frame header")
    precision = body[0]
    height, width, count = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big"), body[5]
    if height == 0 or width == 0:
        raise ValueError(f"{name}: the frame header claims a {width}x{height} image (a zero size is not supported)")
    if count not in (1, 3, 4) or len(body) < 6 + 3 * count:
        raise ValueError(f"{name}: a frame with {count} components is not supported (1, 3 or 4)")
    components = []
    for index in range(count):
        ident, factors, slot = body[6 + 3 * index : 9 + 3 * index]
        h, v = factors >> 4, factors & 15
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise ValueError(f"{name}: component {ident} has invalid sampling factors {h}x{v}")
        if slot not in tables:
            raise ValueError(f"{name}: component {ident} uses quantization table {slot}, which is not defined")
        components.append((ident, h, v, slot))
    max_h, max_v = max(c[1] for c in components), max(c[2] for c in components)
    if any(max_h % h or max_v % v for _, h, v, _ in components):
        factors = ",".join(f"{h}x{v}" for _, h, v, _ in components)
        raise ValueError(f"{name}: sampling factors {factors} are fractional (libjpeg does not decode them)")
    return FrameHeader(height, width, kind, tuple(components), tables, adobe, precision, jfif)


def _parse_dqt(body: bytes, name: str) -> dict[int, torch.Tensor]:
    tables = {}
    pos = 0
    while pos < len(body):
        precision, slot = body[pos] >> 4, body[pos] & 15
        size = 128 if precision else 64
        values = body[pos + 1 : pos + 1 + size]
        if len(values) != size or slot > 3 or precision > 1:
            raise ValueError(f"{name}: corrupt quantization table segment")
        width = 2 if precision else 1
        steps = [int.from_bytes(values[i : i + width], "big") for i in range(0, size, width)]
        if min(steps) < 1:
            raise ValueError(f"{name}: quantization table {slot} holds a zero step")
        tables[slot] = from_zigzag(torch.tensor(steps, dtype=torch.int64))
        pos += 1 + size
    return tables

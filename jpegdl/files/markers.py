"""A minimal JPEG marker parser: validate structure, measure the scan payload, fix component IDs."""

from __future__ import annotations

from dataclasses import dataclass

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
SOF_MARKERS = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


@dataclass(frozen=True)
class Segment:
    """One marker segment: ``marker`` byte, offset of its ``FF``, header length and scan data length."""

    marker: int
    offset: int
    length: int
    scan_bytes: int = 0


def parse_segments(data: bytes, name: str = "data") -> list[Segment]:
    """Walk the marker segments of a JPEG stream as libjpeg does.

    Like libjpeg, bytes that are not a marker where one is expected are skipped (libjpeg's
    "extraneous bytes before marker" warning), and once a scan has ended at a marker, a
    truncated or missing tail ends the stream as an EOI would (libjpeg warns and stops there);
    that EOI is recorded at ``len(data)``.

    Raises:
        ValueError: not a JPEG stream, a truncated segment before any scan, or scan data that
            runs to the end of the file (a truncated file).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"{name}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 4 or data[0] != 0xFF or data[1] != SOI:
        raise ValueError(f"{name}: not a JPEG stream (no SOI marker at the start)")
    segments = [Segment(SOI, 0, 0)]
    pos = 2
    while True:
        found = _next_marker(data, pos)
        scanned = any(s.marker == SOS for s in segments)
        if found is None:
            if scanned:
                segments.append(Segment(EOI, len(data), 0))
                return segments
            raise ValueError(f"{name}: corrupt or truncated JPEG (expected a marker at byte {pos})")
        pos = found
        marker = data[pos + 1]
        if marker == EOI:
            segments.append(Segment(EOI, pos, 0))
            return segments
        if marker in _STANDALONE:
            segments.append(Segment(marker, pos, 0))
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big") if pos + 4 <= len(data) else 0
        end = pos + 2 + length
        if length < 2 or end > len(data):
            if scanned:
                segments.append(Segment(EOI, len(data), 0))
                return segments
            raise ValueError(f"{name}: truncated JPEG (segment 0xFF{marker:02X} at byte {pos} runs past the end)")
        if marker != SOS:
            segments.append(Segment(marker, pos, length))
            pos = end
            continue
        scan_end = _scan_end(data, end)
        if scan_end is None:
            raise ValueError(f"{name}: truncated JPEG (scan data starting at byte {end} has no end marker)")
        segments.append(Segment(SOS, pos, length, scan_end - end))
        pos = scan_end


def _next_marker(data: bytes, pos: int) -> int | None:
    """Offset of the next marker's ``FF`` at or after ``pos`` (libjpeg's ``next_marker``): skips
    non-marker bytes, fill ``FF`` bytes and stuffed ``FF 00``."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0:
            return None
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 1 >= len(data):
            return None
        if data[pos + 1] != 0x00:
            return pos
        pos += 2


def _scan_end(data: bytes, start: int) -> int | None:
    """Offset of the first marker after entropy-coded data (skipping stuffed 00 and RSTn)."""
    pos = start
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return None
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
        elif following == 0xFF:
            pos += 1
        else:
            return pos


def payload_bytes(data: bytes) -> int:
    """Bytes of entropy-coded scan data (all scans), excluding every header and marker."""
    return sum(s.scan_bytes for s in parse_segments(data) if s.marker == SOS)


def frame_type(data: bytes) -> str:
    """``"baseline"``, ``"extended"`` (16-bit tables) or ``"progressive"`` from the SOF marker."""
    for segment in parse_segments(data):
        if segment.marker in SOF_MARKERS:
            return SOF_MARKERS[segment.marker]
    raise ValueError("data: JPEG stream has no supported SOF marker")


def renumber_components(data: bytes) -> bytes:
    """Rewrite component IDs 0, 1, 2 (what jpeglib writes) to JFIF's 1, 2, 3 in SOF and SOS headers.

    Leaves streams whose IDs already start at 1 unchanged.
    """
    out = bytearray(data)
    segments = parse_segments(data)
    sof = next((s for s in segments if s.marker in SOF_MARKERS), None)
    if sof is None:
        return bytes(out)
    count = out[sof.offset + 9]
    ids = [out[sof.offset + 10 + 3 * i] for i in range(count)]
    if ids != list(range(count)):
        return bytes(out)
    for i in range(count):
        out[sof.offset + 10 + 3 * i] += 1
    for scan in (s for s in segments if s.marker == SOS):
        for i in range(out[scan.offset + 4]):
            out[scan.offset + 5 + 2 * i] += 1
    return bytes(out)


_METADATA = {*range(0xE1, 0xEE), 0xEF, 0xFE}  # APP1..APP13, APP15, COM: nothing a decoder needs


def strip_metadata(data: bytes, name: str = "data") -> bytes:
    """The stream without APP1..APP13, APP15 and COM segments (EXIF, ICC, XMP, comments, ...).

    JFIF (APP0) and Adobe (APP14) stay: they set the colour space. Coefficients and pixels are
    unchanged; readers with a marker limit (jpeglib stops at 50) can then read files with
    hundreds of ICC chunks.
    """
    pieces = []
    for segment in parse_segments(data, name):
        if segment.marker in _METADATA:
            continue
        if segment.marker == EOI:
            pieces.append(b"\xff\xd9")  # may be implied (at the end of the data)
            continue
        size = 2 + segment.length + segment.scan_bytes  # SOI and standalone markers: 2 bytes
        pieces.append(data[segment.offset : segment.offset + size])
    return b"".join(pieces)

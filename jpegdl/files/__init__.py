"""Real JPEG files: write with given tables or coefficients, read back, count bytes."""

from jpegdl.files.arrays import to_tensor, to_uint8
from jpegdl.files.headers import FrameHeader, read_frame_header
from jpegdl.files.markers import frame_type, parse_segments, payload_bytes
from jpegdl.files.pictures import MAX_PIXELS, read_picture
from jpegdl.files.read import (
    DECODERS,
    JpegInfo,
    bits_per_pixel,
    decode_pixels,
    inspect,
    load_bytes,
    read_coefficients,
    read_image,
)
from jpegdl.files.write import jpeg_bytes, mozjpeg_encode, write_coefficients

__all__ = [
    "DECODERS",
    "MAX_PIXELS",
    "FrameHeader",
    "JpegInfo",
    "bits_per_pixel",
    "decode_pixels",
    "frame_type",
    "inspect",
    "jpeg_bytes",
    "load_bytes",
    "mozjpeg_encode",
    "parse_segments",
    "payload_bytes",
    "read_coefficients",
    "read_frame_header",
    "read_image",
    "read_picture",
    "to_tensor",
    "to_uint8",
    "write_coefficients",
]

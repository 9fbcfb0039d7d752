"""The JPEG pipeline as pure tensor functions (imports only torch)."""

from jpegdl.jpeg.codec import Coefficients, DiffJPEG, check_images, decode, encode
from jpegdl.jpeg.quantize import (
    QUANTIZERS,
    HardQuantizer,
    SampledQuantizer,
    SoftQuantizer,
    StraightThroughQuantizer,
    make_quantizer,
)
from jpegdl.jpeg.sampling import SUBSAMPLINGS
from jpegdl.jpeg.tables import ANNEX_K_CHROMA, ANNEX_K_LUMA, QuantTables, from_zigzag, ijg_table, to_zigzag

__all__ = [
    "ANNEX_K_CHROMA",
    "ANNEX_K_LUMA",
    "QUANTIZERS",
    "SUBSAMPLINGS",
    "Coefficients",
    "DiffJPEG",
    "HardQuantizer",
    "QuantTables",
    "SampledQuantizer",
    "SoftQuantizer",
    "StraightThroughQuantizer",
    "check_images",
    "decode",
    "encode",
    "from_zigzag",
    "ijg_table",
    "make_quantizer",
    "to_zigzag",
]

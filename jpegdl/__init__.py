"""jpegdl: JPEG-aware deep learning (a libjpeg-faithful differentiable codec, real JPEG files)."""

from jpegdl.jpeg import Coefficients, DiffJPEG, QuantTables, decode, encode
from jpegdl.layers import JPEGLayer, JPEGModel, prepend

__version__ = "0.1.0"

__all__ = [
    "Coefficients", "DiffJPEG", "JPEGLayer", "JPEGModel", "QuantTables", "__version__", "decode", "encode", "prepend",
]  # fmt: skip

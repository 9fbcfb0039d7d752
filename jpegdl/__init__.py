"""jpegdl: JPEG-aware deep learning (a libjpeg-faithful differentiable codec, real JPEG files)."""

from jpegdl.jpeg import Coefficients, DiffJPEG, QuantTables, decode, encode
from jpegdl.layers import JPEGLayer, prepend

__version__ = "0.1.0"

__all__ = ["Coefficients", "DiffJPEG", "JPEGLayer", "QuantTables", "__version__", "decode", "encode", "prepend"]

"""jpegdl: JPEG-aware deep learning (a libjpeg-faithful differentiable codec, real JPEG files)."""

from jpegdl.jpeg import Coefficients, DiffJPEG, QuantTables, decode, encode

__version__ = "0.1.0"

__all__ = ["Coefficients", "DiffJPEG", "QuantTables", "__version__", "decode", "encode"]

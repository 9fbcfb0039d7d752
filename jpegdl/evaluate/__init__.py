"""Evaluation: accuracy, and the bytes of real JPEG files."""

from jpegdl.evaluate.accuracy import accuracy
from jpegdl.evaluate.bpp import dataset_bpp

__all__ = ["accuracy", "dataset_bpp"]

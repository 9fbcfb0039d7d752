"""Evaluation: top-1 accuracy over a loader, and the bytes of a dataset written as real JPEG files."""

from jpegdl.evaluate.accuracy import top1_accuracy
from jpegdl.evaluate.bpp import dataset_bpp

__all__ = ["dataset_bpp", "top1_accuracy"]

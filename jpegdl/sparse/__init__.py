"""Sparse convolution for inference: im2col, MEC, CPO and CPS (Amer et al., arXiv 2104.08314).

- ``jpegdl.sparse.ops``: the compiled methods (C++/OpenMP, built on first use), ``conv2d(..., method=)``;
- ``jpegdl.sparse.reference``: pure-PyTorch references of each method;
- ``jpegdl.sparse.formats``: the CPO/CPS arrays and the bytes of every lowered format;
- ``jpegdl.sparse.convert``: per-layer profiling and ``convert(model, sample, method="auto")``.
"""

from jpegdl.sparse.geometry import ConvGeometry, check_conv
from jpegdl.sparse.ops import METHODS, conv2d

__all__ = ["METHODS", "ConvGeometry", "check_conv", "conv2d"]

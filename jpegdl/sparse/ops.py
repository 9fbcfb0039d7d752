"""The compiled methods: im2col + GEMM, MEC (solutions A and B), CPO and CPS, one function each.

Same arguments and results as ``jpegdl.sparse.reference`` and ``torch.nn.functional.conv2d`` (zero padding,
dilation 1, groups 1, float32 on the CPU). Multi-threaded with ``torch.get_num_threads()`` threads: the
lowering and sparse loops with OpenMP, the GEMMs through ATen (MKL/oneDNN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jpegdl.sparse.extension import kernels
from jpegdl.sparse.formats import SparseMap, cpo_index_bits, cps_index_bits
from jpegdl.sparse.geometry import ConvGeometry, check_conv

METHODS = ("im2col", "mec_a", "mec_b", "cpo", "cps", "torch")
MEC_THRESHOLD = 100  # laser's rule: solution A when O_w < threshold, else B (the paper's threshold is unknown)


def _args(g: ConvGeometry) -> tuple[int, ...]:
    return (*g.kernel, *g.stride, *g.padding)


def weight_layouts(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """The weight ``[K_c, C, K_h, K_w]`` in each method's layout (contiguous float32)."""
    kc, c, kh, kw = weight.shape
    w = weight.detach().float()
    return {
        "cols": w.reshape(kc, c * kh * kw).contiguous(),  # im2col: [K_c, C*K_h*K_w]
        "mec": w.permute(2, 3, 1, 0).reshape(kh * kw * c, kc).contiguous(),  # MEC: [K_h*K_w*C, K_c]
        # CPO/CPS: [C, K_h, K_w, K_c] with the kernel columns reversed (the scatter walks them backwards)
        "taps": w.permute(1, 2, 3, 0).flip(2).contiguous(),
    }


def mec_solution(geometry: ConvGeometry, threshold: int = MEC_THRESHOLD) -> str:
    """laser's choice between MEC's solutions: A if ``O_w < threshold`` and the output is smaller than L."""
    oh, ow = geometry.out_size
    out_elements = geometry.batch * oh * ow * geometry.out_channels
    lowered = geometry.batch * ow * geometry.padded[0] * geometry.kernel[1] * geometry.in_channels
    return "A" if ow < threshold and out_elements < lowered else "B"


def im2col_conv(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """im2col lowering (compiled) + one GEMM per image."""
    g = check_conv(x, weight, bias, stride, padding)
    return kernels().im2col_conv(x.contiguous(), weight_layouts(weight)["cols"], bias, *_args(g))


def mec_conv(x, weight, bias=None, stride=1, padding=0, solution: str = "auto") -> torch.Tensor:
    """MEC lowering (compiled) + GEMMs on shifted views; ``solution`` "A", "B" or "auto" (``mec_solution``)."""
    g = check_conv(x, weight, bias, stride, padding)
    if solution not in ("A", "B", "auto"):
        raise ValueError(f"solution: expected 'A', 'B' or 'auto', got {solution!r}")
    chosen = mec_solution(g) if solution == "auto" else solution
    return kernels().mec_conv(x.contiguous(), weight_layouts(weight)["mec"], bias, *_args(g), chosen)


def encode(x: torch.Tensor, geometry: ConvGeometry, kind: str) -> SparseMap:
    """CPO or CPS encoding of ``x`` for a convolution of this geometry (compiled, OpenMP over channels).

    Raises:
        ValueError: ``x`` holds NaN or Inf, or ``kind`` is not "cpo"/"cps".
    """
    if kind not in ("cpo", "cps"):
        raise ValueError(f"kind: expected 'cpo' or 'cps', got {kind!r}")
    bits = cpo_index_bits(geometry) if kind == "cpo" else cps_index_bits(geometry)
    function = kernels().cpo_encode if kind == "cpo" else kernels().cps_encode
    arrays = function(x.contiguous(), *_args(geometry), bits)
    return SparseMap(kind, geometry, *arrays)


def sparse_conv(matrix: SparseMap, taps: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Scatter convolution of an encoded map with the weight in ``weight_layouts(...)["taps"]`` layout."""
    g = matrix.geometry
    function = kernels().cpo_conv if matrix.kind == "cpo" else kernels().cps_conv
    return function(matrix.arrays(), taps, bias, list(g.input_shape), *g.stride, *g.padding)


def cpo_conv(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """CPO encoding + scatter convolution."""
    g = check_conv(x, weight, bias, stride, padding)
    return sparse_conv(encode(x, g, "cpo"), weight_layouts(weight)["taps"], bias)


def cps_conv(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """CPS encoding + scatter convolution."""
    g = check_conv(x, weight, bias, stride, padding)
    return sparse_conv(encode(x, g, "cps"), weight_layouts(weight)["taps"], bias)


def conv2d(x, weight, bias=None, stride=1, padding=0, method: str = "cpo") -> torch.Tensor:
    """``F.conv2d`` by any of ``METHODS`` ("mec_a"/"mec_b": MEC's solution A/B; "torch": ``F.conv2d`` itself)."""
    functions = {
        "im2col": im2col_conv, "cpo": cpo_conv, "cps": cps_conv,
        "mec_a": lambda *a: mec_conv(*a, solution="A"), "mec_b": lambda *a: mec_conv(*a, solution="B"),
    }  # fmt: skip
    if method == "torch":
        g = check_conv(x, weight, bias, stride, padding)
        return F.conv2d(x, weight, bias, g.stride, g.padding)
    if method not in functions:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    return functions[method](x, weight, bias, stride, padding)

"""``SparseConv2d``: an inference-only drop-in for ``nn.Conv2d`` computing by one chosen method."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jpegdl.sparse.extension import kernels
from jpegdl.sparse.geometry import ConvGeometry, check_conv
from jpegdl.sparse.ops import METHODS, encode, sparse_conv, weight_layouts


def is_eligible(module: nn.Module) -> bool:
    """A ``Conv2d`` the sparse methods handle: groups 1, dilation 1, zero padding given as numbers, not 1x1."""
    return (
        type(module) is nn.Conv2d
        and module.groups == 1
        and tuple(module.dilation) == (1, 1)
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
        and tuple(module.kernel_size) != (1, 1)
    )


class SparseConv2d(nn.Module):
    """Forward-only convolution by ``method`` (one of ``jpegdl.sparse.METHODS``; "torch" is ``F.conv2d``).

    Takes float32 ``[N, C, H, W]`` on the CPU, returns ``[N, K_c, O_h, O_w]`` equal to the source ``Conv2d``'s output
    to float tolerance. CPO/CPS raise ``ValueError`` on NaN/Inf inputs. No gradients flow through it.
    """

    def __init__(self, conv: nn.Conv2d, method: str) -> None:
        super().__init__()
        if not is_eligible(conv):
            raise ValueError("conv: expected an nn.Conv2d with groups=1, dilation=1, numeric zero padding and a"
                             " kernel larger than 1x1")
        if method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
        self.method = method
        self.stride, self.padding = tuple(conv.stride), tuple(conv.padding)
        weight = conv.weight.detach().float().contiguous()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().float().contiguous())
        probe = torch.zeros(1, weight.shape[1], *weight.shape[2:])
        check_conv(probe, weight, self.bias, self.stride, self.padding)
        layout = {"im2col": "cols", "mec_a": "mec", "mec_b": "mec", "cpo": "taps", "cps": "taps"}.get(method)
        self.register_buffer("lowered_weight", None if layout is None else weight_layouts(weight)[layout])
        if layout is not None:
            kernels()  # build or load the compiled kernels now, not inside the first forward

    def extra_repr(self) -> str:
        kc, c, kh, kw = self.weight.shape
        geometry = f"kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"
        return f"{c}, {kc}, {geometry}, method={self.method}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == "torch":
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        if x.dim() != 4 or x.dtype != torch.float32 or x.device.type != "cpu" or x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"x: expected float32 [N, {self.weight.shape[1]}, H, W] on the CPU, got "
                             f"{x.dtype} {tuple(x.shape)} on {x.device}")  # fmt: skip
        kc, _, kh, kw = self.weight.shape
        geometry = ConvGeometry(*x.shape, kc, (kh, kw), self.stride, self.padding)
        hp, wp = geometry.padded
        if kh > hp or kw > wp:
            raise ValueError(f"x: spatial size {tuple(x.shape[2:])} smaller than the kernel {(kh, kw)} after padding")
        x = x.detach().contiguous()
        args = (kh, kw, *self.stride, *self.padding)
        if self.method == "im2col":
            return kernels().im2col_conv(x, self.lowered_weight, self.bias, *args)
        if self.method in ("mec_a", "mec_b"):
            return kernels().mec_conv(x, self.lowered_weight, self.bias, *args, self.method[-1].upper())
        return sparse_conv(encode(x, geometry, self.method), self.lowered_weight, self.bias)

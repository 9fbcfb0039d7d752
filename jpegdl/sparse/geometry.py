"""Shapes of one convolution (stride, zero padding, dilation 1, groups 1) and the checks on its arguments."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def pair(value: int | tuple[int, int], name: str, minimum: int) -> tuple[int, int]:
    """``3 -> (3, 3)``; a ValueError naming ``name`` unless both values are integers >= ``minimum``."""
    values = (value, value) if isinstance(value, int) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values):
        raise ValueError(f"{name}: expected an integer >= {minimum} or a pair of them, got {value!r}")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class ConvGeometry:
    """Input ``[batch, in_channels, height, width]``, weight ``[out_channels, in_channels, *kernel]``."""

    batch: int
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def padded(self) -> tuple[int, int]:
        return self.height + 2 * self.padding[0], self.width + 2 * self.padding[1]

    @property
    def out_size(self) -> tuple[int, int]:
        (hp, wp), (kh, kw), (sh, sw) = self.padded, self.kernel, self.stride
        return (hp - kh) // sh + 1, (wp - kw) // sw + 1

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return self.batch, self.in_channels, self.height, self.width

    def macs(self) -> int:
        """Multiply-accumulates of the dense convolution."""
        return self.batch * self.out_channels * math.prod(self.out_size) * self.in_channels * math.prod(self.kernel)


def check_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
) -> ConvGeometry:
    """Validate a convolution's arguments (float32 CPU, 4-D, matching channels, kernel within the padded input).

    Raises:
        ValueError: naming the argument and what it accepts.
    """
    for name, tensor in (("x", x), ("weight", weight)):
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4:
            raise ValueError(f"{name}: expected a 4-D tensor, got {getattr(tensor, 'shape', type(tensor).__name__)}")
        if tensor.dtype != torch.float32 or tensor.device.type != "cpu":
            raise ValueError(f"{name}: expected float32 on the CPU, got {tensor.dtype} on {tensor.device}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight: expected {x.shape[1]} input channels (groups=1), got shape {tuple(weight.shape)}")
    if bias is not None and (bias.shape != (weight.shape[0],) or bias.dtype != torch.float32):
        raise ValueError(f"bias: expected float32 of shape ({weight.shape[0]},), got {tuple(bias.shape)} {bias.dtype}")
    if min(x.shape) < 1 or min(weight.shape) < 1:
        raise ValueError(f"x, weight: expected non-empty tensors, got {tuple(x.shape)} and {tuple(weight.shape)}")
    if x.shape[1] > 32767:
        raise ValueError(f"x: at most 32767 channels (16-bit channel ids), got {x.shape[1]}")
    geometry = ConvGeometry(x.shape[0], x.shape[1], x.shape[2], x.shape[3], weight.shape[0],
                            (weight.shape[2], weight.shape[3]), pair(stride, "stride", 1),
                            pair(padding, "padding", 0))  # fmt: skip
    hp, wp = geometry.padded
    if geometry.kernel[0] > hp or geometry.kernel[1] > wp:
        raise ValueError(f"weight: kernel {geometry.kernel} larger than the padded input {(hp, wp)}")
    if not torch.isfinite(weight).all() or (bias is not None and not torch.isfinite(bias).all()):
        raise ValueError("weight, bias: contain NaN or Inf")
    return geometry

"""The lowered formats of im2col, MEC, CPO and CPS, and their memory in bytes at their real element widths.

CPO and CPS (``SparseMap``) store, for a batch of activation maps, only the non-zero elements that some
kernel window covers, each once (the horizontal and vertical overlaps of the windows are resolved at
compute time). Arrays, with their widths:

- ``image_ptr``   int32 ``[N + 1]``: entries (non-zero channels) of image ``b`` are ``image_ptr[b]:image_ptr[b+1]``;
- ``channels``    int16 ``[E]``: the input channel of each entry; channels that are all zero have no entry;
- ``segment_ptr`` int32 ``[E * O_w + 1]``: per entry and first covering window ``w0``, where its words start;
- ``words``       uint16 (or uint32 for tall maps) ``[words]``, stored in an int16 (int32) tensor:
  CPO: ``u = ip * K_w + lc`` per non-zero (padded row ``ip``, column ``lc`` inside window ``w0``);
  CPS: such a raw ``u`` (top bit clear), or, for an aligned group of 4 padded rows ``4q..4q+3`` of one
  column holding >= 3 non-zeros, one pattern word: top bit set, ``(q * K_w + lc) << 3 | missing``
  (``missing`` the absent row 0..3, or 4 when all four are present);
- ``values``      float32 ``[nnz]``, in word order (a pattern word owns 3 or 4 consecutive values).

Inside a segment, non-zeros are ordered column-major (``lc``, then ``ip``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jpegdl.sparse.geometry import ConvGeometry

FLOAT_BYTES = 4
POINTER_BYTES = 4
CHANNEL_ID_BYTES = 2


@dataclass
class SparseMap:
    """A CPO or CPS encoded batch of activation maps (see the module docstring)."""

    kind: str  # "cpo" | "cps"
    geometry: ConvGeometry
    image_ptr: torch.Tensor
    channels: torch.Tensor
    segment_ptr: torch.Tensor
    words: torch.Tensor
    values: torch.Tensor

    @property
    def index_bits(self) -> int:
        return 16 if self.words.dtype == torch.int16 else 32

    @property
    def nnz(self) -> int:
        return self.values.numel()

    def arrays(self) -> list[torch.Tensor]:
        return [self.image_ptr, self.channels, self.segment_ptr, self.words, self.values]

    def nbytes(self) -> int:
        """Bytes of all arrays at their stored widths (values fp32, words 2 or 4, pointers 4, channel ids 2)."""
        return sum(t.numel() * t.element_size() for t in self.arrays())

    def breakdown(self) -> dict[str, int]:
        """Bytes per array."""
        names = ("image_ptr", "channels", "segment_ptr", "words", "values")
        return {name: t.numel() * t.element_size() for name, t in zip(names, self.arrays(), strict=True)}


def cpo_index_bits(geometry: ConvGeometry) -> int:
    """16 when every ``u = ip * K_w + lc`` fits an unsigned 16-bit word, else 32."""
    return 16 if geometry.padded[0] * geometry.kernel[1] <= 1 << 16 else 32


def cps_index_bits(geometry: ConvGeometry) -> int:
    """16 when raw indices fit 15 bits and pattern group ids ``q * K_w + lc`` fit 12 bits, else 32."""
    hp, kw = geometry.padded[0], geometry.kernel[1]
    return 16 if hp * kw <= 1 << 15 and ((hp - 1) // 4 + 1) * kw <= 1 << 12 else 32


def im2col_bytes(geometry: ConvGeometry) -> int:
    """The im2col matrix ``[N, C*K_h*K_w, O_h*O_w]`` in float32."""
    (kh, kw), (oh, ow) = geometry.kernel, geometry.out_size
    return geometry.batch * geometry.in_channels * kh * kw * oh * ow * FLOAT_BYTES


def mec_bytes(geometry: ConvGeometry) -> int:
    """MEC's compact lowered matrix ``[N, O_w, H_p, K_w, C]`` in float32."""
    g = geometry
    return g.batch * g.out_size[1] * g.padded[0] * g.kernel[1] * g.in_channels * FLOAT_BYTES


def dense_input_bytes(geometry: ConvGeometry) -> int:
    """The input map itself (what a direct convolution reads), float32, unpadded."""
    return geometry.batch * geometry.in_channels * geometry.height * geometry.width * FLOAT_BYTES


WIDTHS = ("values float32 (4 B); CPO/CPS words uint16 (2 B, uint32 for tall maps); pointers int32 (4 B); "
          "channel ids int16 (2 B); im2col/MEC float32 (4 B)")

"""Integer ports of libjpeg's accurate DCTs (``jfdctint.c`` / ``jidctint.c``, "ISLOW").

Loeffler-Ligtenberg-Moschytz flow graphs with 13-bit fixed-point constants, as in IJG
libjpeg 6b and libjpeg-turbo, whose ISLOW output this reproduces bit for bit. Inputs and
outputs are ``(..., 8, 8)`` integer-valued tensors in natural order; no gradients (the codec
pairs these with the float DCT through a straight-through composition).

Within one pass every output is ``DESCALE(sum_k w_k x_k, n)``: an integer linear
combination of the 8 inputs followed by one rounding shift. So each pass is computed as a
float64 matrix product (exact: every partial sum stays far below 2**53) and a floor, with
the integer weights read off the flow graph itself (:func:`_flow_graph_matrix`). The flow
graph functions are kept as the readable definition and tested against the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch

from jpegdl.jpeg.dct import descale, separable_blocks_to_plane, separable_plane_to_blocks

CONST_BITS = 13
PASS1_BITS = 2
FDCT_BITS = (CONST_BITS - PASS1_BITS, CONST_BITS + PASS1_BITS)
IDCT_BITS = (CONST_BITS - PASS1_BITS, CONST_BITS + PASS1_BITS + 3)

FIX_0_298631336 = 2446
FIX_0_390180644 = 3196
FIX_0_541196100 = 4433
FIX_0_765366865 = 6270
FIX_0_899976223 = 7373
FIX_1_175875602 = 9633
FIX_1_501321110 = 12299
FIX_1_847759065 = 15137
FIX_1_961570560 = 16069
FIX_2_053119869 = 16819
FIX_2_562915447 = 20995
FIX_3_072711026 = 25172

Sums = tuple[torch.Tensor, ...]


def _odd_rotations(t4: torch.Tensor, t5: torch.Tensor, t6: torch.Tensor, t7: torch.Tensor) -> Sums:
    """The odd-part rotation network shared by both ISLOW transforms (inputs in FDCT naming)."""
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * FIX_1_175875602
    t4, t5 = t4 * FIX_0_298631336, t5 * FIX_2_053119869
    t6, t7 = t6 * FIX_3_072711026, t7 * FIX_1_501321110
    z1, z2 = z1 * -FIX_0_899976223, z2 * -FIX_2_562915447
    z3, z4 = z3 * -FIX_1_961570560 + z5, z4 * -FIX_0_390180644 + z5
    return t4 + z1 + z3, t5 + z2 + z4, t6 + z2 + z3, t7 + z1 + z4


def _fdct_sums(d: Sums) -> Sums:
    """One ``jpeg_fdct_islow`` pass, outputs 0..7 before their final DESCALE.

    libjpeg shifts outputs 0 and 4 left by PASS1_BITS in pass 1 and descales them by
    PASS1_BITS in pass 2; scaling them by 2**CONST_BITS here lets one DESCALE by the
    pass's shift (FDCT_BITS) give exactly the same integers in both passes.
    """
    t0, t7 = d[0] + d[7], d[0] - d[7]
    t1, t6 = d[1] + d[6], d[1] - d[6]
    t2, t5 = d[2] + d[5], d[2] - d[5]
    t3, t4 = d[3] + d[4], d[3] - d[4]
    t10, t13 = t0 + t3, t0 - t3
    t11, t12 = t1 + t2, t1 - t2
    z1 = (t12 + t13) * FIX_0_541196100
    o7, o5, o3, o1 = _odd_rotations(t4, t5, t6, t7)
    even0, even4 = (t10 + t11) << CONST_BITS, (t10 - t11) << CONST_BITS
    return even0, o1, z1 + t13 * FIX_0_765366865, o3, even4, o5, z1 - t12 * FIX_1_847759065, o7


def _idct_sums(c: Sums) -> Sums:
    """One ``jpeg_idct_islow`` pass (inputs: one column, or one row, of 8 values) before DESCALE."""
    z1 = (c[2] + c[6]) * FIX_0_541196100
    t2 = z1 - c[6] * FIX_1_847759065
    t3 = z1 + c[2] * FIX_0_765366865
    t0 = (c[0] + c[4]) << CONST_BITS
    t1 = (c[0] - c[4]) << CONST_BITS
    t10, t13 = t0 + t3, t0 - t3
    t11, t12 = t1 + t2, t1 - t2
    # Inputs 7, 5, 3, 1 play the roles of the FDCT's tmp4..tmp7.
    o0, o1, o2, o3 = _odd_rotations(c[7], c[5], c[3], c[1])
    return t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3


def _descale_int(x: torch.Tensor, bits: int) -> torch.Tensor:
    """libjpeg's ``DESCALE``: divide by ``2**bits``, rounding half up (arithmetic shift)."""
    return (x + (1 << (bits - 1))) >> bits


def flow_graph_pass(vectors: torch.Tensor, sums: Callable[[Sums], Sums], bits: int) -> torch.Tensor:
    """Run one pass of the integer flow graph over the last dimension of an int64 tensor."""
    return torch.stack([_descale_int(s, bits) for s in sums(vectors.unbind(-1))], dim=-1)


@cache
def _flow_graph_matrix(kind: str) -> torch.Tensor:
    """``(8, 8)`` float64 ``M`` with ``sums(x)[j] == sum_k x[k] * M[k, j]`` (integer weights)."""
    sums = _fdct_sums if kind == "fdct" else _idct_sums
    basis = torch.eye(8, dtype=torch.int64)
    return torch.stack(sums(basis.unbind(-1)), dim=-1).to(torch.float64)


def _matrix(kind: str, device: torch.device) -> torch.Tensor:
    return _flow_graph_matrix(kind).to(device)


def fdct_islow(samples: torch.Tensor) -> torch.Tensor:
    """libjpeg's ``jpeg_fdct_islow`` on level-shifted samples (-128..127), ``(..., 8, 8)``.

    Returns float64 integer values: the coefficients scaled by 8 (libjpeg's convention;
    divide by 8 for the orthonormal scale; libjpeg quantizes with divisor ``8 * Q``).
    """
    weights = _matrix("fdct", samples.device)
    rows = descale(samples.to(torch.float64) @ weights, FDCT_BITS[0])
    return descale(weights.T @ rows, FDCT_BITS[1])


def idct_islow(dequantized: torch.Tensor) -> torch.Tensor:
    """libjpeg's ``jpeg_idct_islow`` on dequantized coefficients (``index * Q``, integers), ``(..., 8, 8)``.

    Returns float64 integer values: centred samples, before libjpeg adds 128 and range-limits.
    """
    weights = _matrix("idct", dequantized.device)
    columns = descale(weights.T @ dequantized.to(torch.float64), IDCT_BITS[0])
    return descale(columns @ weights, IDCT_BITS[1])


def plane_fdct_islow(plane: torch.Tensor) -> torch.Tensor:
    """:func:`fdct_islow` of every block of a level-shifted ``(B, 8h, 8w)`` plane -> ``(B, h, w, 8, 8)``."""
    weights = _matrix("fdct", plane.device)
    return separable_plane_to_blocks(plane.to(torch.float64), weights, weights, FDCT_BITS)


def plane_idct_islow(dequantized: torch.Tensor) -> torch.Tensor:
    """:func:`idct_islow` of ``(B, h, w, 8, 8)`` dequantized blocks -> centred ``(B, 8h, 8w)`` plane."""
    weights = _matrix("idct", dequantized.device)
    return separable_blocks_to_plane(dequantized.to(torch.float64), weights, weights, IDCT_BITS)


def range_limit(centred: torch.Tensor) -> torch.Tensor:
    """libjpeg's IDCT range-limit table: ``clamp(x + 128, 0, 255)`` on ``x`` wrapped to 10 bits.

    For ``x`` in -512..511 (every realistic image) this is a plain clamp; beyond, libjpeg
    wraps (``x & 1023``), and so does this. Accepts integer-valued float or int tensors.
    """
    low, high = torch.aminmax(centred) if centred.numel() else (0, 0)
    if low < -512 or high > 511:
        centred = torch.remainder(centred + 512, 1024) - 512
    return (centred + 128).clamp_(0, 255)

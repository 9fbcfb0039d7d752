"""Integer ports of libjpeg's accurate DCTs (``jfdctint.c`` / ``jidctint.c``, "ISLOW").

Loeffler-Ligtenberg-Moschytz flow graphs with 13-bit fixed-point constants, as in IJG
libjpeg 6b and libjpeg-turbo, whose ISLOW output this reproduces bit for bit. Inputs and
outputs are ``(..., 8, 8)`` int64 tensors in natural order; no gradients (the codec pairs
these with the float DCT through a straight-through composition).
"""

from __future__ import annotations

import torch

CONST_BITS = 13
PASS1_BITS = 2

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


def _descale(x: torch.Tensor, bits: int) -> torch.Tensor:
    """libjpeg's ``DESCALE``: divide by ``2**bits``, rounding half up (arithmetic shift)."""
    return (x + (1 << (bits - 1))) >> bits


def _odd_rotations(
    t4: torch.Tensor, t5: torch.Tensor, t6: torch.Tensor, t7: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The shared odd-part rotation network of both ISLOW transforms (inputs in FDCT naming)."""
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * FIX_1_175875602
    t4, t5 = t4 * FIX_0_298631336, t5 * FIX_2_053119869
    t6, t7 = t6 * FIX_3_072711026, t7 * FIX_1_501321110
    z1, z2 = z1 * -FIX_0_899976223, z2 * -FIX_2_562915447
    z3, z4 = z3 * -FIX_1_961570560 + z5, z4 * -FIX_0_390180644 + z5
    return t4 + z1 + z3, t5 + z2 + z4, t6 + z2 + z3, t7 + z1 + z4


def _fdct_pass(rows: torch.Tensor, first_pass: bool) -> torch.Tensor:
    d = rows.unbind(-1)
    t0, t7 = d[0] + d[7], d[0] - d[7]
    t1, t6 = d[1] + d[6], d[1] - d[6]
    t2, t5 = d[2] + d[5], d[2] - d[5]
    t3, t4 = d[3] + d[4], d[3] - d[4]
    t10, t13 = t0 + t3, t0 - t3
    t11, t12 = t1 + t2, t1 - t2
    bits = CONST_BITS - PASS1_BITS if first_pass else CONST_BITS + PASS1_BITS
    if first_pass:
        out0, out4 = (t10 + t11) << PASS1_BITS, (t10 - t11) << PASS1_BITS
    else:
        out0, out4 = _descale(t10 + t11, PASS1_BITS), _descale(t10 - t11, PASS1_BITS)
    z1 = (t12 + t13) * FIX_0_541196100
    out2 = _descale(z1 + t13 * FIX_0_765366865, bits)
    out6 = _descale(z1 - t12 * FIX_1_847759065, bits)
    o7, o5, o3, o1 = _odd_rotations(t4, t5, t6, t7)
    outs = (out0, _descale(o1, bits), out2, _descale(o3, bits), out4, _descale(o5, bits), out6, _descale(o7, bits))
    return torch.stack(outs, dim=-1)


def fdct_islow(samples: torch.Tensor) -> torch.Tensor:
    """libjpeg's ``jpeg_fdct_islow`` on level-shifted samples (-128..127).

    Returns the coefficients scaled by 8 (libjpeg's convention): divide by 8 for the
    orthonormal DCT scale; libjpeg quantizes ``c`` with divisor ``8 * Q``.
    """
    rows = _fdct_pass(samples.to(torch.int64), first_pass=True)
    return _fdct_pass(rows.transpose(-1, -2), first_pass=False).transpose(-1, -2)


def _idct_pass(columns: torch.Tensor, first_pass: bool) -> torch.Tensor:
    c = columns.unbind(-1)
    z1 = (c[2] + c[6]) * FIX_0_541196100
    t2 = z1 - c[6] * FIX_1_847759065
    t3 = z1 + c[2] * FIX_0_765366865
    t0 = (c[0] + c[4]) << CONST_BITS
    t1 = (c[0] - c[4]) << CONST_BITS
    t10, t13 = t0 + t3, t0 - t3
    t11, t12 = t1 + t2, t1 - t2
    # Odd part: inputs 7, 5, 3, 1 play the roles of the FDCT's tmp4..tmp7.
    o0, o1, o2, o3 = _odd_rotations(c[7], c[5], c[3], c[1])
    bits = CONST_BITS - PASS1_BITS if first_pass else CONST_BITS + PASS1_BITS + 3
    outs = (t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3)
    return torch.stack([_descale(v, bits) for v in outs], dim=-1)


def idct_islow(dequantized: torch.Tensor) -> torch.Tensor:
    """libjpeg's ``jpeg_idct_islow`` on dequantized coefficients (``index * Q``, integers).

    Returns centred samples (before libjpeg adds 128 and range-limits them).
    """
    columns = _idct_pass(dequantized.to(torch.int64).transpose(-1, -2), first_pass=True)
    return _idct_pass(columns.transpose(-1, -2), first_pass=False)


def range_limit(centred: torch.Tensor) -> torch.Tensor:
    """libjpeg's IDCT range-limit table: ``clamp(x + 128, 0, 255)`` on ``x`` wrapped to 10 bits.

    For ``x`` in -512..511 (every realistic image) this is a plain clamp; beyond, libjpeg
    wraps (``x & 1023``), and so does this.
    """
    wrapped = ((centred + 512) & 1023) - 512
    return (wrapped + 128).clamp(0, 255)

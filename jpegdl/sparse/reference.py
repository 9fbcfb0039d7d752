"""Pure-PyTorch reference implementations of every method (slow; the tests hold the compiled kernels to them).

All take ``x [N, C, H, W]`` float32, ``weight [K_c, C, K_h, K_w]``, optional ``bias [K_c]``, and return the
convolution ``[N, K_c, O_h, O_w]`` with zero padding, dilation 1 and groups 1. The encoders return exactly
the arrays the compiled encoders write (``jpegdl.sparse.formats``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jpegdl.sparse.formats import SparseMap, cpo_index_bits, cps_index_bits
from jpegdl.sparse.geometry import ConvGeometry, check_conv


def _finish(out: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def im2col_conv(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """Lower to ``[N, C*K_h*K_w, O_h*O_w]`` (``F.unfold``), one GEMM with the ``[K_c, C*K_h*K_w]`` kernel."""
    g = check_conv(x, weight, bias, stride, padding)
    cols = F.unfold(x, g.kernel, padding=g.padding, stride=g.stride)
    out = weight.reshape(g.out_channels, -1) @ cols
    return _finish(out.view(g.batch, g.out_channels, *g.out_size), bias)


def mec_lower(x: torch.Tensor, geometry: ConvGeometry) -> torch.Tensor:
    """MEC's compact lowering ``L [N, O_w, H_p, K_w, C]``: a full-height strip of K_w columns per output column."""
    (ph, pw), (_, kw), (_, sw) = geometry.padding, geometry.kernel, geometry.stride
    nhwc = F.pad(x, (pw, pw, ph, ph)).permute(0, 2, 3, 1)  # [N, H_p, W_p, C]
    strips = nhwc.unfold(2, kw, sw)  # [N, H_p, O_w, C, K_w]
    return strips.permute(0, 2, 1, 4, 3).contiguous()


def mec_conv(x, weight, bias=None, stride=1, padding=0, solution: str = "A") -> torch.Tensor:
    """MEC (Cho & Brand 2017): GEMMs on shifted, overlapping row views of ``L`` (no copies).

    Solution ``"A"``: one GEMM per output row, ``M = N * O_w``; ``"B"``: one per (image, output row), ``M = O_w``.
    """
    g = check_conv(x, weight, bias, stride, padding)
    if solution not in ("A", "B"):
        raise ValueError(f"solution: expected 'A' or 'B', got {solution!r}")
    lowered = mec_lower(x, g)
    (oh, ow), (kh, kw), sh, c = g.out_size, g.kernel, g.stride[0], g.in_channels
    kernel = weight.permute(2, 3, 1, 0).reshape(kh * kw * c, g.out_channels)
    row_len, row_stride = kh * kw * c, g.padded[0] * kw * c
    flat = lowered.view(-1)
    if solution == "A":
        rows = [flat.as_strided((g.batch * ow, row_len), (row_stride, 1), y * sh * kw * c) @ kernel for y in range(oh)]
        out = torch.stack(rows).view(oh, g.batch, ow, -1).permute(1, 3, 0, 2)
    else:
        out = torch.stack([
            torch.stack([flat.as_strided((ow, row_len), (row_stride, 1), (b * ow * g.padded[0] + y * sh) * kw * c)
                         @ kernel for y in range(oh)])
            for b in range(g.batch)
        ]).permute(0, 3, 1, 2)  # fmt: skip
    return _finish(out.contiguous(), bias)


def _coverage(geometry: ConvGeometry) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per unpadded column: first covering window ``w0`` and column inside it ``lc`` (-1: uncovered);
    per unpadded row: whether some kernel row of some output row reads it."""

    def first_window(positions: torch.Tensor, k: int, s: int, count: int) -> torch.Tensor:
        w0 = torch.where(positions < k, 0, torch.div(positions - k + s, s, rounding_mode="floor"))
        return torch.where((w0 < count) & (w0 * s <= positions), w0, -1)

    (ph, pw), (kh, kw), (sh, sw), (oh, ow) = geometry.padding, geometry.kernel, geometry.stride, geometry.out_size
    columns = torch.arange(geometry.width) + pw
    w0 = first_window(columns, kw, sw, ow)
    lc = torch.where(w0 >= 0, columns - w0 * sw, -1)
    rows_ok = first_window(torch.arange(geometry.height) + ph, kh, sh, oh) >= 0
    return w0, lc, rows_ok


def _as_stored(words: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned words in int64 -> the int16/int32 tensor holding the same bits."""
    span = 1 << bits
    return torch.where(words >= span // 2, words - span, words).to(torch.int16 if bits == 16 else torch.int32)


def _as_unsigned(words: torch.Tensor, bits: int) -> torch.Tensor:
    return words.to(torch.int64) & ((1 << bits) - 1)


def _covered_nonzeros(x: torch.Tensor, geometry: ConvGeometry):
    """The covered non-zeros in storage order (image, channel, column, row) and their positions."""
    if not torch.isfinite(x).all():
        raise ValueError("x: contains NaN or Inf (sparse formats need finite activations)")
    w0_of, lc_of, rows_ok = _coverage(geometry)
    mask = (x != 0) & rows_ok.view(1, 1, -1, 1) & (w0_of >= 0).view(1, 1, 1, -1)
    b, c, i, j = mask.nonzero(as_tuple=True)
    _, ch, h, w = x.shape
    order = torch.argsort(((b * ch + c) * w + j) * h + i)
    b, c, i, j = b[order], c[order], i[order], j[order]
    return b, c, i + geometry.padding[0], w0_of[j], lc_of[j], x[b, c, i, j]


def _pointers(geometry: ConvGeometry, b, c, w0, emits: torch.Tensor):
    """image_ptr, channels, segment_ptr for words emitted at the non-zeros where ``emits`` is true."""
    n, ch, ow = geometry.batch, geometry.in_channels, geometry.out_size[1]
    plane = b * ch + c
    planes, entry = torch.unique_consecutive(plane, return_inverse=True)
    entries = planes.numel()
    image_ptr = torch.zeros(n + 1, dtype=torch.int64)
    image_ptr[1:] = torch.bincount(planes // ch, minlength=n).cumsum(0)
    segment = (entry * ow + w0)[emits]
    segment_ptr = torch.zeros(entries * ow + 1, dtype=torch.int64)
    segment_ptr[1:] = torch.bincount(segment, minlength=entries * ow).cumsum(0)
    return image_ptr.to(torch.int32), (planes % ch).to(torch.int16), segment_ptr.to(torch.int32)


def cpo_encode(x: torch.Tensor, geometry: ConvGeometry) -> SparseMap:
    """CPO: each covered non-zero once, ``u = ip * K_w + lc`` grouped by its first covering window."""
    b, c, ip, w0, lc, values = _covered_nonzeros(x, geometry)
    bits = cpo_index_bits(geometry)
    image_ptr, channels, segment_ptr = _pointers(geometry, b, c, w0, torch.ones_like(b, dtype=torch.bool))
    words = _as_stored(ip * geometry.kernel[1] + lc, bits)
    return SparseMap("cpo", geometry, image_ptr, channels, segment_ptr, words, values.contiguous())


def cps_encode(x: torch.Tensor, geometry: ConvGeometry) -> SparseMap:
    """CPS: CPO with each aligned 4-row group of >= 3 non-zeros in one column coded as one pattern word."""
    b, c, ip, w0, lc, values = _covered_nonzeros(x, geometry)
    bits, kw = cps_index_bits(geometry), geometry.kernel[1]
    q = torch.div(ip, 4, rounding_mode="floor")
    jp = w0 * geometry.stride[1] + lc
    group_key = ((b * geometry.in_channels + c) * geometry.padded[1] + jp) * (geometry.padded[0] // 4 + 1) + q
    _, group, counts = torch.unique_consecutive(group_key, return_inverse=True, return_counts=True)
    size = counts[group]
    first = torch.ones_like(group, dtype=torch.bool)
    first[1:] = group[1:] != group[:-1]
    offset_sum = torch.zeros(counts.numel(), dtype=torch.int64).index_add_(0, group, ip - 4 * q)[group]
    missing = torch.where(size == 4, 4, 6 - offset_sum)
    pattern = (1 << (bits - 1)) | ((q * kw + lc) << 3) | missing
    emits = (size < 3) | first
    words = torch.where(size >= 3, pattern, ip * kw + lc)[emits]
    image_ptr, channels, segment_ptr = _pointers(geometry, b, c, w0, emits)
    return SparseMap("cps", geometry, image_ptr, channels, segment_ptr, _as_stored(words, bits), values.contiguous())


def decode(matrix: SparseMap) -> tuple[torch.Tensor, ...]:
    """Positions and values of the stored non-zeros: ``(image, channel, padded row, padded column, value)``."""
    g = matrix.geometry
    ow, kw, sw = g.out_size[1], g.kernel[1], g.stride[1]
    bits = matrix.index_bits
    counts = matrix.segment_ptr[1:].to(torch.int64) - matrix.segment_ptr[:-1].to(torch.int64)
    segment = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    entry, w0 = segment // ow, segment % ow
    words = _as_unsigned(matrix.words, bits)
    if matrix.kind == "cps":
        is_pattern = words >= (1 << (bits - 1))
        body = words & ((1 << (bits - 1)) - 1)
        group, missing = body >> 3, body & 7
        rows = torch.arange(4)
        pattern_rows = 4 * (group // kw).unsqueeze(1) + rows
        raw_rows = (words // kw).unsqueeze(1).expand(-1, 4)
        row = torch.where(is_pattern.unsqueeze(1), pattern_rows, raw_rows)
        lc = torch.where(is_pattern, group % kw, words % kw).unsqueeze(1).expand(-1, 4)
        keep = torch.where(is_pattern.unsqueeze(1), rows != missing.unsqueeze(1), rows == 0)
        ip, lc = row[keep], lc[keep]
        entry, w0 = entry.unsqueeze(1).expand(-1, 4)[keep], w0.unsqueeze(1).expand(-1, 4)[keep]
    else:
        ip, lc = words // kw, words % kw
    entries_per_image = matrix.image_ptr[1:].to(torch.int64) - matrix.image_ptr[:-1].to(torch.int64)
    image = torch.repeat_interleave(torch.arange(g.batch), entries_per_image)[entry]
    channel = matrix.channels.to(torch.int64)[entry]
    return image, channel, ip, w0 * sw + lc, matrix.values


def sparse_conv(matrix: SparseMap, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """The scatter convolution of a CPO/CPS map: each non-zero adds ``v * weight[:, c, l, k]`` to every output
    ``(y, x)`` with ``y * s_h + l = ip`` and ``x * s_w + k = jp``."""
    g = matrix.geometry
    image, channel, ip, jp, values = decode(matrix)
    (oh, ow), (kh, kw), (sh, sw) = g.out_size, g.kernel, g.stride
    out = torch.zeros(g.batch, oh, ow, g.out_channels)
    for row in range(kh):
        for k in range(kw):
            dy, dx = ip - row, jp - k
            y, x = torch.div(dy, sh, rounding_mode="floor"), torch.div(dx, sw, rounding_mode="floor")
            ok = (dy >= 0) & (dx >= 0) & (dy % sh == 0) & (dx % sw == 0) & (y < oh) & (x < ow)
            contribution = values[ok].unsqueeze(1) * weight[:, channel[ok], row, k].T
            out.index_put_((image[ok], y[ok], x[ok]), contribution, accumulate=True)
    return _finish(out.permute(0, 3, 1, 2).contiguous(), bias)


def cpo_conv(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """Encode to CPO, then the scatter convolution."""
    return sparse_conv(cpo_encode(x, check_conv(x, weight, bias, stride, padding)), weight, bias)


def cps_conv(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """Encode to CPS, then the scatter convolution."""
    return sparse_conv(cps_encode(x, check_conv(x, weight, bias, stride, padding)), weight, bias)



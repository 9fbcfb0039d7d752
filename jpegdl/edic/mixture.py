"""Gaussian-mixture entropy model for the latents: likelihoods for training, quantized CDF tables and
rANS coding for real bitstreams.

Each latent element ``y`` (a real number; an integer once quantized) has K Gaussian components with
means ``mu_k``, scales ``sigma_k`` and weights ``w_k`` (summing to one). The probability of the integer
``s`` is ``sum_k w_k * (Phi((s + 1/2 - mu_k) / sigma_k) - Phi((s - 1/2 - mu_k) / sigma_k))``.

Coding (:mod:`jpegdl.edic.rans`, in CompressAI's stream format): every element gets its own CDF over a
window of integers ``center - r .. center + r`` plus one escape symbol, where ``center = round(sum_k
w_k mu_k)`` and ``r`` covers ``TAIL_SIGMAS`` scales of every component (at most ``MAX_RADIUS``).
Symbols outside the window are coded as the escape symbol followed by the value in bypass mode, so any
integer up to 2**26 in size can be coded. Encoder and decoder build the tables with the same arithmetic
from the same hyper-decoder output, which is what makes decoding bit-exact on one platform.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from jpegdl.edic import rans
from jpegdl.edic.rans import Tables

SCALE_BOUND = 0.11
LIKELIHOOD_BOUND = 1e-9
PRECISION = 16
TAIL_SIGMAS = 5.0
MAX_RADIUS = 64


def _standard_normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


def split_parameters(params: Tensor, components: int) -> tuple[Tensor, Tensor, Tensor]:
    """Hyper-decoder output ``(B, 3*K*M, H, W)`` -> means, scales, weights, each ``(B, K, M, H, W)``.

    Channel blocks are ``[means | scales | weights]``, each ordered component-major. Scales are
    softplus-activated (bounded below by ``SCALE_BOUND`` when used); weights are softmaxed over K.
    """
    if params.dim() != 4 or params.shape[1] % (3 * components):
        raise ValueError(f"params: expected (B, 3*K*M, H, W) with K={components}, got {tuple(params.shape)}")
    batch, channels, height, width = params.shape
    means, scales, logits = params.reshape(batch, 3, components, channels // (3 * components), height, width).unbind(1)
    return means, F.softplus(scales), torch.softmax(logits, dim=1)


def mixture_likelihood(y: Tensor, means: Tensor, scales: Tensor, weights: Tensor) -> Tensor:
    """Probability of the unit bin around each value of ``y`` under its Gaussian mixture.

    Args:
        y: ``(B, M, H, W)`` float latents (integers at test time, noisy in training).
        means, scales, weights: ``(B, K, M, H, W)``; weights non-negative and summing to one over K.

    Returns:
        ``(B, M, H, W)`` probabilities in (0, 1] (not yet lower-bounded).
    """
    scales = scales.clamp_min(SCALE_BOUND)
    distance = (y.unsqueeze(1) - means).abs()  # symmetric form: accurate far in the tails
    upper = _standard_normal_cdf((0.5 - distance) / scales)
    lower = _standard_normal_cdf((-0.5 - distance) / scales)
    return (weights * (upper - lower)).sum(dim=1)


def _flatten_components(tensor: Tensor) -> Tensor:
    """``(1, K, M, H, W)`` -> ``(M*H*W, K)`` float64 in the coding order (channel, row, column)."""
    return tensor[0].detach().cpu().reshape(tensor.shape[1], -1).t().double()


def _windows(mu: Tensor, sigma: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Each element's window: ``center`` float64 ``(E,)`` and ``radius`` int64 ``(E,)`` (see the module doc)."""
    sigma = sigma.clamp_min(SCALE_BOUND)
    center = (w * mu).sum(dim=1).round()
    reach = ((mu - center[:, None]).abs() + TAIL_SIGMAS * sigma).amax(dim=1)
    return center, reach.ceil().clamp(1, MAX_RADIUS).long()


EXACT_FLOAT32 = 2.0**23  # integers and half-integers below this are exact in float32


def quantized_cdfs(mu: Tensor, sigma: Tensor, w: Tensor, out: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Per-element quantized CDFs for rANS.

    Args:
        mu, sigma, w: float64 ``(E, K)`` means, scales and weights of E elements.
        out: optional int32 ``(E, 2 * max(radius) + 3)`` buffer (a view is fine) that receives the CDFs.

    Returns:
        ``cdfs`` int32 ``(E, L)``: row i is valid in its first ``lengths[i]`` entries, rising from 0 to
        ``2**PRECISION``, every symbol with frequency >= 1; ``lengths`` int64 ``(E,)`` (window size + 2:
        the escape symbol and the leading zero); ``offsets`` int64 ``(E,)``, the integer coded as symbol 0.

    Every float operation is fixed (the tables are part of the stream format: files already written
    decode only if the decoder rebuilds the same integers); the in-place forms below give the same
    IEEE results as their out-of-place originals (``a - b`` is ``-b + a``), they only allocate less.
    """
    sigma = sigma.clamp_min(SCALE_BOUND)
    return _window_cdfs(mu, sigma, w, *_windows(mu, sigma, w), out=out)


def _window_cdfs(mu: Tensor, sigma: Tensor, w: Tensor, center: Tensor, radius: Tensor,
                 out: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """:func:`quantized_cdfs` for scales already bounded below and windows already computed."""
    size = 2 * radius + 1  # in-window symbols
    width = int(size.max()) + 1  # bin edges per row
    first = center - radius - 0.5
    if float(first.abs().max()) + width < EXACT_FLOAT32:  # every edge exact in float32: build it there
        edges = first.float()[:, None] + torch.arange(width, dtype=torch.float32)[None, :]
    else:
        edges = (first[:, None] + torch.arange(width, dtype=torch.float64)[None, :]).float()
    # One CDF evaluation per edge and component, Phi(x) = erfc((mu - x) / (sigma sqrt 2)) / 2, in float32
    # (its ~1e-7 error is far below the tables' 2**-16 resolution; encoder and decoder run the same ops).
    inverse = (1 / (sigma * math.sqrt(2.0))).float()
    complementary = (edges[:, :, None] * inverse[:, None, :]).neg_().add_((mu.float() * inverse)[:, None, :]).erfc_()
    mixture_cdf = torch.bmm(complementary, (w.float() / 2)[:, :, None])[:, :, 0].double()  # (E, width)
    columns = torch.arange(width)
    pmf = mixture_cdf.diff(dim=1).masked_fill_(columns[None, :-1] >= size[:, None], 0).clamp_min_(0)
    tail = pmf.sum(dim=1).neg_().add_(1).clamp_min_(0)
    probs = torch.cat([pmf, torch.zeros_like(tail)[:, None]], dim=1)
    probs.scatter_(1, size[:, None], tail[:, None])  # the escape symbol sits right after the window
    peak = probs.argmax(dim=1, keepdim=True)
    spare = (2**PRECISION - (size + 1)).double()
    freq = probs.mul_(spare[:, None]).floor_().to(torch.int32).add_(1)  # < 2**16: int32 is exact
    freq.masked_fill_(columns[None, :] > size[:, None], 0)
    freq.scatter_add_(1, peak, (2**PRECISION - freq.sum(dim=1, dtype=torch.int32))[:, None])
    if out is None:
        out = torch.empty(freq.shape[0], width + 1, dtype=torch.int32)
    elif out.shape != (freq.shape[0], width + 1) or out.dtype != torch.int32:
        raise ValueError(f"out: expected int32 {(freq.shape[0], width + 1)}, got {out.dtype} {tuple(out.shape)}")
    out[:, 0] = 0
    torch.cumsum(freq, dim=1, out=out[:, 1:])
    return out, size + 2, (center - radius).long()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the coder's many small lists are created.

    The tables of one 512x512 picture are ~10^5 lists of ~10^6 ints; with the collector running, its
    passes over the new lists cost three quarters of the table time (and, in the forked decoding child of
    :mod:`jpegdl.edic.guard`, copy every page it touches). The lists hold no reference cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def coding_tables(means: Tensor, scales: Tensor, weights: Tensor, chunk: int = 4096) -> tuple[Tables, np.ndarray]:
    """rANS tables for every element of one image, and per element (in coding order) the index of its row.

    Rows are built in order of window size, so each vectorized chunk evaluates about as many CDF points
    as its elements need (an unsorted chunk's widest window is several times the mean), and they are
    stored padded to their chunk's width (entries past a row's length are never read): no Python loop
    per element. Every row comes from the same per-element arithmetic whatever the order, so the
    bitstream does not depend on it.

    Args:
        means, scales, weights: ``(1, K, M, H, W)``.
        chunk: elements per vectorized step (bounds the memory to ~chunk * 129 * K float64).

    Returns:
        the rows (:class:`~jpegdl.edic.rans.Tables`) and the row of each element, int64 ``(M*H*W,)``.
    """
    mu, sigma, w = (_flatten_components(t) for t in (means, scales, weights))
    order = torch.argsort(_windows(mu, sigma, w)[1], stable=True)
    chunks = []
    for start in range(0, mu.shape[0], chunk):
        part = order[start : start + chunk]
        sigma_part = sigma[part].clamp_min(SCALE_BOUND)
        chunks.append((mu[part], sigma_part, w[part], *_windows(mu[part], sigma_part, w[part])))
    # Each chunk's rows are as wide as its widest window. The chunking fixes the shapes that every float
    # operation sees, so it is part of the format too; the flat buffer is laid out before the rows.
    widths = [2 * int(radius.max()) + 3 for *_, radius in chunks]
    flat = torch.empty(sum(width * len(c[0]) for width, c in zip(widths, chunks, strict=True)), dtype=torch.int32)
    starts, lengths, offsets = [], [], []
    base = 0
    for width, arguments in zip(widths, chunks, strict=True):
        rows = len(arguments[0])
        _, size, offset = _window_cdfs(*arguments, out=flat[base : base + rows * width].view(rows, width))
        starts.append(base + width * torch.arange(rows))
        base += rows * width
        lengths.append(size)
        offsets.append(offset)
    indexes = torch.empty_like(order)
    indexes[order] = torch.arange(order.numel())
    tables = Tables(flat.numpy(), torch.cat(starts).numpy(), torch.cat(lengths).int().numpy(),
                    torch.cat(offsets).int().numpy())  # fmt: skip
    return tables, indexes.numpy()


def encode_symbols(symbols: Tensor, means: Tensor, scales: Tensor, weights: Tensor) -> bytes:
    """rANS-encode integer latents of one image under their mixtures (:mod:`jpegdl.edic.rans`, or
    CompressAI's coder, which writes the same bytes, where that cannot be built).

    Args:
        symbols: ``(1, M, H, W)`` integer-valued latents (any dtype; |value| < 2**26).
        means, scales, weights: ``(1, K, M, H, W)``.
    """
    values = symbols.reshape(-1).round().long()
    if values.numel() and values.abs().max() >= 2**26:  # CompressAI's encoder never ends from 2**27 on
        raise ValueError("symbols: latent values must lie within +-2**26")
    tables, indexes = coding_tables(means, scales, weights)
    if values.numel() != len(indexes):
        raise ValueError(f"symbols: expected {len(indexes)} elements to match the parameters, got {values.numel()}")
    if rans.library() is not None:
        return rans.encode(values.int().numpy(), indexes, tables)
    from compressai.ans import RansEncoder

    with _collector_paused():
        rows, lengths, offsets = tables.as_lists()
        return RansEncoder().encode_with_indexes(values.tolist(), indexes.tolist(), rows, lengths, offsets)


def decode_symbols(data: bytes, means: Tensor, scales: Tensor, weights: Tensor) -> Tensor:
    """Inverse of :func:`encode_symbols`: float32 ``(1, M, H, W)`` integer latents.

    Safe for any string: :mod:`jpegdl.edic.rans` checks every read; without it, decoding goes through
    :func:`jpegdl.edic.guard.active_decoder` (CompressAI's decoder, padded and, for untrusted bytes,
    forked). A string too short or crafted raises ``ValueError``.
    """
    tables, indexes = coding_tables(means, scales, weights)
    if rans.library() is not None:
        values = rans.decode(data, indexes, tables)
        return torch.from_numpy(values.astype(np.float32)).reshape(means.shape[0], *means.shape[2:])
    from jpegdl.edic.guard import active_decoder

    with _collector_paused():
        rows, lengths, offsets = tables.as_lists()
        decoded = active_decoder().decode_with_indexes(data, indexes.tolist(), rows, lengths, offsets)
    return torch.tensor(decoded, dtype=torch.float32).reshape(means.shape[0], *means.shape[2:])

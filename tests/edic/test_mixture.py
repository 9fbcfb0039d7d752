"""The Gaussian-mixture entropy model: likelihoods, quantized CDF tables, rANS round trips."""

import pytest
import torch

pytest.importorskip("compressai")

from jpegdl.edic.mixture import (
    PRECISION,
    coding_tables,
    decode_symbols,
    encode_symbols,
    mixture_likelihood,
    quantized_cdfs,
    split_parameters,
)


def _random_mixture(k: int, m: int = 4, h: int = 3, w: int = 5, spread: float = 3.0, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    params = torch.randn(1, 3 * k * m, h, w, generator=generator) * spread
    return split_parameters(params, k)


@pytest.mark.parametrize("k", [1, 3])
def test_likelihoods_sum_to_one_over_the_integers(k):
    means, scales, weights = _random_mixture(k)
    integers = torch.arange(-300, 301, dtype=torch.float32)
    count = len(integers)
    values = integers[:, None, None, None].expand(count, *means.shape[2:])
    total = mixture_likelihood(values, *(t.expand(count, *t.shape[1:]) for t in (means, scales, weights))).sum(0)
    torch.testing.assert_close(total, torch.ones(means.shape[2:]), atol=1e-4, rtol=0)


def test_split_parameters_shapes_and_softmax():
    means, scales, weights = _random_mixture(3, m=6)
    assert means.shape == scales.shape == weights.shape == (1, 3, 6, 3, 5)
    assert (scales > 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(1, 6, 3, 5))
    with pytest.raises(ValueError, match="params"):
        split_parameters(torch.zeros(1, 10, 2, 2), 3)


def test_quantized_cdfs_are_valid_rans_tables():
    means, scales, weights = _random_mixture(3, spread=2.0)
    flat = [t[0].reshape(3, -1).t().double() for t in (means, scales, weights)]
    cdfs, lengths, offsets = quantized_cdfs(*flat)
    for row, length in zip(cdfs, lengths, strict=True):
        valid = row[: int(length)]
        assert valid[0] == 0 and valid[-1] == 2**PRECISION
        assert (valid.diff() >= 1).all()  # every symbol, the escape included, stays codable
    assert lengths.min() >= 5 and (lengths % 2 == 1).all()
    centers = (flat[0] * flat[2]).sum(1).round().long()
    assert (offsets + (lengths - 3) // 2 == centers).all()  # each window is centred on the mixture mean


def test_coding_tables_give_every_element_its_own_row_whatever_the_chunking():
    means, scales, weights = _random_mixture(3, m=6, h=5, w=7, spread=4.0)
    flat = [t[0].reshape(3, -1).t().double() for t in (means, scales, weights)]
    expected, lengths, offsets = quantized_cdfs(*flat)  # one chunk, coding order
    for chunk in (7, 64, 4096):
        tables, indexes = coding_tables(means, scales, weights, chunk=chunk)
        rows, got_lengths, got_offsets = tables.as_lists()
        assert sorted(indexes.tolist()) == list(range(len(lengths)))
        for element, row_index in enumerate(indexes.tolist()):
            length = got_lengths[row_index]
            assert length == lengths[element] and got_offsets[row_index] == offsets[element]
            assert rows[row_index] == expected[element, :length].tolist()


@pytest.mark.parametrize("k", [1, 3])
def test_rans_round_trip_is_exact_including_escapes(k):
    means, scales, weights = _random_mixture(k, m=5, h=4, w=6)
    noise = torch.randn(1, 5, 4, 6, generator=torch.Generator().manual_seed(1))
    symbols = torch.round((means * weights).sum(1) + noise)
    symbols[0, 0, 0, 0] = 5000.0  # far outside every window: escape + bypass
    symbols[0, 1, 2, 3] = -777.0
    data = encode_symbols(symbols, means, scales, weights)
    assert isinstance(data, bytes) and len(data) > 0
    torch.testing.assert_close(decode_symbols(data, means, scales, weights), symbols, atol=0, rtol=0)


def test_probable_symbols_cost_fewer_bytes():
    means, scales, weights = _random_mixture(3, m=8, h=8, w=8, spread=0.5)
    likely = torch.round((means * weights).sum(1))
    unlikely = likely + 40
    assert len(encode_symbols(likely, means, scales, weights)) < len(encode_symbols(unlikely, means, scales, weights))


def _reference_quantized_cdfs(mu, sigma, w):
    """The tables' arithmetic as first written (format version 1), step by step and out of place: the
    optimised :func:`quantized_cdfs` must give the same integers, or files already written stop decoding."""
    import math

    import torch.nn.functional as F

    from jpegdl.edic.mixture import SCALE_BOUND, _windows

    sigma = sigma.clamp_min(SCALE_BOUND)
    center, radius = _windows(mu, sigma, w)
    size = 2 * radius + 1
    columns = torch.arange(int(size.max()) + 1, dtype=torch.float64)
    edges = (center - radius - 0.5)[:, None] + columns[None, :]
    inside = columns[None, :-1] < size[:, None]
    inverse = (1 / (sigma * math.sqrt(2.0))).float()
    shift = (mu.float() * inverse)[:, None, :]
    complementary = torch.erfc(shift - edges.float()[:, :, None] * inverse[:, None, :])
    mixture_cdf = torch.bmm(complementary, (w.float() / 2)[:, :, None])[:, :, 0].double()
    pmf = (mixture_cdf.diff(dim=1) * inside).clamp_min(0)
    tail = (1 - pmf.sum(dim=1)).clamp_min(0)
    probs = torch.cat([pmf, torch.zeros_like(tail)[:, None]], dim=1)
    probs.scatter_(1, size[:, None], tail[:, None])
    alphabet = columns[None, :] <= size[:, None]
    spare = (2**PRECISION - (size + 1)).double()
    freq = torch.where(alphabet, torch.floor(probs * spare[:, None]).long() + 1, 0)
    remainder = 2**PRECISION - freq.sum(dim=1)
    freq.scatter_add_(1, probs.argmax(dim=1, keepdim=True), remainder[:, None])
    return F.pad(freq.cumsum(dim=1), (1, 0)).to(torch.int32), size + 2, (center - radius).long()


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("magnitude", [0.3, 3.0, 40.0, 3e6, 2e7])  # 2e7: edges past float32's exact range
def test_quantized_cdfs_keep_the_format_of_the_reference_arithmetic(k, magnitude):
    generator = torch.Generator().manual_seed(k)
    mu = torch.randn(3000, k, generator=generator, dtype=torch.float64) * magnitude
    sigma = torch.rand(3000, k, generator=generator, dtype=torch.float64) * min(magnitude, 30.0)
    w = torch.softmax(torch.randn(3000, k, generator=generator, dtype=torch.float64) * 3, dim=1)
    expected = _reference_quantized_cdfs(mu, sigma, w)
    for got, want in zip(quantized_cdfs(mu, sigma, w), expected, strict=True):
        assert torch.equal(got, want)
    buffer = torch.full((3000, expected[0].shape[1]), -1, dtype=torch.int32)
    assert quantized_cdfs(mu, sigma, w, out=buffer)[0] is buffer and torch.equal(buffer, expected[0])
    with pytest.raises(ValueError, match="out"):
        quantized_cdfs(mu, sigma, w, out=buffer[:, 1:])

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

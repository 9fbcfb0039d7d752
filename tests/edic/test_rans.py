"""The checked rANS coder: CompressAI's stream format byte for byte, and safe on any string."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("compressai")

from compressai.ans import RansDecoder, RansEncoder

from jpegdl.edic import guard, mixture, rans
from jpegdl.edic.rans import Tables

pytestmark = pytest.mark.skipif(rans.library() is None, reason="no C compiler to build the coder")


def _random_tables(rng: np.random.Generator, rows: int) -> Tables:
    """Rows of 1..20 in-window symbols plus the escape, random frequencies >= 1 summing to 2**16."""
    flat, starts, lengths, offsets = [], [], [], []
    position = 0
    for _ in range(rows):
        symbols = int(rng.integers(1, 21)) + 1
        cuts = np.sort(rng.choice(np.arange(1, 2**16), symbols - 1, replace=False))
        cdf = np.concatenate([[0], cuts, [2**16]]).astype(np.int32)
        padding = int(rng.integers(0, 4))  # rows need not be packed tightly
        flat.append(np.concatenate([cdf, np.full(padding, -7, np.int32)]))
        starts.append(position)
        position += len(cdf) + padding
        lengths.append(len(cdf))
        offsets.append(int(rng.integers(-50, 50)))
    return Tables(np.concatenate(flat), np.array(starts, np.int64), np.array(lengths, np.int32),
                  np.array(offsets, np.int32))  # fmt: skip


def _symbols(rng: np.random.Generator, tables: Tables, count: int) -> tuple[np.ndarray, np.ndarray]:
    indexes = rng.integers(0, tables.rows, count)
    inside = tables.offsets[indexes] + rng.integers(0, tables.lengths[indexes] - 2)
    far = rng.integers(-(2**26), 2**26, count)  # CompressAI's encoder loops forever from 2**27 (a shift by 32)
    symbols = np.where(rng.random(count) < 0.1, far, inside)  # about a tenth escape to bypass coding
    return symbols.astype(np.int32), indexes.astype(np.int64)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 12), count=st.integers(16, 400))
def test_streams_are_compressais_byte_for_byte(seed, rows, count):
    """(From 16 symbols: CompressAI's encoder sizes its buffer at one word per symbol and writes its
    two-word final state past the start of it for shorter inputs.)"""
    rng = np.random.default_rng(seed)
    tables = _random_tables(rng, rows)
    symbols, indexes = _symbols(rng, tables, count)
    cdfs, lengths, offsets = tables.as_lists()
    theirs = RansEncoder().encode_with_indexes(symbols.tolist(), indexes.tolist(), cdfs, lengths, offsets)
    ours = rans.encode(symbols, indexes, tables)
    assert ours == theirs
    assert rans.decode(theirs, indexes, tables).tolist() == symbols.tolist()
    assert RansDecoder().decode_with_indexes(ours, indexes.tolist(), cdfs, lengths, offsets) == symbols.tolist()


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=0, max_size=200), seed=st.integers(0, 2**31))
def test_any_string_decodes_or_is_refused_in_process(data, seed):
    """Random, truncated and all-ones strings: symbols or a ValueError, never a read outside the string."""
    rng = np.random.default_rng(seed)
    tables = _random_tables(rng, 4)
    indexes = rng.integers(0, 4, 300).astype(np.int64)
    for string in (data, data[: len(data) // 4 * 4], b"\xff" * (len(data) // 4 * 4)):
        try:
            values = rans.decode(string, indexes, tables)
        except ValueError as error:
            assert str(error).startswith("data: corrupt EDIC stream")
        else:
            assert values.shape == (300,)


def test_empty_and_tiny_inputs():
    rng = np.random.default_rng(2)
    tables = _random_tables(rng, 2)
    for count in (0, 1, 2):
        symbols, indexes = _symbols(rng, tables, count)
        data = rans.encode(symbols, indexes, tables)
        assert len(data) == 8 and rans.decode(data, indexes, tables).tolist() == symbols.tolist()


def test_a_truncated_stream_is_refused_and_a_whole_one_is_not():
    rng = np.random.default_rng(3)
    tables = _random_tables(rng, 6)
    symbols, indexes = _symbols(rng, tables, 2000)
    data = rans.encode(symbols, indexes, tables)
    assert rans.decode(data, indexes, tables).tolist() == symbols.tolist()
    for cut in (0, 4, 8, len(data) // 2 // 4 * 4, len(data) - 4):
        with pytest.raises(ValueError, match="ended before every symbol"):
            rans.decode(data[:cut], indexes, tables)


def test_invalid_tables_and_arguments_are_refused():
    rng = np.random.default_rng(4)
    tables = _random_tables(rng, 3)
    symbols, indexes = _symbols(rng, tables, 50)
    data = rans.encode(symbols, indexes, tables)
    broken = tables.cdfs.copy()
    broken[tables.row_start[1] + 1] = 0  # a zero frequency
    with pytest.raises(ValueError, match="tables are invalid"):
        rans.decode(data, indexes, Tables(broken, tables.row_start, tables.lengths, tables.offsets))
    with pytest.raises(ValueError, match="tables are invalid"):  # a row running past the array
        rans.decode(data, indexes, Tables(tables.cdfs, tables.row_start + len(tables.cdfs), tables.lengths,
                                          tables.offsets))  # fmt: skip
    with pytest.raises(ValueError, match=r"indexes: expected row numbers in \[0, 3\)"):
        rans.decode(data, indexes + 3, tables)
    with pytest.raises(ValueError, match="cdfs: expected a 1-D int32 array"):
        Tables(tables.cdfs.astype(np.int64), tables.row_start, tables.lengths, tables.offsets)
    with pytest.raises(ValueError, match="symbols, indexes: expected the same shape"):
        rans.encode(symbols[:-1], indexes, tables)
    shifted = Tables(tables.cdfs, tables.row_start, tables.lengths, np.full(3, 10, np.int32))
    with pytest.raises(ValueError, match="too far from its distribution"):  # needs more than 32 bits
        rans.encode(np.array([-(2**31)], np.int32), np.array([0]), shifted)


def test_without_a_compiler_compressais_coder_writes_and_reads_the_same_streams(monkeypatch):
    generator = torch.Generator().manual_seed(5)
    means, scales, weights = mixture.split_parameters(torch.randn(1, 3 * 3 * 4, 3, 5, generator=generator) * 3, 3)
    symbols = torch.round((means * weights).sum(1) + torch.randn(1, 4, 3, 5, generator=generator) * 2)
    symbols[0, 0, 0, 0] = 999.0
    native = mixture.encode_symbols(symbols, means, scales, weights)
    monkeypatch.setattr(rans, "library", lambda: None)
    assert mixture.encode_symbols(symbols, means, scales, weights) == native
    for isolate in (False, True):  # the fallback decoder, in place and in its forked child
        with guard.guarded_entropy_coders(torch.nn.Module(), guard.GuardedDecoder(isolate=isolate)):
            decoded = mixture.decode_symbols(native, means, scales, weights)
        torch.testing.assert_close(decoded, symbols, atol=0, rtol=0)

"""Per-image records survive their compact JSON encoding exactly; bad strings get clear errors."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jpegdl.evaluate.per_image import pack_counts, pack_flags, unpack_counts, unpack_flags


@given(st.lists(st.booleans(), max_size=300))
def test_flags_round_trip(flags):
    text = pack_flags(flags)
    assert json.loads(json.dumps(text)) == text
    assert unpack_flags(text).tolist() == flags


@given(st.lists(st.integers(0, 2**32 - 1), max_size=200))
def test_counts_round_trip_at_the_narrowest_width(counts):
    text = pack_counts(counts)
    assert text.startswith("2:" if all(c < 2**16 for c in counts) else "4:")
    assert unpack_counts(text).tolist() == counts


def test_bad_records_are_refused():
    with pytest.raises(ValueError, match="counts: expected integers"):
        pack_counts([-1])
    with pytest.raises(ValueError, match="counts: expected integers"):
        pack_counts(np.array([2**32]))
    for text in ("", "3:abc", "2:###", "8:AAAA"):
        with pytest.raises(ValueError, match="counts"):
            unpack_counts(text)
    for text in ("", "x:AA==", "20:AA==", "3:!!"):
        with pytest.raises(ValueError, match="flags"):
            unpack_flags(text)

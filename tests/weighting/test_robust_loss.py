"""Generalized cross-entropy (Zhang & Sabuncu 2018): the formula, its limits, finiteness, bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jpegdl.weighting.robust_loss import gce_criterion, generalized_cross_entropy


def test_gce_matches_its_formula_and_limits():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 2])
    p = logits.softmax(-1)[torch.arange(2), labels]
    assert torch.allclose(generalized_cross_entropy(logits, labels, 0.7), (1 - p**0.7) / 0.7)
    assert torch.allclose(generalized_cross_entropy(logits, labels, 1.0), 1 - p)  # MAE
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    assert torch.allclose(generalized_cross_entropy(logits, labels, 1e-4), ce, atol=1e-3)  # q -> 0: CE


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(0.0, 1e4), q=st.floats(0.05, 1.0))
def test_gce_is_bounded_with_finite_gradients(scale, q):
    logits = (torch.randn(4, 5, generator=torch.Generator().manual_seed(0)) * scale).requires_grad_()
    losses = generalized_cross_entropy(logits, torch.tensor([0, 1, 2, 3]), q)
    assert ((losses >= 0) & (losses <= 1 / q + 1e-6)).all()
    losses.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_gce_rejects_bad_input():
    with pytest.raises(ValueError, match="q: expected"):
        gce_criterion(0.0)
    with pytest.raises(ValueError, match="q: expected"):
        generalized_cross_entropy(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), 1.5)
    with pytest.raises(ValueError, match="shapes"):
        generalized_cross_entropy(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))
    assert gce_criterion(0.5)(torch.zeros(2, 2), torch.tensor([0, 1])).shape == (2,)

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jpegdl.jpeg.quantize import (
    HardQuantizer,
    SampledQuantizer,
    SoftQuantizer,
    StraightThroughQuantizer,
    make_quantizer,
)


def test_hard_rounds_half_away_from_zero():
    z = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, -0.49])
    assert HardQuantizer()(z, torch.tensor(1.0)).tolist() == [1, 2, 3, -1, -2, -3, 0, 0]


def test_straight_through_forward_is_hard_and_backward_is_identity():
    z = torch.tensor([3.7, -12.2, 0.4], requires_grad=True)
    q = torch.tensor(2.0, requires_grad=True)
    index = StraightThroughQuantizer()(z, q)
    assert index.tolist() == [2, -6, 0]
    (index * q).sum().backward()
    assert torch.allclose(z.grad, torch.ones(3))
    # d(q * round(z/q))/dq with identity rounding = round(z/q) - z/q, summed.
    expected = (index.detach() - z.detach() / 2).sum()
    assert torch.allclose(q.grad, expected)


@settings(max_examples=50, deadline=None)
@given(
    z=st.floats(-1000, 1000, allow_nan=False),
    q=st.floats(0.1, 255),
    alpha=st.sampled_from([1e-3, 0.1, 1.0, 5.0, 100.0, 1e4, 1e8]),
)
def test_soft_is_finite_with_finite_gradients_for_any_alpha(z, q, alpha):
    zt = torch.tensor([z], requires_grad=True)
    qt = torch.tensor([q], requires_grad=True)
    out = SoftQuantizer(alpha=alpha)(zt, qt) * qt
    out.sum().backward()
    for value in (out, zt.grad, qt.grad):
        assert torch.isfinite(value).all()


def test_soft_reaches_hard_as_alpha_grows():
    z = torch.linspace(-300, 300, 2001) + 0.013  # avoid exact ties
    q = torch.tensor(7.0)
    hard = HardQuantizer()(z, q)
    errors = [(SoftQuantizer(alpha=a)(z, q) - hard).abs().mean().item() for a in (0.01, 0.1, 1.0, 1e4)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-6


def test_soft_matches_closed_form_at_full_window():
    z = torch.tensor([1.3])
    q = torch.tensor(1.0)
    alpha = 0.7
    indices = torch.arange(-1, 4, dtype=torch.float32)  # window of 5 around round(1.3) = 1
    weights = torch.softmax(-alpha * (z - indices) ** 2, dim=0)
    assert torch.allclose(SoftQuantizer(alpha=alpha)(z, q), (weights * indices).sum())


def test_soft_gradient_matches_analytic_formula():
    # dQd/dz = 2 alpha Var_p[r] (JPEG-DL section 2.4).
    z = torch.tensor([2.3], dtype=torch.float64, requires_grad=True)
    q, alpha = torch.tensor(1.5, dtype=torch.float64), 0.8
    quantizer = SoftQuantizer(alpha=alpha)
    (quantizer(z, q) * q).sum().backward()
    indices, probs = quantizer.pmf(z.detach(), q)
    r = indices * q
    variance = (probs * r**2).sum() - (probs * r).sum() ** 2
    assert torch.allclose(z.grad, 2 * alpha * variance)


@pytest.mark.parametrize("window", [3, 4, 5])
@pytest.mark.parametrize("index_range", [None, (-6, 6)])
def test_soft_gradients_match_finite_differences_for_z_q_and_alpha(window, index_range):
    # Coefficients away from half-integer ratios (where the window re-centres), some beyond the
    # index range so the window slides; soft enough that every candidate carries weight.
    generator = torch.Generator().manual_seed(window)
    q = (torch.rand(8, 8, generator=generator, dtype=torch.float64) + 0.8).requires_grad_()
    ratio = torch.randint(-9, 10, (3, 8, 8), generator=generator).double()
    ratio += torch.rand(3, 8, 8, generator=generator, dtype=torch.float64) * 0.6 - 0.3
    z = (ratio * q.detach()).requires_grad_()
    alpha = torch.full((8, 8), 0.6, dtype=torch.float64, requires_grad=True)
    quantizer = SoftQuantizer(alpha=alpha, window=window, index_range=index_range)

    def mean_index(z, q, alpha):
        return SoftQuantizer(alpha=alpha, window=window, index_range=index_range)(z, q)

    assert quantizer(z, q).shape == z.shape
    assert torch.autograd.gradcheck(mean_index, (z, q, alpha), eps=1e-7, atol=1e-5, rtol=1e-4)


def test_index_range_bounds_the_window():
    quantizer = SoftQuantizer(alpha=100.0, window=5, index_range=(-127, 127))
    assert quantizer(torch.tensor([10_000.0]), torch.tensor(1.0)).item() == pytest.approx(127, abs=1e-3)


def test_per_frequency_alpha():
    alpha = torch.full((8, 8), 1e4)
    alpha[0, 0] = 0.5
    z = torch.full((1, 8, 8), 0.3)
    out = SoftQuantizer(alpha=alpha)(z, torch.ones(8, 8))
    assert out[0, 1, 1].item() == pytest.approx(0.0, abs=1e-6)
    scalar = SoftQuantizer(alpha=0.5)(torch.tensor([0.3]), torch.tensor(1.0))
    assert out[0, 0, 0].item() == pytest.approx(scalar.item()) and 0.05 < scalar.item() < 0.3


def test_sampled_draws_integers_with_the_soft_mean():
    z = torch.full((200_000,), 0.3)
    quantizer = SampledQuantizer(alpha=2.0, generator=torch.Generator().manual_seed(0))
    draws = quantizer(z, torch.tensor(1.0))
    assert torch.equal(draws, draws.round())
    soft = SoftQuantizer(alpha=2.0)(z[:1], torch.tensor(1.0))
    assert draws.mean().item() == pytest.approx(soft.item(), abs=0.01)


def test_sampled_is_reproducible_and_differentiable():
    z = torch.randn(1000, requires_grad=True)
    a = SampledQuantizer(generator=torch.Generator().manual_seed(3))(z, torch.tensor(0.5))
    b = SampledQuantizer(generator=torch.Generator().manual_seed(3))(z, torch.tensor(0.5))
    assert torch.equal(a, b)
    a.sum().backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"window": 0}, "window"),
        ({"window": 5, "index_range": (0, 2)}, "index_range"),
    ],
)
def test_bad_soft_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SoftQuantizer(**kwargs)


def test_make_quantizer():
    assert isinstance(make_quantizer("soft", alpha=2.0), SoftQuantizer)
    assert isinstance(make_quantizer("sampled"), SampledQuantizer)
    hard = HardQuantizer()
    assert make_quantizer(hard) is hard
    with pytest.raises(ValueError, match="quantizer"):
        make_quantizer("round")


@pytest.mark.parametrize("index_range", [None, (-3, 3)])
@pytest.mark.parametrize("alpha_shape", [(), (8, 8)])
def test_fused_soft_gradients_equal_autograd_through_the_pmf(index_range, alpha_shape):
    torch.manual_seed(0)
    z = (torch.randn(4, 8, 8, dtype=torch.float64) * 20).requires_grad_()
    q = (torch.rand(8, 8, dtype=torch.float64) * 6 + 0.5).requires_grad_()
    alpha = (torch.rand(alpha_shape, dtype=torch.float64) + 0.2).requires_grad_()
    quantizer = SoftQuantizer(alpha=alpha, index_range=index_range)
    weights = torch.randn(4, 8, 8, dtype=torch.float64)
    fused = torch.autograd.grad((quantizer(z, q) * weights).sum(), (z, q, alpha))
    indices, probs = quantizer.pmf(z, q)
    reference_out = (indices * probs).sum(-1)
    assert torch.allclose(quantizer(z, q), reference_out)
    reference = torch.autograd.grad((reference_out * weights).sum(), (z, q, alpha))
    for mine, theirs in zip(fused, reference, strict=True):
        assert torch.allclose(mine, theirs, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("per_sample", [False, True])
def test_offsets_pruned_per_frequency_keep_the_full_window_result(per_sample):
    # Steps from 0.3 to 30: the +-2 offsets count at the finest frequencies only, so they are
    # computed there alone; outputs and gradients must equal those of the full window's PMF.
    torch.manual_seed(1)
    z = (torch.randn(3, 2, 2, 8, 8, dtype=torch.float64) * 40).requires_grad_()
    steps = torch.logspace(-0.5, 1.5, 64, dtype=torch.float64).view(8, 8)
    q = (steps.expand(3, 1, 1, 8, 8).clone() if per_sample else steps.view(1, 1, 1, 8, 8).clone()).requires_grad_()
    quantizer = SoftQuantizer(alpha=5.0)
    weights = torch.randn(3, 2, 2, 8, 8, dtype=torch.float64)
    fused_out = quantizer(z, q)
    fused = torch.autograd.grad((fused_out * weights).sum(), (z, q))
    indices, probs = quantizer.pmf(z, q)
    reference_out = (indices * probs).sum(-1)
    reference = torch.autograd.grad((reference_out * weights).sum(), (z, q))
    assert torch.allclose(fused_out, reference_out, rtol=1e-12, atol=1e-12)
    for mine, theirs in zip(fused, reference, strict=True):
        assert torch.allclose(mine, theirs, rtol=1e-7, atol=1e-9)

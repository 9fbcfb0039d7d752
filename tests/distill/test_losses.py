from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from jpegdl.distill import (
    correlation_congruence_loss,
    kd_loss,
    power_sum,
    renyi_entropy,
    taylor_rbf_correlation,
    ttm_loss,
    wttm_loss,
)


def logits(batch: int = 16, classes: int = 10, seed: int = 0, scale: float = 3.0) -> torch.Tensor:
    return scale * torch.randn(batch, classes, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def direct_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """sum_k p_k log(p_k / q_k) per sample, from probabilities."""
    return (p * (p.log() - q.log())).sum(-1)


def shannon(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.log()).sum(-1)


def test_kd_matches_the_direct_formula():
    z, v, t = logits(seed=1), logits(seed=2), 4.0
    expected = t**2 * direct_kl(torch.softmax(v / t, -1), torch.softmax(z / t, -1)).mean()
    assert torch.allclose(kd_loss(z, v, t), expected, rtol=1e-12)


def test_ttm_is_kl_from_the_power_transformed_teacher_to_the_plain_student():
    z, v, gamma = logits(seed=1), logits(seed=2), 0.3
    p = torch.softmax(v, -1)
    transformed = p**gamma / (p**gamma).sum(-1, keepdim=True)
    assert torch.allclose(transformed, torch.softmax(gamma * v, -1), rtol=1e-12)  # power = temperature 1/gamma
    assert torch.allclose(ttm_loss(z, v, gamma), direct_kl(transformed, torch.softmax(z, -1)).mean(), rtol=1e-12)


@pytest.mark.parametrize("temperature", [2.0, 4.0, 10.0])
def test_ttm_decomposes_into_kd_and_a_renyi_entropy_term(temperature):
    """TTM paper Eq. 15: D(p_T || q) = T D(p_T || q_T) - (T - 1) H_{1/T}(q) + (T - 1) H(p_T)."""
    z, v, t = logits(seed=3), logits(seed=4), temperature
    p_t, q, q_t = torch.softmax(v / t, -1), torch.softmax(z, -1), torch.softmax(z / t, -1)
    left = direct_kl(p_t, q)
    right = t * direct_kl(p_t, q_t) - (t - 1) * renyi_entropy(z, 1 / t) + (t - 1) * shannon(p_t)
    assert torch.allclose(left, right, atol=1e-10)
    # the same identity through the losses: TTM = KD / T - (T - 1)(mean H_{1/T}(q) - mean H(p_T))
    ttm = ttm_loss(z, v, 1 / t)
    assert torch.allclose(ttm, kd_loss(z, v, t) / t - (t - 1) * (renyi_entropy(z, 1 / t) - shannon(p_t)).mean())


def test_ttm_gradient_is_student_minus_transformed_teacher():
    """TTM paper Eq. 20: dD(p_T || q)/dz = q - softmax(gamma v) (per sample; the loss averages)."""
    z, v, gamma = logits(seed=5).requires_grad_(True), logits(seed=6), 0.25
    ttm_loss(z, v, gamma).backward()
    expected = (torch.softmax(z.detach(), -1) - torch.softmax(gamma * v, -1)) / len(z)
    assert torch.allclose(z.grad, expected, atol=1e-12)


def test_power_sum_is_one_for_a_confident_and_k_to_one_minus_gamma_for_a_uniform_teacher():
    confident = torch.tensor([[1000.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    uniform = torch.zeros(1, 4, dtype=torch.float64)
    assert power_sum(confident, 0.25).item() == pytest.approx(1.0)
    assert power_sum(uniform, 0.25).item() == pytest.approx(4**0.75)
    v, gamma = logits(seed=7), 0.4
    assert torch.allclose(power_sum(v, gamma), (torch.softmax(v, -1) ** gamma).sum(-1), rtol=1e-12)


def test_wttm_weights_each_sample_by_the_teacher_power_sum():
    z, v, gamma = logits(seed=8), logits(seed=9), 0.25
    per_sample = direct_kl(torch.softmax(gamma * v, -1), torch.softmax(z, -1))
    expected = ((torch.softmax(v, -1) ** gamma).sum(-1) * per_sample).mean()
    assert torch.allclose(wttm_loss(z, v, gamma), expected, rtol=1e-12)


def test_the_teacher_receives_no_gradient():
    z, v = logits(seed=1).requires_grad_(True), logits(seed=2).requires_grad_(True)
    (kd_loss(z, v) + ttm_loss(z, v, 0.5) + wttm_loss(z, v, 0.5)).backward()
    assert v.grad is None and torch.isfinite(z.grad).all()


@pytest.mark.parametrize("loss", [kd_loss, lambda z, v: ttm_loss(z, v, 0.2), lambda z, v: wttm_loss(z, v, 0.2)])
def test_losses_stay_finite_on_extreme_logits(loss):
    z = torch.tensor([[1e4, -1e4, 0.0], [-3e4, 2e4, 5.0]], requires_grad=True)
    v = torch.tensor([[-1e4, 1e4, 0.0], [3e4, -2e4, 1.0]])
    value = loss(z, v)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(z.grad).all()


@settings(max_examples=25, deadline=None)
@given(batch=st.integers(1, 8), classes=st.integers(2, 20), gamma=st.floats(0.05, 2.0), seed=st.integers(0, 999))
def test_logit_losses_are_non_negative_and_zero_when_matching(batch, classes, gamma, seed):
    z, v = logits(batch, classes, seed), logits(batch, classes, seed + 1)
    for value in (kd_loss(z, v), ttm_loss(z, v, gamma), wttm_loss(z, v, gamma)):
        assert value.item() >= -1e-12 and math.isfinite(value.item())
    assert kd_loss(v, v).item() == pytest.approx(0, abs=1e-12)
    assert ttm_loss(gamma * v, v, gamma).item() == pytest.approx(0, abs=1e-12)


def test_taylor_kernel_approaches_the_gaussian_rbf_on_unit_features():
    f = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    unit = torch.nn.functional.normalize(f, dim=-1)
    exact = torch.exp(-0.4 * torch.cdist(unit, unit).square())
    assert torch.allclose(taylor_rbf_correlation(f, 0.4, order=20), exact, atol=1e-10)
    order2 = taylor_rbf_correlation(f, 0.4, order=2)
    assert torch.allclose(order2, order2.T) and (order2 - exact).abs().max() < 0.05


def test_congruence_ignores_feature_scale_and_width_and_sees_geometry():
    torch.manual_seed(0)
    teacher = torch.randn(8, 64)
    assert correlation_congruence_loss(3 * teacher, teacher).item() == pytest.approx(0, abs=1e-12)
    narrow = torch.randn(8, 16, requires_grad=True)
    loss = correlation_congruence_loss(narrow, teacher)
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(narrow.grad).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: kd_loss(torch.zeros(2, 3), torch.zeros(2, 4)), "logits: expected student and teacher"),
        (lambda: kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), 0.0), "temperature"),
        (lambda: ttm_loss(torch.zeros(2, 3), torch.zeros(2, 3), 0.0), "gamma: expected a finite value > 0"),
        (lambda: wttm_loss(torch.zeros(2, 3), torch.zeros(2, 3), -1.0), "gamma"),
        (lambda: renyi_entropy(torch.zeros(2, 3), 1.0), "order"),
        (lambda: correlation_congruence_loss(torch.zeros(2, 3), torch.zeros(3, 3)), "features"),
        (lambda: taylor_rbf_correlation(torch.zeros(2, 3), 0.4, -1), "order"),
    ],
)
def test_bad_arguments_give_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0, 6.0, 10.0])
def test_ttm_and_wttm_defaults_step_like_kd(scale):
    """The default objectives' gradients on the student's logits are within 2x of KD's (same lr)."""
    import torch.nn.functional as F

    from jpegdl.distill import DistillSettings

    generator = torch.Generator().manual_seed(0)
    student = (scale * torch.randn(256, 10, generator=generator)).requires_grad_()
    teacher = 1.5 * scale * torch.randn(256, 10, generator=generator)
    labels = teacher.argmax(1)

    def gradient_norm(method: str) -> float:
        settings = DistillSettings(method)
        gamma = settings.gamma_value  # the default
        power = float(power_sum(teacher, gamma).mean())
        term = {"kd": lambda: kd_loss(student, teacher, 4.0), "ttm": lambda: ttm_loss(student, teacher, gamma),
                "wttm": lambda: wttm_loss(student, teacher, gamma)}[method]()  # fmt: skip
        loss = settings.ce_weight() * F.cross_entropy(student, labels) + settings.logit_beta(power) * term
        (grad,) = torch.autograd.grad(loss, student)
        return grad.norm().item()

    kd = gradient_norm("kd")
    for method in ("ttm", "wttm"):
        assert 1 / 2 <= gradient_norm(method) / kd <= 2, method

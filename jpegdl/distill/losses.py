"""Distillation losses as pure tensor functions, all in log-softmax space.

Shapes: logits are ``(B, K)`` float (student ``z``, teacher ``v``); features are ``(B, D)``.
Every KL divergence is summed over classes and averaged over the batch ("batchmean"). Teacher
tensors are treated as constants (detached).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_pair(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.dim() != 2 or student.shape != teacher.shape:
        raise ValueError(
            f"logits: expected student and teacher (B, K) of equal shape, got {tuple(student.shape)} and"
            f" {tuple(teacher.shape)}"
        )


def _check_positive(value: float, name: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a finite value > 0, got {value!r}")


def kl_from_log_probs(target_log_probs: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """Per-sample ``D(p || q) = sum_k p_k (log p_k - log q_k)`` from log-probabilities; ``(B,)``."""
    return (target_log_probs.exp() * (target_log_probs - log_probs)).sum(-1)


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """Hinton's term ``T^2 * D(softmax(v/T) || softmax(z/T))`` (scalar; RepDistiller's ``DistillKL``)."""
    _check_pair(student, teacher)
    _check_positive(temperature, "temperature")
    target = F.log_softmax(teacher.detach() / temperature, dim=-1)
    return temperature**2 * kl_from_log_probs(target, F.log_softmax(student / temperature, dim=-1)).mean()


def transformed_teacher(teacher: torch.Tensor, gamma: float) -> torch.Tensor:
    """Log of the power-transformed teacher ``p^gamma / sum p^gamma = softmax(gamma * v)``; ``(B, K)``."""
    _check_positive(gamma, "gamma")
    return F.log_softmax(gamma * teacher.detach(), dim=-1)


def power_sum(teacher: torch.Tensor, gamma: float) -> torch.Tensor:
    """WTTM's sample weight ``U_gamma(p) = sum_k softmax(v)_k^gamma``, ``(B,)``, in [1, K^(1-gamma)].

    Computed as ``exp(LSE(gamma v) - gamma LSE(v))``, which never forms small powers of tiny
    probabilities.
    """
    _check_positive(gamma, "gamma")
    v = teacher.detach()
    return torch.exp(torch.logsumexp(gamma * v, -1) - gamma * torch.logsumexp(v, -1))


def ttm_loss(student: torch.Tensor, teacher: torch.Tensor, gamma: float) -> torch.Tensor:
    """Transformed teacher matching: ``D(softmax(gamma v) || softmax(z))`` (scalar; student at T = 1)."""
    _check_pair(student, teacher)
    return kl_from_log_probs(transformed_teacher(teacher, gamma), F.log_softmax(student, dim=-1)).mean()


def wttm_loss(student: torch.Tensor, teacher: torch.Tensor, gamma: float) -> torch.Tensor:
    """Weighted TTM: ``mean_b U_gamma(p_b) * D(softmax(gamma v_b) || softmax(z_b))`` (scalar)."""
    _check_pair(student, teacher)
    per_sample = kl_from_log_probs(transformed_teacher(teacher, gamma), F.log_softmax(student, dim=-1))
    return (power_sum(teacher, gamma) * per_sample).mean()


def renyi_entropy(logits: torch.Tensor, order: float) -> torch.Tensor:
    """Renyi entropy ``H_a(softmax(logits)) = log(sum p^a) / (1 - a)`` per sample, ``(B,)``; ``a != 1``."""
    _check_positive(order, "order")
    if order == 1:
        raise ValueError("order: the Renyi entropy of order 1 is the Shannon entropy; use order != 1")
    log_p = F.log_softmax(logits, dim=-1)
    return torch.logsumexp(order * log_p, -1) / (1 - order)


def taylor_rbf_correlation(features: torch.Tensor, gamma: float = 0.4, order: int = 2) -> torch.Tensor:
    """CCKD's correlation matrix ``(B, B)``: the order-P Taylor series of the Gaussian RBF kernel
    ``exp(-gamma ||f_i - f_j||^2)`` on L2-normalised rows,
    ``sum_{p=0..P} exp(-2 gamma) (2 gamma)^p / p! * (f_i . f_j)^p``."""
    _check_positive(gamma, "gamma")
    if not isinstance(order, int) or order < 0:
        raise ValueError(f"order: expected an integer >= 0, got {order!r}")
    if features.dim() != 2:
        raise ValueError(f"features: expected (B, D), got shape {tuple(features.shape)}")
    unit = F.normalize(features, dim=-1)
    similarity = unit @ unit.T
    kernel = torch.zeros_like(similarity)
    for p in range(order + 1):
        kernel = kernel + math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p) * similarity**p
    return kernel


def correlation_congruence_loss(
    student_features: torch.Tensor, teacher_features: torch.Tensor, gamma: float = 0.4, order: int = 2
) -> torch.Tensor:
    """CCKD's ``(1 / B^2) ||C_s - C_t||_F^2`` between the two correlation matrices (scalar).

    The features may differ in dimension (each side's correlation is ``(B, B)``); they must
    come from the same ``B`` images in the same order.
    """
    if student_features.shape[0] != teacher_features.shape[0]:
        raise ValueError(
            f"features: expected the same batch for student and teacher, got {student_features.shape[0]}"
            f" and {teacher_features.shape[0]}"
        )
    student_corr = taylor_rbf_correlation(student_features, gamma, order)
    teacher_corr = taylor_rbf_correlation(teacher_features.detach(), gamma, order)
    return (student_corr - teacher_corr).square().mean()

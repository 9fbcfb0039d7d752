"""Quantizers: map DCT coefficients and steps to (possibly soft) quantization indices.

Every quantizer is a callable ``quantizer(coefficients, steps) -> indices`` where
``coefficients`` is ``(..., 8, 8)`` and ``steps`` broadcasts against it (positive).
The reconstruction is ``indices * steps``. Indices are float tensors; the hard and
straight-through quantizers return integer values, the soft one the conditional
mean index, the sampled one an integer drawn from the soft quantizer's PMF.

- ``hard``: ``sign(z) * floor(|z| / q + 1/2)`` (libjpeg's rule); no gradient.
- ``ste``: hard forward, identity gradient with respect to ``z / q``.
- ``soft``: JPEG-DL's conditional PMF ``P(i | z) ~ exp(-alpha (z - i q)^2)`` over a
  window of K indices around ``round(z / q)``; returns ``sum_i i P(i | z)``.
- ``sampled``: draws ``i ~ P(i | z)``; gradient of the soft quantizer (straight-through).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jpegdl.jpeg.ste import round_half_away, straight_through

QUANTIZERS = ("hard", "ste", "soft", "sampled")


@dataclass(frozen=True)
class HardQuantizer:
    """Round half away from zero, as libjpeg does. Gradients are zero almost everywhere."""

    def __call__(self, coefficients: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        return round_half_away((coefficients / steps).detach())


def _reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a broadcast gradient back to ``shape``."""
    if grad.shape == shape:
        return grad
    leading = grad.dim() - len(shape)
    dims = tuple(range(leading)) + tuple(
        i + leading for i, n in enumerate(shape) if n == 1 and grad.shape[i + leading] != 1
    )
    return grad.sum(dim=dims, keepdim=True).reshape(shape)


class _RoundRatio(torch.autograd.Function):
    """``round_half_away(z / q)`` with the gradient of ``z / q`` (one fused forward and backward)."""

    @staticmethod
    def forward(ctx, coefficients: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(coefficients, steps)
        ratio = coefficients / steps
        return ratio.abs().add_(0.5).floor_().mul_(torch.sign(ratio))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        coefficients, steps = ctx.saved_tensors
        grad_coefficients = grad / steps if ctx.needs_input_grad[0] else None
        grad_steps = None
        if ctx.needs_input_grad[1]:
            grad_steps = -_reduce_to(grad * coefficients, steps.shape) / steps.square()
        return grad_coefficients, grad_steps


@dataclass(frozen=True)
class StraightThroughQuantizer:
    """Hard rounding forward; backward treats rounding as the identity on ``z / q``.

    So ``d(index)/dz = 1/q`` and ``d(index * q)/dq = index - z/q`` (LSQ's step gradient).
    """

    def __call__(self, coefficients: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() or not (coefficients.requires_grad or steps.requires_grad):
            return round_half_away(coefficients / steps)
        return _RoundRatio.apply(coefficients, steps.expand(steps.shape))


@dataclass(frozen=True)
class SoftQuantizer:
    """JPEG-DL's soft quantizer (conditional mean over a window of indices).

    Attributes:
        alpha: hardness ``alpha > 0`` on the coefficient scale (``alpha * q^2`` is the
            dimensionless hardness); a float or a tensor broadcasting to ``(..., 8, 8)``.
            As ``alpha`` grows the output tends to the hard quantizer's.
        window: number K of candidate indices centred on ``round(z / q)`` (odd, >= 1).
        index_range: optional inclusive ``(low, high)`` bound on indices; the window
            slides to stay inside it (JPEG-DL's reference code uses ``(-127, 127)``).
    """

    alpha: float | torch.Tensor = 5.0
    window: int = 5
    index_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.window, int) or self.window < 1:
            raise ValueError(f"window: expected an integer >= 1, got {self.window!r}")
        alpha = torch.as_tensor(self.alpha)
        if not torch.isfinite(alpha).all() or (alpha <= 0).any():
            raise ValueError(f"alpha: expected finite values > 0, got {self.alpha!r}")
        if self.index_range is not None:
            low, high = self.index_range
            if high - low + 1 < self.window:
                raise ValueError(f"index_range: {self.index_range} holds fewer than window={self.window} indices")

    def pmf(self, coefficients: torch.Tensor, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidate indices and their probabilities.

        Returns:
            ``(indices, probs)``, both ``(..., 8, 8, K)``: float integer-valued indices
            (no gradient) and probabilities summing to 1 over the last dimension.
        """
        compute_dtype = torch.promote_types(coefficients.dtype, torch.float32)
        z = coefficients.to(compute_dtype)
        q = steps.to(compute_dtype)
        centre = round_half_away((z / q).detach())
        start = centre - (self.window // 2)
        if self.index_range is not None:
            start = start.clamp(self.index_range[0], self.index_range[1] - self.window + 1)
        offsets = torch.arange(self.window, dtype=compute_dtype, device=z.device)
        indices = start.unsqueeze(-1) + offsets
        alpha = torch.as_tensor(self.alpha, dtype=compute_dtype, device=z.device)
        if alpha.dim() > 0:
            alpha = alpha.unsqueeze(-1)
        distance = (z.unsqueeze(-1) - indices * q.unsqueeze(-1)) ** 2
        probs = torch.softmax(-alpha * distance, dim=-1)
        return indices, probs

    def __call__(self, coefficients: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        compute_dtype = torch.promote_types(coefficients.dtype, torch.float32)
        alpha = torch.as_tensor(self.alpha, dtype=compute_dtype, device=coefficients.device)
        low, high = self.index_range if self.index_range is not None else (None, None)
        z, q = coefficients.to(compute_dtype), steps.to(compute_dtype)
        out = _SoftIndex.apply(z, q.expand(q.shape), alpha, self.window, low, high)
        return out.to(coefficients.dtype)


def _offsets_that_count(window: int, neg_hardness: torch.Tensor, middle: torch.Tensor | None,
                        z: torch.Tensor) -> list[tuple[int, torch.Tensor | None]]:  # fmt: skip
    """The window's offsets ``k``, each with the frequencies where it counts (``None``: all).

    An offset is left out where its weight is below ``exp(-80)`` for every coefficient (the clamp
    the forward pass applies anyway). Relative to the nearest candidate, offset ``k`` has logit
    ``-h (|k| - |u|)^2 + h u^2 <= -h |k| (|k| - 1)`` for ``|u| <= 1/2``: offsets 0 and +-1 always
    count, +-2 only while ``2 h <= 80``. Hardness ``h = alpha q^2`` differs per frequency (fine
    low-frequency steps keep +-2 alive, coarse ones do not), so each offset gets an ``(8, 8)``
    mask of the frequencies where it counts, or ``None`` where it counts at all of them. Checked
    on CPU only (on a GPU the checks would stall the stream) and only when no window slides at
    the index range.
    """
    half = window // 2
    offsets = list(range(-half, window - half))
    if z.device.type != "cpu" or (middle is not None and bool(middle.any())):
        return [(k, None) for k in offsets]
    hardness = neg_hardness.neg()
    per_frequency = z.dim() >= 2 and z.shape[-2:] == (8, 8) and hardness.shape[-2:] == (8, 8)
    hardness = hardness.reshape(-1, 8, 8).amin(0) if per_frequency else hardness.min()
    plan = []
    for k in offsets:
        counts = hardness * abs(k) * (abs(k) - 1) <= 80.0
        if bool(counts.all()):
            plan.append((k, None))
        elif per_frequency and bool(counts.any()) and int(counts.sum()) <= 32:
            plan.append((k, counts))
        elif bool(counts.any()):
            plan.append((k, None))
    return plan


def _add_offset(sums: list[torch.Tensor], k: int, offset_u: torch.Tensor, nearest_distance: torch.Tensor,
                neg_hardness: torch.Tensor, want_alpha: bool) -> None:  # fmt: skip
    """Accumulate offset ``k``'s weight into ``sums`` in place: ``sum w k^p`` (p = 0..3) and, with
    ``want_alpha``, ``sum w d`` and ``sum w k d`` (``d``: squared distance on the index scale)."""
    squared = (offset_u - k).square_()
    # Logits relative to the nearest candidate are <= 0; clamping at -80 changes no
    # probability above 1e-34 and keeps exp off its slow subnormal path.
    weight = (squared - nearest_distance).mul_(neg_hardness).clamp_(min=-80.0).exp_()
    for power, total in enumerate(sums[:4]):  # sum of weight * k^power
        if k or not power:
            total.add_(weight, alpha=k**power)
    if want_alpha:
        weighted = squared.mul_(weight)
        sums[4].add_(weighted)
        sums[5].add_(weighted, alpha=k)


class _SoftIndex(torch.autograd.Function):
    """The soft quantizer's mean index with analytic gradients (JPEG-DL section 2.4).

    With ``c = round(z/q)``, ``u = z/q - c`` and window offsets ``j = i - c``:
    ``P(j) ~ exp(-alpha q^2 (u - j)^2)``, mean index ``c + E[j]``, and

        d/dz     = 2 alpha q Var[j]
        d/dq     = 2 alpha ((z - 2 c q) Var[j] - q Cov[j, j^2])
        d/dalpha = -Cov[j, (z - i q)^2]

    The forward pass runs over the K offsets one at a time and accumulates the moments the
    gradients need, so nothing of size K x coefficients is kept and the backward pass is a few
    elementwise products. Moments are taken of small offsets ``k = j - m`` around the window's
    middle ``m`` (0 unless the window slides at the index range), so the variances do not lose
    precision to large indices.
    """

    @staticmethod
    def forward(ctx, z, q, alpha, window, low, high):
        ratio = z / q
        centre = round_half_away(ratio)
        u = ratio - centre  # in [-1/2, 1/2]
        half = window // 2
        if low is None:  # the window is centred: its middle is the nearest index
            middle, offset_u, nearest_distance = None, u, u.square()
        else:  # slide the window to stay within [low, high]
            middle = (centre - half).clamp(low, high - window + 1) + half - centre
            nearest = middle.clamp(half + 1 - window, half).neg_().add_(middle)  # the window offset closest to u
            offset_u, nearest_distance = u - middle, (u - nearest).square()
        neg_hardness = (q.square() * alpha).neg_()
        want_alpha = ctx.needs_input_grad[2]
        sums = [torch.zeros_like(u) for _ in range(6 if want_alpha else 4)]
        for k, frequencies in _offsets_that_count(window, neg_hardness, middle, z):
            if frequencies is None:
                _add_offset(sums, k, offset_u, nearest_distance, neg_hardness, want_alpha)
            else:  # only where this offset's weight can exceed exp(-80): gather, add, scatter back
                part = [total[..., frequencies] for total in sums]
                _add_offset(part, k, offset_u[..., frequencies], nearest_distance[..., frequencies],
                            neg_hardness[..., frequencies] if neg_hardness.shape[-2:] == (8, 8) else neg_hardness,
                            want_alpha)  # fmt: skip
                for total, values in zip(sums, part, strict=True):
                    total[..., frequencies] = values
        norm = sums[0]
        m1, m2, m3 = (total.div_(norm) for total in sums[1:4])
        variance = m2 - m1.square()
        cov_k_k2 = m3 - m1 * m2
        mean_offset = m1 if middle is None else m1 + middle
        # Cov[j, j^2] with j = m + k: Cov[k, k^2] + 2 m Var[k].
        cov_j_j2 = cov_k_k2 if middle is None else cov_k_k2 + 2 * middle * variance
        cov_j_d = None
        if want_alpha:  # Cov[j, (z - i q)^2] = q^2 Cov[k, (u_k)^2]
            mean_d, mean_kd = (total.div_(norm) for total in sums[4:6])
            cov_j_d = (mean_kd - m1 * mean_d) * q.square()
        ctx.save_for_backward(z, q, alpha, centre, variance, cov_j_j2, cov_j_d)
        return centre + mean_offset

    @staticmethod
    def backward(ctx, grad):
        z, q, alpha, centre, variance, cov_j_j2, cov_j_d = ctx.saved_tensors
        grad_z = grad_q = grad_alpha = None
        scaled = grad * (2 * alpha) * variance
        if ctx.needs_input_grad[0]:
            grad_z = scaled * q
        if ctx.needs_input_grad[1]:
            grad_q = _reduce_to(scaled * (z - 2 * centre * q) - grad * (2 * alpha) * q * cov_j_j2, q.shape)
        if ctx.needs_input_grad[2]:
            grad_alpha = _reduce_to(-grad * cov_j_d, alpha.shape)
        return grad_z, grad_q, grad_alpha, None, None, None


@dataclass(frozen=True)
class SampledQuantizer(SoftQuantizer):
    """Draw each index from the soft quantizer's PMF (J4D's probabilistic quantizer).

    Forward values are integers; the gradient is the soft quantizer's. Pass a
    ``torch.Generator`` for reproducible draws.
    """

    generator: torch.Generator | None = None

    def __call__(self, coefficients: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        indices, probs = self.pmf(coefficients, steps)
        soft = (indices * probs).sum(-1)
        device = self.generator.device if self.generator is not None else probs.device
        uniform = torch.rand(probs.shape[:-1], generator=self.generator, dtype=probs.dtype, device=device)
        uniform = uniform.to(probs.device)
        cumulative = probs.detach().cumsum(-1)
        choice = (cumulative < uniform.unsqueeze(-1)).sum(-1, keepdim=True).clamp(max=self.window - 1)
        drawn = indices.gather(-1, choice).squeeze(-1)
        return straight_through(soft, drawn).to(coefficients.dtype)


Quantizer = HardQuantizer | StraightThroughQuantizer | SoftQuantizer | SampledQuantizer


def make_quantizer(spec: str | Quantizer, **options: object) -> Quantizer:
    """Build a quantizer from a name in :data:`QUANTIZERS` (with options) or pass one through."""
    if isinstance(spec, (HardQuantizer, StraightThroughQuantizer, SoftQuantizer)):
        if options:
            raise ValueError("quantizer: options are only accepted together with a quantizer name")
        return spec
    if spec == "hard":
        return HardQuantizer(**options)
    if spec == "ste":
        return StraightThroughQuantizer(**options)
    if spec == "soft":
        return SoftQuantizer(**options)
    if spec == "sampled":
        return SampledQuantizer(**options)
    raise ValueError(f"quantizer: expected one of {QUANTIZERS} or a quantizer object, got {spec!r}")

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


@dataclass(frozen=True)
class StraightThroughQuantizer:
    """Hard rounding forward; backward treats rounding as the identity on ``z / q``.

    So ``d(index)/dz = 1/q`` and ``d(index * q)/dq = index - z/q`` (LSQ's step gradient).
    """

    def __call__(self, coefficients: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        ratio = coefficients / steps
        return straight_through(ratio, round_half_away(ratio.detach()))


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
        indices, probs = self.pmf(coefficients, steps)
        return (indices * probs).sum(-1).to(coefficients.dtype)


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

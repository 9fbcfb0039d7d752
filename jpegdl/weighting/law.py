"""LAW's weighting of examples (official code's ``add_weight`` option, label-noise features).

Per example i of a batch, two features (``d = 2``):

- the batch-normalised cross-entropy ``(l_i - mean l) / (std l + 1e-5)``;
- the prediction entropy ``(e_i - mean e) / (std l + 1e-5)`` (the official code divides by the
  *loss's* std here too; kept).

An action ``a = (w_1, w_2, b)`` gives ``weight_i = 1 + tanh(f_i . w + b)``, in (0, 2); ``a = 0``
gives exactly 1 (uniform). The action is fixed within each of ``num_stages`` equal stages of the
run; the first ``warmup_stages`` train unweighted. The state the policy sees at a stage's start is
``(stage index, EMA of the batch loss, EMA of the mean weight, learning rate)`` with EMA factor 0.8.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from jpegdl.utils import DistContext, all_reduce_sum
from jpegdl.weighting.base import ExampleWeighting

NUM_FEATURES = 2
ACTION_DIM = NUM_FEATURES + 1
STATE_DIM = 4  # stage index (embedded by the agent), loss EMA, mean-weight EMA, lr
EMA_FACTOR = 0.8


def example_features(losses: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """LAW's per-example features ``(B, 2)`` float32 from losses ``(B,)`` and logits ``(B, K)``."""
    losses = losses.detach().float()
    probabilities = logits.detach().float().softmax(-1)
    entropy = -(probabilities * probabilities.clamp_min(1e-12).log()).sum(-1)
    scale = (losses.std(unbiased=False) if losses.numel() > 1 else losses.new_zeros(())) + 1e-5
    return torch.stack([(losses - losses.mean()) / scale, (entropy - entropy.mean()) / scale], dim=1)


def additive_tanh_weights(features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """``1 + tanh(features @ action[:-1] + action[-1])``: weights ``(B,)`` in [0, 2].

    Args:
        features: ``(B, d)`` float.
        action: ``(d + 1,)`` float, finite.
    """
    if action.shape != (features.shape[1] + 1,):
        raise ValueError(f"action: expected shape ({features.shape[1] + 1},), got {tuple(action.shape)}")
    if not torch.isfinite(action).all():
        raise ValueError("action: expected finite values")
    action = action.to(features)
    return 1 + torch.tanh(features @ action[:-1] + action[-1])


class LawWeighting(ExampleWeighting):
    """LAW's stage-wise weighting. At each stage's first step ``policy(state)`` (``state``: float
    ``(4,)``, see the module doc) gives the stage's action ``(3,)``; ``policy=None`` keeps
    :attr:`action` as set from outside (the search does that).

    Args:
        num_stages: stages per run (>= 1).
        warmup_stages: first stages with uniform weights and no action.
        policy: the deterministic policy of a finished search (e.g. a :class:`~jpegdl.weighting.agent.Actor`'s
            ``act``), or ``None``.
        context: under DDP, the loss and weight EMAs average over every process's batch, so all
            processes see the same state and take the same action.
    """

    def __init__(self, num_stages: int, warmup_stages: int = 0,
                 policy: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 context: DistContext | None = None) -> None:  # fmt: skip
        super().__init__()
        self.context = context
        if num_stages < 1 or not 0 <= warmup_stages < num_stages:
            raise ValueError(f"num_stages, warmup_stages: expected 0 <= warmup < stages, got {num_stages},"
                             f" {warmup_stages}")  # fmt: skip
        self.num_stages, self.warmup_stages, self.policy = num_stages, warmup_stages, policy
        self.register_buffer("action", torch.zeros(ACTION_DIM))
        self.register_buffer("loss_ema", torch.zeros(()))
        self.register_buffer("weight_ema", torch.ones(()))
        self.register_buffer("stage", torch.tensor(-1))
        self.lr = 0.0

    def stage_of(self, step: int) -> int:
        """The stage of ``step`` (0-based) in a run of :attr:`total_steps`."""
        return min(self.num_stages - 1, step * self.num_stages // self.total_steps)

    def state(self, stage: int | None = None) -> torch.Tensor:
        """The policy's observation: float32 ``(4,)``."""
        stage = int(self.stage) if stage is None else stage
        return torch.tensor([stage, float(self.loss_ema), float(self.weight_ema), self.lr], dtype=torch.float32)

    def weights(self, losses: torch.Tensor, logits: torch.Tensor, step: int, lr: float) -> torch.Tensor:
        self.lr = lr
        stage = self.stage_of(step)
        if stage != int(self.stage):
            self.stage.fill_(stage)
            if self.policy is not None and stage >= self.warmup_stages:
                self.action.copy_(self.policy(self.state()).detach().reshape(ACTION_DIM))
        if stage < self.warmup_stages:
            weights = torch.ones_like(losses, dtype=torch.float32)
        else:
            weights = additive_tanh_weights(example_features(losses, logits), self.action)
        if self.context is not None and self.context.enabled:
            sums = torch.stack([losses.detach().float().sum(), weights.sum(), weights.new_tensor(float(len(weights)))])
            loss_sum, weight_sum, count = all_reduce_sum(sums, self.context).tolist()
            self._observe(loss_sum / count, weight_sum / count, step)
        else:
            self._observe(float(losses.detach().mean()), float(weights.mean()), step)
        return weights

    def _observe(self, batch_loss: float, mean_weight: float, step: int) -> None:
        if step == 0:
            self.loss_ema.fill_(batch_loss)
            self.weight_ema.fill_(mean_weight)
        else:
            self.loss_ema.mul_(EMA_FACTOR).add_((1 - EMA_FACTOR) * batch_loss)
            self.weight_ema.mul_(EMA_FACTOR).add_((1 - EMA_FACTOR) * mean_weight)

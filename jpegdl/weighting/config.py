"""``WeightingConfig``: how a training run weights its examples (the ``--weighting`` flag group)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from jpegdl.utils import option

WEIGHTING_METHODS = ("uniform", "small-loss", "law")


@dataclass
class WeightingConfig:
    """Per-example loss weights: uniform, the small-loss baseline, or a LAW policy (searched or loaded)."""

    method: str = option("uniform", "per-example loss weighting", flag="--weighting", choices=WEIGHTING_METHODS)
    small_loss_drop: float = option(0.2, "small-loss: share of each batch's largest losses given weight 0, in [0, 1)",
                                    metavar="P")  # fmt: skip
    small_loss_ramp: float = option(0.25, "small-loss: share of training over which the dropped share rises from 0",
                                    metavar="F")  # fmt: skip
    policy: str | None = option(None, "LAW: a saved policy.pt to use instead of searching", flag="--weighting-policy",
                                metavar="FILE")  # fmt: skip
    law_episodes: int = option(10, "LAW: policy-search episodes (each a shortened run + a reference copy)",
                               metavar="N")  # fmt: skip
    law_stages: int = option(10, "LAW: stages per run (the action is fixed within a stage)", metavar="S")
    law_warmup_stages: int = option(2, "LAW: first stages trained without weighting or RL", metavar="S")
    law_epochs: int = option(2, "LAW: epochs of each search episode", metavar="E")
    law_val_size: int = option(1000, "LAW: clean validation images carved from the training set (the reward)",
                               metavar="N")  # fmt: skip
    law_actor_lr: float = option(1e-5, "LAW: actor Adam learning rate (the official code's 1e-5 assumes"
                                 " hundreds of episodes)", metavar="LR")  # fmt: skip

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> WeightingConfig:
        """Raise ``ValueError`` naming the first bad field; return ``self``."""
        if self.method not in WEIGHTING_METHODS:
            raise ValueError(f"weighting: expected one of {WEIGHTING_METHODS}, got {self.method!r}")
        if not 0 <= self.small_loss_drop < 1:
            raise ValueError(f"small_loss_drop: expected a share in [0, 1), got {self.small_loss_drop!r}")
        if not 0 <= self.small_loss_ramp <= 1:
            raise ValueError(f"small_loss_ramp: expected a share in [0, 1], got {self.small_loss_ramp!r}")
        for name in ("law_episodes", "law_stages", "law_epochs", "law_val_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        if not isinstance(self.law_warmup_stages, int) or not 0 <= self.law_warmup_stages < self.law_stages:
            raise ValueError(f"law_warmup_stages: expected an integer in [0, law_stages={self.law_stages}), got"
                             f" {self.law_warmup_stages!r}")  # fmt: skip
        if not (math.isfinite(self.law_actor_lr) and self.law_actor_lr > 0):
            raise ValueError(f"law_actor_lr: expected a finite value > 0, got {self.law_actor_lr!r}")
        if self.policy is not None and self.method != "law":
            raise ValueError(f"policy: a LAW policy file needs --weighting law, got --weighting {self.method}")
        return self

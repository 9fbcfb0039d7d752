"""LAW's Duplicate Network Reward (DNR) and its time weighting (official code: ``reward_wk = 5``,
``reward_scale = 2``)."""

from __future__ import annotations

import math


def time_weight(stage: int, num_stages: int, sharpness: float = 5.0, scale: float = 2.0) -> float:
    """``scale * exp(sharpness * progress) / exp(sharpness)`` with ``progress = (stage + 1) / num_stages``
    (the code's ``epoch / E`` at the stage's end): later stages count more, the last ``scale`` times."""
    if not 0 <= stage < num_stages:
        raise ValueError(f"stage: expected 0 <= stage < {num_stages}, got {stage}")
    return scale * math.exp(sharpness * ((stage + 1) / num_stages - 1))


def duplicate_network_reward(target_accuracy: float, reference_accuracy: float, stage: int, num_stages: int) -> float:
    """``(acc_target - acc_reference) / 10 * time_weight``, accuracies in percent (0..100) on the clean
    validation split. The reference is the same initialisation trained on the same batches without
    weighting, so the reward is exactly 0 when the policy weights uniformly."""
    for name, value in (("target_accuracy", target_accuracy), ("reference_accuracy", reference_accuracy)):
        if not 0 <= value <= 100:
            raise ValueError(f"{name}: expected a percentage in [0, 100], got {value!r}")
    return (target_accuracy - reference_accuracy) / 10 * time_weight(stage, num_stages)

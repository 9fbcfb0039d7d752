"""Per-example loss weighting for training on noisy labels: uniform, a small-loss baseline, and LAW
(learned weighting policies searched by reinforcement learning; see docs/law.md)."""

from jpegdl.weighting.analysis import moving_average, separation_auc
from jpegdl.weighting.base import ExampleWeighting, SmallLossWeighting, UniformWeighting, weighted_mean
from jpegdl.weighting.config import WEIGHTING_METHODS, WeightingConfig
from jpegdl.weighting.law import LawWeighting, additive_tanh_weights, example_features
from jpegdl.weighting.loop import LoopSettings, train_weighted
from jpegdl.weighting.reward import duplicate_network_reward, time_weight
from jpegdl.weighting.search import SearchSettings, load_policy, policy_weighting, save_policy, search_policy

__all__ = [
    "WEIGHTING_METHODS",
    "ExampleWeighting",
    "LawWeighting",
    "LoopSettings",
    "SearchSettings",
    "SmallLossWeighting",
    "UniformWeighting",
    "WeightingConfig",
    "additive_tanh_weights",
    "duplicate_network_reward",
    "example_features",
    "load_policy",
    "moving_average",
    "policy_weighting",
    "save_policy",
    "search_policy",
    "separation_auc",
    "time_weight",
    "train_weighted",
    "weighted_mean",
]

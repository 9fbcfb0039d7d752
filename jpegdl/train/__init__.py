"""Training: the loop (DDP, AMP, exact resume, logs). Configs and run folders live in ``jpegdl.runs``."""

from jpegdl.runs import PRESETS, JPEGConfig, TrainConfig, build_model, load_classifier
from jpegdl.train.trainer import Trainer

__all__ = ["PRESETS", "JPEGConfig", "TrainConfig", "Trainer", "build_model", "load_classifier"]

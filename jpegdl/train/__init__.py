"""Training: configuration, the loop, checkpoints and DDP."""

from jpegdl.train.config import PRESETS, TrainConfig
from jpegdl.train.load import load_classifier
from jpegdl.train.trainer import Trainer, build_model

__all__ = ["PRESETS", "TrainConfig", "Trainer", "build_model", "load_classifier"]

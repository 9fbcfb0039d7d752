"""Run folders: a training run's config, checkpoints, summary and anchors, and loading its model.

Everything here loads with ``torch.load(weights_only=True)``: a checkpoint that would need to run
code is refused with a one-line error.
"""

from jpegdl.checkpoints import load_checkpoint, save_checkpoint
from jpegdl.runs.config import PRESETS, JPEGConfig, TrainConfig
from jpegdl.runs.folder import RunFolder
from jpegdl.runs.model import build_model, inner_classifier, jpeg_layer, load_classifier, load_route
from jpegdl.runs.tables import run_tables

__all__ = [
    "PRESETS",
    "JPEGConfig",
    "RunFolder",
    "TrainConfig",
    "build_model",
    "inner_classifier",
    "jpeg_layer",
    "load_checkpoint",
    "load_classifier",
    "load_route",
    "run_tables",
    "save_checkpoint",
]

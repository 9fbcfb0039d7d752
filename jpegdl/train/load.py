"""Load a trained classifier from a ``jpegdl train`` run folder or checkpoint, ready to evaluate."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from jpegdl.data import create_dataset
from jpegdl.data.registry import known_info
from jpegdl.train.checkpoint import load_checkpoint
from jpegdl.train.config import TrainConfig
from jpegdl.train.trainer import CHECKPOINT, build_model


def load_classifier(path: str | Path, strip_jpeg: bool = True) -> tuple[nn.Module, TrainConfig]:
    """The model of a run, in eval mode, taking images in [0, 1] (normalisation inside).

    Args:
        path: a run folder (holding ``last.pt``) or a checkpoint file.
        strip_jpeg: for a JPEG-DL run, drop its JPEG layer and keep normalisation + classifier
            (what J4D compresses for); ``False`` keeps the layer.

    Raises:
        ValueError: no checkpoint at ``path``, or one that is not a ``jpegdl train`` checkpoint.
    """
    path = Path(path)
    file = path / CHECKPOINT if path.is_dir() else path
    if not file.is_file():
        raise ValueError(f"model: no checkpoint at {str(path)!r} (expected a run folder with {CHECKPOINT} or a .pt)")
    state = load_checkpoint(file)
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise ValueError(f"model: {str(file)!r} is not a jpegdl train checkpoint")
    config = TrainConfig.from_dict(state["config"])
    model = build_model(config, _dataset_info(config))
    model.load_state_dict(state["model"])
    if config.jpeg and strip_jpeg:
        model = nn.Sequential(model.normalize, model.model)
    return model.eval(), config


def _dataset_info(config: TrainConfig):
    """The dataset facts a model needs, without loading the data when the name is known."""
    info = known_info(config.dataset)
    if info is None:
        _, info = create_dataset(config.dataset, "test", config.data_root, augment=False)
    return info


def inner_classifier(model: nn.Module) -> nn.Module:
    """The network itself inside a loaded model, without normalisation or JPEG layer.

    Module names inside it (``layer3.0.conv2``) are the same with and without the layer.
    """
    from jpegdl.layers import JPEGModel, Normalize

    if isinstance(model, JPEGModel):
        return model.model
    if isinstance(model, nn.Sequential) and len(model) == 2 and isinstance(model[0], Normalize):
        return model[1]
    return model

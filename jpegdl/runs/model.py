"""The model of a run: built from its config, loaded from its checkpoint (weights only)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from torch import nn
from torch.nn.parallel import DistributedDataParallel

from jpegdl.checkpoints import check_fits, load_checkpoint
from jpegdl.data import DatasetInfo, create_dataset
from jpegdl.data.registry import known_info
from jpegdl.jpeg.tables import QuantTables
from jpegdl.layers import JPEGLayer, JPEGModel, Normalize, prepend
from jpegdl.models import create
from jpegdl.runs.config import TrainConfig
from jpegdl.runs.folder import RunFolder


def build_model(config: TrainConfig, info: DatasetInfo, init_tables: QuantTables | None = None) -> nn.Module:
    """The classifier with the dataset normalisation inside, behind a JPEG layer when ``config.jpeg``.

    The model takes ``(B, C, H, W)`` images in [0, 1]. ``init_tables`` gives the layer's initial
    tables when the config's initialisation is computed from data (``lsq``, ``sensitivity``).
    """
    classifier = create(config.model, info.num_classes, info.in_chans)
    if config.jpeg is None:
        return nn.Sequential(Normalize(info.mean, info.std), classifier)
    options = config.jpeg.layer_options()
    if init_tables is not None:
        options["init"] = init_tables
    elif "init" not in options:
        raise ValueError(f"init_tables: the {config.jpeg.init!r} initialisation needs tables computed from data")
    return prepend(classifier, JPEGLayer(channels=info.in_chans, **options), info.mean, info.std)


def jpeg_layer(model: nn.Module) -> JPEGLayer | None:
    """The JPEG layer of a (possibly DDP-wrapped) model built by :func:`build_model`, or ``None``."""
    model = model.module if isinstance(model, DistributedDataParallel) else model
    return model.jpeg if isinstance(model, JPEGModel) else None


def inner_classifier(model: nn.Module) -> nn.Module:
    """The network inside a loaded model, without normalisation or JPEG layer.

    Module names inside it (``layer3.0.conv2``) are the same with and without the layer.
    """
    if isinstance(model, JPEGModel):
        return model.model
    if isinstance(model, nn.Sequential) and len(model) == 2 and isinstance(model[0], Normalize):
        return model[1]
    return model


def dataset_info(config: TrainConfig) -> DatasetInfo:
    """The dataset facts a model needs, without loading the data when the name is known."""
    info = known_info(config.dataset)
    if info is None:
        _, info = create_dataset(config.dataset, "test", config.data_root, augment=False)
    return info


def model_from_state(state: dict, source: str, strip_jpeg: bool = True) -> tuple[nn.Module, TrainConfig]:
    """Rebuild a run's model from a checkpoint dict (``config`` + ``model`` weights), in eval mode."""
    if "config" not in state or not isinstance(state.get("model"), dict):
        raise ValueError(f"model: {source!r} is not a jpegdl train checkpoint (no config or weights)")
    config = TrainConfig.from_dict(state["config"])
    check_state_fits(config, state["model"], source)
    # Tables come from the checkpoint's weights: build the layer from plain IJG steps first.
    build = config if config.jpeg is None or config.jpeg.init in ("ijg", "flat") else _with_ijg_init(config)
    model = build_model(build, dataset_info(config))
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"model: the weights in {source!r} do not fit a {config.model!r} ({err})") from None
    if config.jpeg is not None and strip_jpeg:
        model = nn.Sequential(model.normalize, model.model)
    return model.eval(), config


def check_state_fits(config: TrainConfig, weights: dict, source: str, name: str = "model") -> None:
    """Refuse a checkpoint whose config names a model larger than the weights it holds, before building it
    (:func:`jpegdl.checkpoints.check_fits`)."""
    info = dataset_info(config)
    check_fits(lambda: create(config.model, info.num_classes, info.in_chans), weights, name, source)


def _with_ijg_init(config: TrainConfig) -> TrainConfig:
    return replace(config, jpeg=replace(config.jpeg, init="ijg"))


def load_classifier(path: str | Path, strip_jpeg: bool = True) -> tuple[nn.Module, TrainConfig]:
    """The model of a run folder (its ``last.pt``) or of a checkpoint file, in eval mode.

    The model takes images in [0, 1] (normalisation inside). For a JPEG-DL run, ``strip_jpeg``
    drops the JPEG layer (what J4D compresses for); ``False`` keeps it.

    Raises:
        ValueError: no checkpoint there, or one that is corrupt, unsafe or not from ``jpegdl train``.
    """
    path = Path(path)
    file = RunFolder(path).checkpoint if path.is_dir() else path
    if not file.is_file():
        raise ValueError(f"model: no checkpoint at {str(path)!r} (expected a run folder with last.pt, or a .pt)")
    return model_from_state(load_checkpoint(file, "model"), str(file), strip_jpeg)


def load_route(run: str | Path) -> list[nn.Module]:
    """RCO's teachers: the models of a run's anchors in training order, ending with the converged one.

    Raises:
        ValueError: the run kept no anchors (train the teacher with ``--save-every N``).
    """
    folder = RunFolder(run)
    anchors = folder.anchors()
    if not anchors:
        raise ValueError(
            f"teacher: {str(run)!r} has no anchors/epoch*.pt checkpoints; RCO needs a teacher trained with"
            " --save-every N"
        )
    paths = [path for _, path in anchors]
    final_epoch = int(load_checkpoint(folder.checkpoint, "teacher")["epoch"]) + 1 if folder.checkpoint.is_file() else 0
    if final_epoch and final_epoch != anchors[-1][0]:
        paths.append(folder.checkpoint)
    return [load_classifier(p, strip_jpeg=False)[0] for p in paths]

"""The configuration of a training run: one nested dataclass, written to ``RUN/config.json``.

``TrainConfig`` holds the run's own knobs; ``TrainConfig.jpeg`` (a :class:`JPEGConfig`, or
``None`` without a JPEG layer) the JPEG-DL layer and how its tables are initialised and trained;
``TrainConfig.distill`` (``jpegdl.distill.DistillSettings``, or ``None``) the distillation
method. Every field carries its help text in ``metadata["help"]``: ``jpegdl train``'s flags are
generated from these fields (``jpegdl.cli.options``), so an option is written once.
"""

from __future__ import annotations

import inspect
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from jpegdl.data.noisy import NOISE_KINDS, check_noise
from jpegdl.distill import DistillSettings
from jpegdl.layers import JPEGLayer
from jpegdl.limits import read_json
from jpegdl.utils import atomic_write_text, option
from jpegdl.weighting import WeightingConfig

TABLE_INITS = ("ijg", "flat", "lsq", "sensitivity")


@dataclass
class JPEGConfig:
    """The JPEG-DL layer of a run: its settings, initial tables and table optimiser."""

    init: str = option("ijg", "initial tables: IJG quality, flat steps, LSQ data statistics, or a trained run's"
                       " sensitivity", choices=TABLE_INITS)  # fmt: skip
    quality: int = option(90, "IJG quality of the 'ijg' initial tables (0..100; 90 measured best of 50 and 90)")
    flat_step: float = option(8.0, "every step of the 'flat' initial tables")
    q_max: float = option(10.0, "largest luma step of the 'sensitivity' initialisation")
    sensitivity_run: str | None = option(None, "trained run folder (same model, no layer) for 'sensitivity'",
                                         metavar="RUN")  # fmt: skip
    rounds: int = option(1, "quantization rounds in series, each with its own tables")
    alpha: float = option(5.0, "soft-quantizer hardness on the coefficient scale")
    hardness: float | None = option(None, "dimensionless hardness instead: alpha = hardness / q^2 per entry")
    window: int = option(5, "candidate indices of the soft quantizer")
    step_min: float = option(1.0, "smallest step the tables may take")
    step_max: float = option(255.0, "largest step the tables may take")
    subsampling: str = option("4:4:4", "chroma subsampling of the layer", choices=("4:4:4", "4:2:0"))
    lr: float = option(3e-3, "Adam learning rate of the tables", flag="--table-lr")
    schedule: bool = option(False, "decay the table learning rate with the model's", flag="--table-schedule")
    measure_bpp: bool = option(True, "write the test set as real JPEG files at the end and report its bpp")

    def validate(self) -> JPEGConfig:
        if self.init not in TABLE_INITS:
            raise ValueError(f"jpeg.init: expected one of {TABLE_INITS}, got {self.init!r}")
        if self.init == "sensitivity" and not self.sensitivity_run:
            raise ValueError("jpeg.sensitivity_run: the sensitivity initialisation needs a trained run folder")
        if not 0 < self.step_min <= self.step_max:
            raise ValueError(f"jpeg.step_min, jpeg.step_max: expected 0 < min <= max, got {self.step_min},"
                             f" {self.step_max}")  # fmt: skip
        for name in ("lr", "q_max", "flat_step"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"jpeg.{name}: expected a finite value > 0, got {getattr(self, name)!r}")
        if not 0 <= self.quality <= 100:
            raise ValueError(f"jpeg.quality: expected 0..100, got {self.quality!r}")
        return self

    def layer_options(self) -> dict:
        """The keyword arguments of :class:`jpegdl.layers.JPEGLayer` that this config sets."""
        accepted = set(inspect.signature(JPEGLayer).parameters)
        options = {f.name: getattr(self, f.name) for f in fields(self) if f.name in accepted}
        options["step_range"] = (self.step_min, self.step_max)
        if self.init in ("lsq", "sensitivity"):
            options.pop("init")  # the trainer computes these tables and passes them in
        return options


@dataclass
class TrainConfig:
    """A training run. Defaults give a quick Fashion-MNIST run; presets hold the paper recipes."""

    model: str = option("resnet20", "zoo name (resnet20, wrn_40_2, ...), torchvision or timm name")
    dataset: str = option("fashion-mnist", "dataset name (fashion-mnist, cifar10, cifar100, imagefolder:DIR, ...)")
    data_root: str | None = option(None, "folder holding the dataset files", metavar="DIR")
    out: str = option("runs/run", "run folder (checkpoints, metrics.csv, summary.json)", metavar="RUN")
    epochs: int = option(10, "training epochs")
    batch_size: int = option(128, "images per batch (per process under DDP)")
    optimizer: str = option("sgd", "model optimizer", choices=("sgd", "adamw"))
    lr: float = option(0.05, "model learning rate")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "weight decay of the model's parameters")
    schedule: str = option("cosine", "learning-rate schedule, advanced every step (cosine ends at 0)",
                           choices=("cosine", "step", "constant"))
    milestones: list[int] = option([], "epochs where 'step' multiplies the lr by --lr-gamma", metavar="EPOCH")
    lr_gamma: float = option(0.1, "factor of the 'step' schedule at each milestone")
    seed: int = option(0, "seed of weights, data order and augmentation")
    workers: int = option(0, "data-loading processes")
    device: str = option("auto", "auto (CUDA when present), cpu or cuda[:N]")
    amp: bool = option(True, "mixed precision on CUDA")
    limit_train: int | None = option(None, "use only the first N training images", metavar="N")
    limit_test: int | None = option(None, "use only the first N test images", metavar="N")
    validation: int = option(0, "hold out N training images (a fixed split, un-augmented, never trained on) and"
                             " evaluate on them instead of the test set: for tuning", metavar="N")  # fmt: skip
    jpeg: JPEGConfig | None = option(None, "a trainable JPEG layer in front of the model (JPEG-DL); True: defaults")
    teacher: str | None = option(None, "run folder (or checkpoint) of a trained teacher", metavar="RUN")
    distill: DistillSettings | None = option(None, "distillation against --teacher; a method name: its defaults")
    cckd_per_class: int = option(4, "CCKD: images per class in each batch (0: uniform batches)", metavar="K")
    save_every: int | None = option(None, "keep a checkpoint every N epochs in RUN/anchors (an RCO teacher)",
                                    metavar="N")  # fmt: skip
    label_noise: float = option(0.0, "share of training labels corrupted, in [0, 1) (test labels stay clean)",
                                metavar="P")  # fmt: skip
    noise_kind: str = option("uniform", "label noise: to a random other class, or to the next class",
                             choices=NOISE_KINDS)  # fmt: skip
    noise_seed: int = option(0, "seed of the label noise (fixed across runs to compare methods)", metavar="S")
    weighting: WeightingConfig | None = option(None, "per-example loss weighting; a method name: its defaults")

    def __post_init__(self) -> None:
        # Shorthands: jpeg=True (default layer) or a dict of JPEGConfig fields; distill="kd" or a dict.
        if self.jpeg is True:
            self.jpeg = JPEGConfig()
        elif self.jpeg is False:
            self.jpeg = None
        elif isinstance(self.jpeg, dict):
            self.jpeg = _from_dict(JPEGConfig, self.jpeg, "jpeg")
        if isinstance(self.distill, str):
            self.distill = DistillSettings(self.distill)
        elif isinstance(self.distill, dict):
            self.distill = _from_dict(DistillSettings, self.distill, "distill")
        if isinstance(self.weighting, str):
            self.weighting = WeightingConfig(self.weighting)
        elif isinstance(self.weighting, dict):
            self.weighting = _from_dict(WeightingConfig, self.weighting, "weighting")

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the first bad field; return ``self``."""
        for name in ("epochs", "batch_size", "lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not value > 0:
                raise ValueError(f"{name}: expected a value > 0, got {value!r}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer: expected 'sgd' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ValueError(f"schedule: expected 'cosine', 'step' or 'constant', got {self.schedule!r}")
        if self.weight_decay < 0 or self.workers < 0:
            raise ValueError("weight_decay, workers: expected values >= 0")
        for name in ("limit_train", "limit_test", "save_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}: expected a value >= 1, got {value}")
        if self.jpeg is not None:
            if not isinstance(self.jpeg, JPEGConfig):
                raise ValueError(f"jpeg: expected a JPEGConfig, True or None, got {type(self.jpeg).__name__}")
            self.jpeg.validate()
        if (self.teacher is None) != (self.distill is None):
            raise ValueError("teacher, distill: give both a teacher run and a method (kd, ttm, wttm, cckd, rco)")
        if self.validation < 0:
            raise ValueError(f"validation: expected a number of images >= 0, got {self.validation}")
        if self.cckd_per_class < 0:
            raise ValueError(f"cckd_per_class: expected a value >= 0, got {self.cckd_per_class}")
        check_noise(self.label_noise, self.noise_kind)
        if self.weighting is not None:
            if not isinstance(self.weighting, WeightingConfig):
                raise ValueError(f"weighting: expected a WeightingConfig, a method name or None, got"
                                 f" {type(self.weighting).__name__}")  # fmt: skip
            self.weighting.validate()
            if self.distill is not None:
                raise ValueError("weighting: per-example weighting cannot be combined with distillation (yet)")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The inverse of :meth:`to_dict`; unknown or mistyped fields raise ``ValueError``."""
        return _from_dict(cls, data, "config")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        return cls.from_dict(read_json(path, "config"))


def _from_dict(cls: type, data: object, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    values = {}
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        nested = NESTED.get((cls, name))
        if nested and not isinstance(value, (dict, type(None), bool if nested is JPEGConfig else str)):
            shorthand = "true or false" if nested is JPEGConfig else "a method name"
            raise ValueError(f"{where}.{name}: expected an object, {shorthand} or null, got {value!r:.80}")
        if not nested and not _has_type(value, hints[name]):
            raise ValueError(f"{where}.{name}: expected {_type_name(hints[name])}, got {value!r:.80}")
        values[name] = _from_dict(nested, value, f"{where}.{name}") if nested and isinstance(value, dict) else value
    try:
        return cls(**values)
    except TypeError as err:
        raise ValueError(f"{where}: {err}") from None


def _has_type(value: object, annotation: Any) -> bool:
    """Whether a JSON value fits a field's annotation (int, float, str, bool, list[...], X | None)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_has_type(v, item) for v in value)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True  # nested configs are checked by their own _from_dict


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(annotation))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(annotation)[0])}"
    return "null" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


NESTED: dict[tuple[type, str], type] = {(TrainConfig, "jpeg"): JPEGConfig, (TrainConfig, "distill"): DistillSettings,
                                        (TrainConfig, "weighting"): WeightingConfig}  # fmt: skip


PRESETS: dict[str, dict] = {
    # RepDistiller CIFAR-100 recipe used by JPEG-DL (section 7.1 of the reference): 240 epochs, x0.1 at 150/180/210.
    "cifar-repdistiller": {
        "dataset": "cifar100", "epochs": 240, "batch_size": 64, "optimizer": "sgd", "lr": 0.05,
        "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "milestones": [150, 180, 210],
        "lr_gamma": 0.1,
    },
    # Short CPU-friendly Fashion-MNIST recipe (the jpegdl benchmark).
    "fashion-mnist-quick": {
        "dataset": "fashion-mnist", "epochs": 10, "batch_size": 128, "optimizer": "sgd", "lr": 0.05,
        "weight_decay": 5e-4, "schedule": "cosine",
    },
}  # fmt: skip

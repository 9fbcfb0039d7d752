"""Training configuration: every knob of ``jpegdl train`` in one dataclass."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass
class TrainConfig:
    """A training run. Defaults give a quick Fashion-MNIST run; presets hold the paper recipes."""

    model: str = "resnet20"
    dataset: str = "fashion-mnist"
    data_root: str | None = None
    out: str = "runs/run"
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine | step | constant
    milestones: list[int] = field(default_factory=list)  # epochs for 'step' (x gamma each)
    gamma: float = 0.1
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    amp: bool = True  # CUDA only
    limit_train: int | None = None  # use the first N training images (quick runs, tests)
    limit_test: int | None = None
    # JPEG-DL layer
    jpeg: bool = False
    jpeg_init: str = "ijg"  # ijg | flat | lsq (data statistics) | sensitivity (needs jpeg_sensitivity_run)
    jpeg_q_max: float = 10.0  # largest luma step of the sensitivity initialisation
    jpeg_sensitivity_run: str | None = None  # run folder of a trained model (same architecture, no layer)
    jpeg_quality: int = 50
    jpeg_flat_step: float = 8.0
    jpeg_alpha: float = 5.0
    jpeg_hardness: float | None = None
    jpeg_window: int = 5
    jpeg_rounds: int = 1
    jpeg_step_min: float = 1.0
    jpeg_step_max: float = 255.0
    jpeg_subsampling: str = "4:4:4"
    table_lr: float = 3e-3
    table_schedule: bool = False  # decay the table learning rate with the model's (no: ADAM_enable)
    measure_bpp: bool = True
    # Distillation (jpegdl.distill): a frozen teacher run and one method; None = the method's default
    teacher: str | None = None
    distill: str | None = None  # kd | ttm | wttm | cckd | rco
    distill_gamma: float | None = None  # TTM/WTTM power (1 / teacher temperature)
    distill_beta: float | None = None  # weight of the distillation term (CCKD: of the congruence term)
    distill_ce: float | None = None  # weight of the cross-entropy
    distill_temperature: float = 4.0  # KD (and CCKD's KD term)
    rco_loss: str = "kd"  # logit loss along RCO's route: kd | ttm | wttm
    cckd_per_class: int = 4  # CCKD: images per class in each batch (0: uniform batches)
    save_every: int | None = None  # keep a checkpoint every N epochs in OUT/anchors (an RCO teacher)

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the first bad field."""
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "table_lr": self.table_lr}
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name}: expected a value > 0, got {value!r}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer: expected 'sgd' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ValueError(f"schedule: expected 'cosine', 'step' or 'constant', got {self.schedule!r}")
        if self.weight_decay < 0 or self.workers < 0:
            raise ValueError("weight_decay, workers: expected values >= 0")
        for name in ("limit_train", "limit_test"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name}: expected a value >= 1, got {value}")
        if self.jpeg_init not in ("ijg", "flat", "lsq", "sensitivity"):
            raise ValueError(f"jpeg_init: expected ijg, flat, lsq or sensitivity, got {self.jpeg_init!r}")
        if self.jpeg and self.jpeg_init == "sensitivity" and not self.jpeg_sensitivity_run:
            raise ValueError("jpeg_sensitivity_run: the sensitivity initialisation needs a trained run folder")
        if not 0 < self.jpeg_step_min <= self.jpeg_step_max:
            raise ValueError(
                f"jpeg_step_min, jpeg_step_max: expected 0 < min <= max, got {self.jpeg_step_min}, {self.jpeg_step_max}"
            )
        if (self.teacher is None) != (self.distill is None):
            raise ValueError("teacher, distill: give both a teacher run and a method (kd, ttm, wttm, cckd, rco)")
        if self.distill is not None:
            self.distill_settings()  # validates method, gamma, beta, ce, temperature, rco_loss
        if self.cckd_per_class < 0:
            raise ValueError(f"cckd_per_class: expected a value >= 0, got {self.cckd_per_class}")
        if self.save_every is not None and self.save_every < 1:
            raise ValueError(f"save_every: expected a value >= 1, got {self.save_every}")
        return self

    def distill_settings(self):
        """The ``jpegdl.distill.DistillSettings`` of this run (``distill`` must be set)."""
        from jpegdl.distill.objective import DistillSettings

        return DistillSettings(self.distill, self.distill_gamma, self.distill_beta, self.distill_ce,
                               self.distill_temperature, self.rco_loss)  # fmt: skip

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"config: unknown fields {sorted(unknown)}")
        return cls(**data)


PRESETS: dict[str, dict] = {
    # RepDistiller CIFAR-100 recipe used by JPEG-DL (section 7.1 of the reference): 240 epochs, x0.1 at 150/180/210.
    "cifar-repdistiller": {
        "dataset": "cifar100", "epochs": 240, "batch_size": 64, "optimizer": "sgd", "lr": 0.05,
        "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "milestones": [150, 180, 210],
        "gamma": 0.1, "table_lr": 3e-3, "jpeg_alpha": 5.0,
    },
    # Short CPU-friendly Fashion-MNIST recipe (the jpegdl benchmark).
    "fashion-mnist-quick": {
        "dataset": "fashion-mnist", "epochs": 10, "batch_size": 128, "optimizer": "sgd", "lr": 0.05,
        "weight_decay": 5e-4, "schedule": "cosine",
    },
}  # fmt: skip

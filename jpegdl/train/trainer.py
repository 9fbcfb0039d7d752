"""The training loop: model and JPEG-layer optimizers, schedules, DDP, AMP, atomic checkpoints,
exact resume, CSV / TensorBoard logs and a final JSON summary."""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import json
import math
import random
import time

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset
from tqdm import tqdm

from jpegdl.checkpoints import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from jpegdl.data import create_dataset, dataset_slice
from jpegdl.data.noisy import train_val_indices
from jpegdl.evaluate import dataset_bpp, top1_accuracy
from jpegdl.jpeg.tables import QuantTables
from jpegdl.runs import RunFolder, TrainConfig, build_model, jpeg_layer, load_classifier, load_route
from jpegdl.tables import lsq_tables, sensitivity_tables
from jpegdl.train.weighting import LAW_FOLDER, build_weighting, noisy_splits, run_law_search, save_noise_record
from jpegdl.utils import atomic_write_text, init_distributed, resolve_device, shutdown

METRICS = ("epoch", "train_loss", "train_acc", "test_acc", "test_acc_hard", "val_acc", "val_acc_hard", "lr",
           "table_lr", "epoch_seconds")


def _schedule(config: TrainConfig, steps_per_epoch: int):
    """The learning-rate factor after ``step`` optimizer steps. The schedule advances every step, so
    a cosine run anneals smoothly to zero at its last step however few epochs it has; the 'step'
    milestones are in epochs."""
    total = max(config.epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if config.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        if config.schedule == "step":
            return config.lr_gamma ** sum(step >= m * steps_per_epoch for m in config.milestones)
        return 1.0

    return factor


def _subset(dataset: Dataset, limit: int | None) -> Dataset:
    return dataset if limit is None or limit >= len(dataset) else Subset(dataset, range(limit))


def _validation_split(train_set: Dataset, config: TrainConfig) -> tuple[Dataset, Dataset]:
    """``(training images left, config.validation held-out images)``: the same split for every seed
    (seed 0), the held-out images without augmentation."""
    if not 1 <= config.validation < len(train_set):
        raise ValueError(f"validation: expected 1 <= N < {len(train_set)} (the training images), got"
                         f" {config.validation}")  # fmt: skip
    train_idx, val_idx = train_val_indices(len(train_set), config.validation, seed=0)
    plain = dataset_slice(config.dataset, "train", config.data_root, config.limit_train)
    return Subset(train_set, train_idx), Subset(plain, val_idx)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Same seed, same data order, same result on one machine with the same thread count; kernels
    # without a deterministic version warn instead of failing.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def _environment() -> dict:
    """What a re-run must match to reproduce a run bit for bit (CPU reductions depend on threads)."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}  # fmt: skip


class Trainer:
    """One run in ``config.out``; call :meth:`fit`.

    Args:
        config: the run's settings.
        resume: continue ``out/last.pt`` (it must exist).
        overwrite: replace a run already in ``out``; without it (or ``resume``) an existing run
            is refused, so no run is lost by a mistyped ``--out``.
    """

    def __init__(self, config: TrainConfig, resume: bool = False, overwrite: bool = False) -> None:
        self.config = config.validate()
        self.folder = RunFolder(config.out)
        self.out = self.folder.path
        search_started = (self.out / LAW_FOLDER / "search.pt").is_file()
        if resume and not self.folder.checkpoint.is_file() and not search_started:
            raise ValueError(f"resume: no checkpoint {str(self.folder.checkpoint)!r} to resume from")
        self.folder.check_writable(overwrite)
        if not resume and not overwrite and self.folder.has_progress():
            raise ValueError(
                f"out: {str(self.out)!r} already holds a run; pass --resume to continue it or --overwrite to"
                " replace it"
            )
        # A run stopped before its first checkpoint left only its config: a plain re-run starts it again.
        overwrite = overwrite or (not resume and self.folder.has_outputs())
        self.context = init_distributed()
        self.device = resolve_device(config.device, self.context)
        self.overwrite = overwrite and not resume
        _seed_everything(config.seed)
        train_set, self.info = create_dataset(config.dataset, "train", config.data_root)
        test_set, _ = create_dataset(config.dataset, "test", config.data_root)
        self.train_set = _subset(train_set, config.limit_train)
        self.test_set = _subset(test_set, config.limit_test)
        self.evaluated_on = "test"
        if config.validation:
            self.train_set, self.test_set = _validation_split(self.train_set, config)
            self.evaluated_on = "val"
        self.train_set, self.val_set, self.noisy = noisy_splits(self.train_set, config, self.info.num_classes)
        computed = config.jpeg is not None and config.jpeg.init in ("lsq", "sensitivity")
        init_tables = self._initial_tables() if computed else None
        self.make_model = lambda: build_model(config, self.info, init_tables)
        self.weighting = build_weighting(config.weighting, self.context)
        self.model = build_model(config, self.info, init_tables).to(self.device)
        self._check_compatible()
        self.distillation = self._distillation() if config.distill else None
        layer = jpeg_layer(self.model)
        table_ids = {id(p) for p in layer.table_parameters()} if layer is not None else set()
        model_params = [p for p in self.model.parameters() if id(p) not in table_ids]
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(
                model_params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
            )
        else:
            self.optimizer = torch.optim.AdamW(model_params, lr=config.lr, weight_decay=config.weight_decay)
        self.table_optimizer = None
        if layer is not None:
            self.table_optimizer = torch.optim.Adam(layer.table_parameters(), lr=config.jpeg.lr, weight_decay=0.0)
        self._make_loaders()
        factor = _schedule(config, len(self.train_loader))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.table_scheduler = None
        if self.table_optimizer is not None:
            table_factor = factor if config.jpeg.schedule else (lambda step: 1.0)
            self.table_scheduler = torch.optim.lr_scheduler.LambdaLR(self.table_optimizer, table_factor)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.history: list[dict] = []
        self.saved_checkpoint = False  # by this process, in this session
        self.start_epoch = 0
        self._weighting_state: dict | None = None
        if resume and self.folder.checkpoint.is_file():
            self._restore(load_checkpoint(self.folder.checkpoint, "resume"))
        if self.context.enabled:
            self.model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )

    def _make_loaders(self) -> None:
        """The training sampler and loader (class-uniform batches for CCKD when asked) and this
        rank's shard of the evaluation set."""
        config = self.config
        if config.distill is not None and config.distill.method == "cckd" and config.cckd_per_class:
            from jpegdl.distill import ClassUniformBatchSampler, dataset_labels

            self.train_sampler = ClassUniformBatchSampler(
                dataset_labels(self.train_set), config.batch_size, config.cckd_per_class, config.seed,
                self.context.rank, self.context.world_size,
            )  # fmt: skip
            self.train_loader = DataLoader(self.train_set, batch_sampler=self.train_sampler,
                                           num_workers=config.workers)  # fmt: skip
        else:
            self.train_sampler = DistributedSampler(
                self.train_set, self.context.world_size, self.context.rank, shuffle=True, seed=config.seed
            )
            self.train_loader = DataLoader(
                self.train_set, config.batch_size, sampler=self.train_sampler, num_workers=config.workers,
                drop_last=False,
            )  # fmt: skip
        shard = Subset(self.test_set, range(self.context.rank, len(self.test_set), self.context.world_size))
        self.test_loader = DataLoader(shard, max(config.batch_size, 256), num_workers=config.workers)

    def _distillation(self):
        """The teacher and distillation objective; fails before training on an unusable teacher."""
        from jpegdl.distill import Distillation

        settings = self.config.distill
        try:
            if settings.method == "rco":
                teachers = load_route(self.config.teacher)
            else:
                teachers = [load_classifier(self.config.teacher, strip_jpeg=False)[0]]
        except ValueError as err:
            raise ValueError(f"teacher: {str(err).split(': ', 1)[-1]}") from None
        distillation = Distillation(settings, teachers, self.model, self.config.epochs, self.device)
        image, _ = self.train_set[0]
        try:
            with torch.no_grad():
                outputs = distillation.teacher(image.unsqueeze(0).expand(2, -1, -1, -1).to(self.device)).shape[-1]
        except (RuntimeError, ValueError, AssertionError, TypeError) as err:
            raise ValueError(f"teacher: cannot take {self.config.dataset} images of shape {tuple(image.shape)}"
                             f" ({err})") from None  # fmt: skip
        if outputs != self.info.num_classes:
            raise ValueError(
                f"teacher: outputs {outputs} classes, the student's dataset {self.config.dataset} has"
                f" {self.info.num_classes}"
            )
        calibration_images = dataset_slice(self.config.dataset, "train", self.config.data_root,
                                           min(2048, self.config.limit_train or 2048))  # fmt: skip
        calibration = DataLoader(calibration_images, batch_size=256)
        distillation.calibrate(images for images, _ in calibration)
        return distillation

    def _initial_tables(self) -> QuantTables:
        """LSQ-style steps from training-image statistics, or sensitivity steps from a trained run."""
        plain = dataset_slice(self.config.dataset, "train", self.config.data_root, self.config.limit_train)
        loader = DataLoader(plain, batch_size=256)
        jpeg = self.config.jpeg
        if jpeg.init == "lsq":
            return lsq_tables(loader, jpeg.subsampling)
        reference, reference_config = load_classifier(jpeg.sensitivity_run)
        if reference_config.jpeg is not None or reference_config.model != self.config.model:
            raise ValueError(
                f"jpeg.sensitivity_run: needs a {self.config.model!r} run without a JPEG layer, got"
                f" {reference_config.model!r} (JPEG layer: {reference_config.jpeg is not None})"
            )
        return sensitivity_tables(reference.to(self.device), loader, jpeg.q_max, jpeg.subsampling, device=self.device)

    def _check_compatible(self) -> None:
        """Fail before training when the model cannot take this dataset's images."""
        image, _ = self.train_set[0]
        try:
            self.model.eval()
            with torch.no_grad():
                logits = self.model(image.unsqueeze(0).expand(2, -1, -1, -1).to(self.device))
        except (RuntimeError, ValueError, AssertionError, TypeError) as err:
            raise ValueError(
                f"model: {self.config.model!r} cannot take {self.config.dataset} images of shape"
                f" {tuple(image.shape)} ({err})"
            ) from None
        finally:
            self.model.train()
        if logits.shape[-1] != self.info.num_classes:
            raise ValueError(f"model: outputs {logits.shape[-1]} classes, the dataset has {self.info.num_classes}")

    def _state(self, epoch: int) -> dict:
        model = self.model.module if isinstance(self.model, DistributedDataParallel) else self.model
        return {
            "config": self.config.to_dict(),
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "table_optimizer": None if self.table_optimizer is None else self.table_optimizer.state_dict(),
            "table_scheduler": None if self.table_scheduler is None else self.table_scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "history": self.history,
            **({"weighting": self.weighting.state_dict()} if self.weighting is not None else {}),
        }

    def _restore(self, state: dict) -> None:
        try:
            self._restore_state(state)
        except (KeyError, TypeError, RuntimeError, AttributeError, IndexError) as err:
            reason = f"it lacks {err}" if isinstance(err, KeyError) else " ".join(str(err).split())[:200]
            raise ValueError(f"resume: {str(self.folder.checkpoint)!r} is not a complete training checkpoint of this"
                             f" run ({reason})") from None  # fmt: skip

    def _restore_state(self, state: dict) -> None:
        saved = TrainConfig.from_dict(state["config"])
        for name in ("model", "dataset", "jpeg", "seed", "batch_size", "limit_train", "teacher", "distill", "lr",
                     "optimizer", "schedule", "label_noise", "noise_kind", "noise_seed", "weighting"):
            if getattr(saved, name) != getattr(self.config, name):
                raise ValueError(
                    f"resume: checkpoint has {name}={getattr(saved, name)!r}, config has {getattr(self.config, name)!r}"
                )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.table_optimizer is not None:
            self.table_optimizer.load_state_dict(state["table_optimizer"])
            self.table_scheduler.load_state_dict(state["table_scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.history = list(state["history"])
        self.start_epoch = state["epoch"] + 1
        self._weighting_state = state.get("weighting")

    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        self.model.train()
        self.train_sampler.set_epoch(epoch)
        if self.distillation is not None:
            self.distillation.set_epoch(epoch)
        loss_sum = correct = seen = 0.0
        batches = tqdm(
            self.train_loader, desc=f"epoch {epoch + 1}/{self.config.epochs}", leave=False,
            disable=not self.context.is_main, dynamic_ncols=True,
        )  # fmt: skip
        for batch, (images, labels) in enumerate(batches):
            images, labels = images.to(self.device), labels.to(self.device)
            with torch.autocast(self.device.type, enabled=self.use_amp):
                logits = self.model(images)
                if self.weighting is not None:
                    loss = self.weighting.loss(logits, labels, epoch * len(self.train_loader) + batch,
                                               self.optimizer.param_groups[0]["lr"])  # fmt: skip
                elif self.distillation is None:
                    loss = nn.functional.cross_entropy(logits, labels)
                else:
                    loss = self.distillation.loss(images, labels, logits)
            self.optimizer.zero_grad(set_to_none=True)
            if self.table_optimizer is not None:
                self.table_optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            if self.table_optimizer is not None:
                self.scaler.step(self.table_optimizer)
            self.scaler.update()
            self.scheduler.step()
            if self.table_scheduler is not None:
                self.table_scheduler.step()
            loss_sum += loss.item() * labels.numel()
            correct += (logits.argmax(1) == labels).sum().item()
            seen += labels.numel()
            batches.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
        return loss_sum / max(seen, 1), correct / max(seen, 1)

    def _evaluate(self) -> tuple[float, float | None]:
        soft = top1_accuracy(self.model, self.test_loader, self.device, self.context)
        layer = jpeg_layer(self.model)
        if layer is None:
            return soft, None
        mode, layer.mode = layer.mode, "hard"
        try:
            hard = top1_accuracy(self.model, self.test_loader, self.device, self.context)
        finally:
            layer.mode = mode
        return soft, hard

    def fit(self, stop_after: int | None = None) -> dict:
        """Train to ``config.epochs`` (from the checkpoint when resuming); return the summary.

        ``stop_after`` ends the run after that many epochs of this call, as an interruption
        would (the checkpoint is written; resume continues exactly).
        """
        with self.folder.lock() if self.context.is_main else contextlib.nullcontext():
            return self._fit(stop_after)

    def _fit(self, stop_after: int | None) -> dict:
        if self.context.is_main:
            self.folder.remove_stale_temporaries()
            if self.overwrite:
                self._clear_previous_run()
            self.config.save(self.folder.config)
            if self.noisy is not None:
                save_noise_record(self.noisy, self.out / "label_noise.pt")
        if self.weighting is not None and self.weighting.needs_search:
            self.weighting.use(run_law_search(self.make_model, self.train_set, self.val_set, self.config, self.device,
                                              self.out / LAW_FOLDER, self.context))  # fmt: skip
        if self.weighting is not None:
            self.weighting.start(self.config.epochs * len(self.train_loader), self._weighting_state)
        writer = self._tensorboard()
        try:
            last_epoch = (
                self.config.epochs if stop_after is None else min(self.config.epochs, self.start_epoch + stop_after)
            )
            for epoch in range(self.start_epoch, last_epoch):
                started = time.perf_counter()
                train_loss, train_acc = self._train_epoch(epoch)
                seconds = time.perf_counter() - started
                accuracy, accuracy_hard = self._evaluate()
                row = {
                    "epoch": epoch + 1,
                    "train_loss": train_loss,
                    "train_acc": train_acc,
                    "test_acc": None,
                    "test_acc_hard": None,
                    "val_acc": None,
                    "val_acc_hard": None,
                    f"{self.evaluated_on}_acc": accuracy,
                    f"{self.evaluated_on}_acc_hard": accuracy_hard,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "table_lr": None if self.table_optimizer is None else self.table_optimizer.param_groups[0]["lr"],
                    "epoch_seconds": seconds,
                }
                self.history.append(row)
                if self.context.is_main:
                    save_checkpoint(self._state(epoch), self.folder.checkpoint)
                    self.saved_checkpoint = True
                    if self.config.save_every and (epoch + 1) % self.config.save_every == 0:
                        self._save_anchor(epoch)
                    self._write_metrics()
                    if writer is not None:
                        for key, value in row.items():
                            if key != "epoch" and value is not None:
                                writer.add_scalar(key, value, epoch + 1)
                    hard = "" if accuracy_hard is None else f", hard {accuracy_hard:.4f}"
                    tqdm.write(
                        f"epoch {epoch + 1}/{self.config.epochs}: loss {train_loss:.4f}, train {train_acc:.4f},"
                        f" {self.evaluated_on} {accuracy:.4f}{hard} ({seconds:.1f} s)"
                    )
            summary = self._summary()
            if self.context.is_main:
                atomic_write_text(self.folder.summary, json.dumps(summary, indent=1) + "\n")
            if self.context.enabled:
                torch.distributed.barrier()  # no process leaves while another may still call a collective
            return summary
        finally:
            if writer is not None:
                writer.close()
            self._leave_process_group()

    def _leave_process_group(self) -> None:
        """Free DDP's reducer, then leave the process group.

        The reducer holds a reference to the process group: with it alive, ``destroy_process_group``
        only drops Python's handle, and gloo's worker threads live on until interpreter teardown,
        where destroying them can abort the process ("terminate called without an active exception").
        """
        if isinstance(self.model, DistributedDataParallel):
            self.model = self.model.module
            gc.collect()
        shutdown(self.context)

    def _save_anchor(self, epoch: int) -> None:
        """A model-only checkpoint of this epoch in RUN/anchors (a teacher route for RCO)."""
        model = self.model.module if isinstance(self.model, DistributedDataParallel) else self.model
        state = {"config": self.config.to_dict(), "epoch": epoch, "model": model.state_dict()}
        save_checkpoint(state, self.folder.anchor(epoch + 1))

    def _clear_previous_run(self) -> None:
        """``overwrite``: remove what an earlier run left, so no file of it mixes with this one.

        Only a run's own files go (``RunFolder`` refused a folder that holds no run): anchors are
        ``epochNNNN.pt`` files, TensorBoard's are ``events.out.tfevents.*``, LAW's its ``.pt`` and ``.csv`` files.
        """
        for path in (self.folder.checkpoint, self.folder.summary, self.folder.metrics):
            path.unlink(missing_ok=True)
        (self.out / "label_noise.pt").unlink(missing_ok=True)
        for _, anchor in self.folder.anchors():
            anchor.unlink(missing_ok=True)
        for folder, pattern in ((self.out / "tensorboard", "events.out.tfevents.*"), (self.out / LAW_FOLDER, "*.pt"),
                                (self.out / LAW_FOLDER, "*.csv")):  # fmt: skip
            for path in folder.glob(pattern) if folder.is_dir() else ():
                if path.is_file() and not path.is_symlink():
                    path.unlink()
        for folder in (self.out / "anchors", self.out / "tensorboard", self.out / LAW_FOLDER):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when nothing else is left in it

    def _write_metrics(self) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, METRICS)
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_text(self.folder.metrics, text.getvalue())

    def _tensorboard(self):
        if not self.context.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return None
        return SummaryWriter(str(self.out / "tensorboard"))

    def _summary(self) -> dict:
        last = self.history[-1] if self.history else {}
        summary = {
            "config": self.config.to_dict(),
            "epochs": len(self.history),
            "channels": self.info.in_chans,
            "test_acc": last.get("test_acc"),
            "test_acc_hard": last.get("test_acc_hard"),
            "val_acc": last.get("val_acc"),
            "val_acc_hard": last.get("val_acc_hard"),
            "mean_epoch_seconds": float(np.mean([r["epoch_seconds"] for r in self.history])) if self.history else None,
            "environment": _environment(),
        }
        if self.distillation is not None:
            summary["distill"] = self.distillation.describe()
        layer = jpeg_layer(self.model)
        if layer is not None:
            tables = layer.tables()
            summary["tables"] = tables.to_dict()
            summary["tables_rounded"] = tables.rounded().to_dict()
            summary["tables_movement"] = layer.trainable_tables.movement()
            if self.config.jpeg.measure_bpp and self.context.is_main and self.evaluated_on == "test":
                test_plain = dataset_slice(self.config.dataset, "test", self.config.data_root, self.config.limit_test)
                summary["test_files"] = dataset_bpp(test_plain, tables, self.config.jpeg.subsampling)
        return summary

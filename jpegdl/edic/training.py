"""Training a codec: rate + lambda x distortion on random crops of photographs, or (the
DNN-oriented variant) rate + a frozen classifier's task loss on labelled images; an auxiliary
optimizer for the entropy bottleneck's quantiles, atomic checkpoints and exact resume."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from compressai.models import CompressionModel
from tqdm import tqdm

from jpegdl.checkpoints import load_checkpoint, save_checkpoint
from jpegdl.edic.checkpoint import save_codec, write_atomically
from jpegdl.edic.data import CropSampler
from jpegdl.edic.model import STRIDE, CodecConfig, build_model
from jpegdl.edic.objective import METRICS, rate_distortion
from jpegdl.edic.task import LabelledSampler, check_task_weights, rate_task


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings (saved with the checkpoint; a resume must use the same ones except ``steps``)."""

    lmbda: float = 0.013
    metric: str = "mse"
    task_weight: float = 0.0  # > 0: the DNN-oriented variant (a frozen classifier's cross-entropy)
    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric: expected one of {METRICS}, got {self.metric!r}")
        if self.task_weight:
            check_task_weights(self.task_weight, self.lmbda)
            if self.metric != "mse":
                raise ValueError(f"metric: a task codec's pixel term is MSE, got {self.metric!r}")
        elif not (math.isfinite(self.lmbda) and self.lmbda > 0):
            raise ValueError(f"lmbda: expected a finite number > 0, got {self.lmbda}")
        for name in ("steps", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {getattr(self, name)}")
        for name in ("lr", "aux_lr", "clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected a number > 0, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _optimizers(model: CompressionModel, settings: TrainSettings) -> tuple[torch.optim.Optimizer, ...]:
    named = dict(model.named_parameters())
    aux = [p for n, p in named.items() if n.endswith(".quantiles")]
    net = [p for n, p in named.items() if not n.endswith(".quantiles")]
    return torch.optim.Adam(net, lr=settings.lr), torch.optim.Adam(aux, lr=settings.aux_lr)


def train_codec(
    model: CompressionModel,
    sampler: CropSampler | LabelledSampler,
    settings: TrainSettings,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    objective: Callable[[CompressionModel, object], dict] | None = None,
) -> list[dict]:
    """Train ``model`` in place for ``settings.steps`` steps (in total, counting resumed ones).

    Args:
        model: a codec on its training device.
        sampler: the source of batches (its generator state is part of the checkpoint).
        objective: ``(model, batch) -> {"loss", "bpp", "distortion", ...}``; default: rate +
            ``settings.lmbda`` x distortion of the crops (:func:`rate_distortion`).
        checkpoint: file for the training state (weights, both optimizers, step, RNG states, history),
            written atomically every ``checkpoint_every`` steps and at the end.
        resume: continue from ``checkpoint`` when it exists; the result equals an uninterrupted run.

    Returns:
        One ``{"step", "loss", "bpp", "distortion", "aux"}`` dict per step (resumed steps included).
    """
    device = next(model.parameters()).device
    if objective is None:

        def objective(model: CompressionModel, crops: torch.Tensor) -> dict:
            crops = crops.to(device)
            return rate_distortion(model(crops), crops, settings.lmbda, settings.metric)

    optimizer, aux_optimizer = _optimizers(model, settings)
    history: list[dict] = []
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).is_file():
        state = load_checkpoint(checkpoint)
        if state["settings"] != {**settings.to_dict(), "steps": state["settings"]["steps"]}:
            raise ValueError(f"resume: {str(checkpoint)!r} was trained with other settings {state['settings']}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        aux_optimizer.load_state_dict(state["aux_optimizer"])
        torch.set_rng_state(state["torch_rng"])
        sampler.set_state(state["sampler_rng"])
        start, history = int(state["step"]), list(state["history"])

    def save(step: int) -> None:
        if checkpoint is not None:
            save_checkpoint({
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(), "aux_optimizer": aux_optimizer.state_dict(),
                "step": step, "torch_rng": torch.get_rng_state(), "sampler_rng": sampler.state(),
                "settings": settings.to_dict(), "history": history,
            }, checkpoint)

    model.train()
    bar = tqdm(range(start, settings.steps), initial=start, total=settings.steps, desc="edic train",
               disable=not progress, unit="step")
    for step in bar:
        batch = sampler.sample(settings.batch_size)
        optimizer.zero_grad(set_to_none=True)
        terms = objective(model, batch)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(optimizer.param_groups[0]["params"], settings.clip)
        optimizer.step()
        aux_optimizer.zero_grad(set_to_none=True)
        aux = model.aux_loss()
        aux.backward()
        aux_optimizer.step()
        record = {"step": step + 1, **{k: float(v.detach()) for k, v in terms.items()}, "aux": float(aux.detach())}
        if not math.isfinite(record["loss"]):
            raise ValueError(f"training diverged at step {step + 1} (loss {record['loss']}); lower --lr")
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", bpp=f"{record['bpp']:.3f}")
        if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
            save(step + 1)
    model.eval()
    return history


def train_and_save(
    config: CodecConfig,
    settings: TrainSettings,
    images: list[torch.Tensor],
    folder: str | Path,
    crop: int = 128,
    seed: int = 0,
    resume: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[CompressionModel, list[dict]]:
    """Train one codec from ``seed`` and write ``train.pt`` (resumable state), ``codec.pt`` + ``codec.json``
    (the final codec, CDF tables built) and ``history.json`` into ``folder``."""
    if crop % STRIDE:
        raise ValueError(f"crop: expected a multiple of the model's stride {STRIDE}, got {crop}")
    folder = Path(folder)
    torch.manual_seed(seed)
    model = build_model(config).to(device)
    sampler = CropSampler(images, crop, seed=seed)
    history = train_codec(model, sampler, settings, folder / "train.pt", resume=resume, progress=progress)
    save_codec(model, config, folder / "codec.pt")
    write_atomically(folder / "history.json", json.dumps({"settings": settings.to_dict(), "crop": crop,
                                                          "seed": seed, "history": history}).encode())
    return model, history


def train_task_codec(
    config: CodecConfig,
    settings: TrainSettings,
    images: torch.Tensor,
    labels: torch.Tensor,
    classifier: torch.nn.Module,
    folder: str | Path,
    seed: int = 0,
    resume: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[CompressionModel, list[dict]]:
    """The DNN-oriented variant of :func:`train_and_save`: rate + ``settings.task_weight`` x the
    frozen ``classifier``'s cross-entropy on the reconstruction (+ ``settings.lmbda`` x MSE).

    Args:
        images: ``(N, C, h, w)`` float in [0, 1] (C = 1 or 3, any size); labels ``(N,)``.
        classifier: takes ``(B, C, h, w)`` in [0, 1]; kept frozen, in eval mode.
    """
    if not settings.task_weight:
        raise ValueError("task_weight: a task codec needs task_weight > 0")
    folder = Path(folder)
    torch.manual_seed(seed)
    model = build_model(config).to(device)
    classifier = classifier.to(device).eval().requires_grad_(False)
    sampler = LabelledSampler(images, labels, seed=seed)

    def objective(model: CompressionModel, batch: tuple[torch.Tensor, torch.Tensor]) -> dict:
        return rate_task(model, batch, classifier, settings.task_weight, settings.lmbda)

    history = train_codec(model, sampler, settings, folder / "train.pt", resume=resume, progress=progress,
                          objective=objective)  # fmt: skip
    save_codec(model, config, folder / "codec.pt")
    write_atomically(folder / "history.json", json.dumps({"settings": settings.to_dict(), "seed": seed,
                                                          "history": history}).encode())  # fmt: skip
    return model, history

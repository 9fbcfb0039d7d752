"""J4D: learn JPEG quantization tables for frozen classifiers by minimising task loss + lambda x rate.

For each batch the libjpeg-faithful front end gives the DCT coefficients ``z``; the tables'
soft quantizer (``alpha = hardness / q^2``) gives the proxy reconstruction that the frozen
models classify and the analytic rate (``jpegdl.jpeg.rate``). The objective is

    mean over models of task_loss(model(decode(Q(z))), target)  +  lambda * estimated_bpp

with ``task_loss`` the cross-entropy with the labels (``"ce"``) or the KL divergence from the
model's output on the uncompressed image (``"kl"``, label-free). Only the tables (and, as an
option, the hardness) are trained; several models give "universal" tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from jpegdl.j4d.params import LearnableTables
from jpegdl.jpeg.codec import analyze, component_steps, synthesize
from jpegdl.jpeg.quantize import SampledQuantizer, StraightThroughQuantizer
from jpegdl.jpeg.rate import estimate_rate
from jpegdl.jpeg.sampling import check_subsampling
from jpegdl.jpeg.tables import QuantTables
from jpegdl.utils import DistContext, resolve_device

TASK_LOSSES = ("ce", "kl")
TRAIN_QUANTIZERS = ("soft", "sampled", "ste")


@dataclass
class LearnedTables:
    """Result of :func:`learn_tables`: the float steps, what produced them, and the training history.

    ``rounded`` (integers 1..255) is what real files use; :meth:`save` writes JSON that
    ``QuantTables.load`` (and ``jpegdl compress --tables``) read directly.
    """

    tables: QuantTables
    lam: float
    hardness: torch.Tensor  # (2, 8, 8)
    subsampling: str
    channels: int
    settings: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    @property
    def rounded(self) -> QuantTables:
        return self.tables.rounded()

    def to_dict(self) -> dict:
        rounded = self.rounded.to_dict()
        hardness = self.hardness.detach().cpu()
        single = bool(torch.all(hardness == hardness.flatten()[0]))
        return {
            **rounded,
            "float_tables": self.tables.to_dict(),
            "hardness": float(hardness.flatten()[0]) if single else hardness.tolist(),
            "subsampling": self.subsampling,
            "channels": self.channels,
            "lambda": self.lam,
            "settings": self.settings,
            "history": self.history,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path


def load_hardness(path: str | Path, default: float = 8.0) -> float | torch.Tensor:
    """The ``hardness`` recorded in a learned-tables JSON (``default`` for plain tables files)."""
    data = json.loads(Path(path).read_text())
    value = data.get("hardness", default)
    return torch.tensor(value)[0] if isinstance(value, list) else float(value)


def _task_loss(logits: torch.Tensor, labels: torch.Tensor, reference: torch.Tensor | None, loss: str) -> torch.Tensor:
    if loss == "ce":
        return F.cross_entropy(logits, labels)
    return F.kl_div(F.log_softmax(logits, 1), F.log_softmax(reference, 1), reduction="batchmean", log_target=True)


def _freeze(models: Sequence[nn.Module], device: torch.device) -> list[nn.Module]:
    frozen = []
    for model in models:
        if not isinstance(model, nn.Module):
            raise ValueError(f"models: expected nn.Module objects, got {type(model).__name__}")
        model = model.to(device).eval()
        model.requires_grad_(False)
        frozen.append(model)
    return frozen


def _initial(init: QuantTables | int) -> QuantTables:
    if isinstance(init, QuantTables):
        return init
    if isinstance(init, int) and not isinstance(init, bool):
        return QuantTables.from_quality(init)
    raise ValueError(f"init: expected QuantTables or an IJG quality 0..100, got {init!r}")


def learn_tables(
    models: nn.Module | Sequence[nn.Module],
    data: Iterable,
    lam: float,
    *,
    init: QuantTables | int = 50,
    subsampling: str = "4:4:4",
    hardness: float = 8.0,
    learn_hardness: bool = False,
    quantizer: str = "ste",
    loss: str = "ce",
    epochs: int = 1,
    lr: float = 0.05,
    step_range: tuple[float, float] = (1.0, 255.0),
    window: int = 5,
    rate_dc: str = "difference",
    rate_chroma: str = "separate",
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> LearnedTables:
    """Learn luma/chroma tables for frozen classifiers (J4D), one rate-accuracy trade-off ``lam``.

    Args:
        models: one classifier or several (universal tables); each maps ``(B, C, H, W)``
            images in [0, 1] to logits (normalisation inside, as ``jpegdl train`` builds them).
            They are put in eval mode and frozen.
        data: yields ``(images, labels)``, images ``(B, C, H, W)`` float in [0, 1], C = 1 or 3.
        lam: weight ``lambda >= 0`` of the estimated bits per pixel.
        init: initial tables or an IJG quality.
        subsampling: ``"4:4:4"`` or ``"4:2:0"`` (ignored for grayscale).
        hardness: dimensionless soft-quantizer hardness ``h`` (``alpha = h / q^2``). Small ``h``
            gives every frequency an entropy floor even when all its indices are 0 (about 1 bit
            per coefficient at h = 2), so the estimate overstates the rate of rounded files.
        quantizer: training forward pass: ``"ste"`` (libjpeg's rounding, straight-through
            gradient: what the rounded encoder writes), ``"soft"`` (JPEG-DL's conditional mean)
            or ``"sampled"`` (a draw from the PMF, soft gradient). The rate is always the soft
            PMF's entropy. Defaults (``ste``, h = 8) are the best of
            ``benchmarks/j4d_proxy_ablation.py``.
        loss: ``"ce"`` (labels) or ``"kl"`` (to the model's output on the uncompressed image).
        epochs: passes over ``data``.
        lr: Adam learning rate on the log steps (0.05 = about 5 % relative change per step).
        step_range: steps kept in ``[low, high]`` within 1..255.
        rate_dc, rate_chroma: options of :func:`jpegdl.jpeg.rate.estimate_rate`.
        device: where models and tables live (``"auto"``: CUDA when available).
    """
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam: expected a finite value >= 0, got {lam!r}")
    if quantizer not in TRAIN_QUANTIZERS:
        raise ValueError(f"quantizer: expected one of {TRAIN_QUANTIZERS}, got {quantizer!r}")
    if loss not in TASK_LOSSES:
        raise ValueError(f"loss: expected one of {TASK_LOSSES}, got {loss!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs: expected an integer >= 1, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr: expected a value > 0, got {lr!r}")
    check_subsampling(subsampling)
    device = device if isinstance(device, torch.device) else resolve_device(device, DistContext())
    model_list = _freeze([models] if isinstance(models, nn.Module) else list(models), device)
    if not model_list:
        raise ValueError("models: expected at least one model")
    params = LearnableTables(_initial(init), hardness, step_range, learn_hardness).to(device)
    optimizer = torch.optim.Adam(params.parameters(), lr=lr)
    generator = torch.Generator(device=device).manual_seed(seed)
    history: list[dict] = []
    channels = None
    step = 0
    for epoch in range(epochs):
        batches = tqdm(data, desc=f"lambda {lam:g}, epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
        for images, labels in batches:
            images, labels = images.to(device).float(), labels.to(device)
            channels = images.shape[1]
            with torch.no_grad():
                coefficients = analyze(images, subsampling, exact=True)
                references = [model(images) for model in model_list] if loss == "kl" else [None] * len(model_list)
            tables = params.tables()
            steps = component_steps(tables, len(coefficients), images.dtype)
            soft = params.quantizers(len(coefficients), window)
            rate = estimate_rate(coefficients, steps, soft, tuple(images.shape[-2:]), subsampling, rate_dc, rate_chroma)
            dequantized = tuple(
                _quantize(quantizer, quant, z, q, generator) * q
                for quant, z, q in zip(soft, coefficients, steps, strict=True)
            )
            decoded = synthesize(dequantized, tuple(images.shape[-2:]), subsampling, exact=True)
            task = sum(
                _task_loss(model(decoded), labels, reference, loss)
                for model, reference in zip(model_list, references, strict=True)
            ) / len(model_list)
            objective = task + lam * rate.bpp
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            params.clamp_()
            step += 1
            record = {"step": step, "objective": objective.item(), "task": task.item(), "bpp": rate.bpp.item()}
            history.append(record)
            batches.set_postfix(task=f"{record['task']:.3f}", bpp=f"{record['bpp']:.3f}")
    if channels is None:
        raise ValueError("data: no batches")
    settings = {
        "init": _initial(init).to_dict(), "quantizer": quantizer, "loss": loss, "epochs": epochs, "lr": lr,
        "step_range": list(step_range), "window": window, "rate_dc": rate_dc, "rate_chroma": rate_chroma,
        "learn_hardness": learn_hardness, "seed": seed, "models": len(model_list),
    }  # fmt: skip
    tables = QuantTables(*(t.detach().cpu() for t in (params.tables().luma, params.tables().chroma)))
    return LearnedTables(tables, float(lam), params.hardness().detach().cpu(), subsampling, channels, settings, history)


def _quantize(kind: str, soft, coefficients: torch.Tensor, steps: torch.Tensor, generator: torch.Generator):
    if kind == "soft":
        return soft(coefficients, steps)
    if kind == "ste":
        return StraightThroughQuantizer()(coefficients, steps)
    sampled = SampledQuantizer(alpha=soft.alpha, window=soft.window, generator=generator)
    return sampled(coefficients, steps)

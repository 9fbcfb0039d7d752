"""J4D: learn JPEG quantization tables for frozen classifiers, task loss + lambda x rate.

The objective is the one real files pay (:mod:`jpegdl.j4d.objective`): the frozen models' task
loss on images decoded from libjpeg-rounded coefficients, plus lambda x the empirical entropy of
the hard indices in bits per pixel (DC coded as differences). Several models give "universal"
tables (their mean loss).

1. The images are encoded once (cached DCT coefficients); a fraction is held out.
2. Warm start: lambda-matched sensitivity tables (``jpegdl.tables.sensitivity``) with the scale
   that scores best on the learning images.
3. ``method="search"`` (default): coordinate descent over integer steps per frequency on the
   exact objective (:mod:`jpegdl.j4d.search`). ``method="gradient"``: Adam on log steps with
   sign-correct estimators (:mod:`jpegdl.j4d.gradient`).
4. The returned tables are the best of {initial tables, warm start, every sweep / evaluation}
   on the held-out images: never worse than where the learner started.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch
from torch import nn

from jpegdl.j4d.gradient import gradient_descent
from jpegdl.j4d.objective import (
    TASK_LOSSES,
    CachedSet,
    add_references,
    cache_batches,
    check_models,
    evaluate,
    isfinite_number,
    split_held_out,
)
from jpegdl.j4d.search import CoordinateSearch
from jpegdl.j4d.warmstart import cached_sensitivity, decoded_batches, warm_start
from jpegdl.jpeg.sampling import check_subsampling
from jpegdl.jpeg.tables import QuantTables
from jpegdl.utils import DistContext, option, resolve_device

METHODS = ("search", "gradient")


@dataclass
class LearnedTables:
    """Result of :func:`learn_tables`: the tables, what produced them, and the learning history.

    ``rounded()`` (integers 1..255) is what real files use; :meth:`save` writes JSON that
    ``QuantTables.load`` (and ``jpegdl compress --tables``) read directly.
    """

    tables: QuantTables
    lam: float
    hardness: torch.Tensor  # (2, 8, 8), for the probabilistic encoder only
    subsampling: str
    channels: int
    settings: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def rounded(self) -> QuantTables:
        """The tables as integers 1..255, what a file stores (a method, like ``QuantTables.rounded``)."""
        return self.tables.rounded()

    def to_dict(self) -> dict:
        hardness = self.hardness.detach().cpu()
        single = bool(torch.all(hardness == hardness.flatten()[0]))
        return {
            **self.rounded().to_dict(),
            "hardness": float(hardness.flatten()[0]) if single else hardness.tolist(),
            "subsampling": self.subsampling,
            "channels": self.channels,
            "lambda": self.lam,
            "settings": self.settings,
            "history": self.history,
        }

    def save(self, path: str | Path) -> Path:
        """Write the JSON atomically (temporary file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        temporary.replace(path)
        return path


def load_hardness(path: str | Path, default: float = 8.0) -> float | torch.Tensor:
    """The ``hardness`` recorded in a learned-tables JSON (``default`` for plain tables files)."""
    data = json.loads(Path(path).read_text())
    value = data.get("hardness", default)
    return torch.tensor(value) if isinstance(value, list) else float(value)


def _initial(init: QuantTables | int | None) -> QuantTables | None:
    if init is None or isinstance(init, QuantTables):
        return init
    if isinstance(init, int) and not isinstance(init, bool) and 0 <= init <= 100:
        return QuantTables.from_quality(init)
    raise ValueError(f"init: expected None, QuantTables or an IJG quality 0..100, got {init!r}")


@dataclass(frozen=True)
class J4DConfig:
    """How :func:`learn_tables` learns; ``jpegdl learn-tables`` generates its flags from these fields."""

    method: str = option("search", "search: exact coordinate descent over integer steps; gradient: Adam on log"
                         " steps", choices=METHODS)  # fmt: skip
    subsampling: str = option("4:4:4", "chroma subsampling of colour images (grayscale has none)",
                              choices=("4:4:4", "4:2:0"))  # fmt: skip
    loss: str = option("ce", "task loss: ce (labels) or kl (to the model's output on the uncompressed image)",
                       choices=TASK_LOSSES)  # fmt: skip
    held_out: float = option(0.25, "fraction of the images that picks the returned tables")
    limit: int | None = option(None, "use at most N images of the data", metavar="N")
    sweeps: int = option(2, "search: passes over all frequencies")
    steps: int = option(100, "gradient: Adam steps")
    batch_size: int = option(128, "gradient: images per step")
    lr: float = option(0.03, "gradient: initial Adam rate on the log steps")
    hardness: float = option(8.0, "recorded for probabilistic encoding (alpha = hardness / q^2); not learned")
    seed: int = option(0, "seed of the held-out split and the gradient method's batches")


def learn_tables(
    models: nn.Module | Sequence[nn.Module],
    data: Iterable,
    lam: float,
    config: J4DConfig | None = None,
    *,
    init: QuantTables | int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    **options: object,
) -> LearnedTables:
    """Learn luma/chroma tables for frozen classifiers (J4D), one rate-accuracy trade-off ``lam``.

    Args:
        models: one classifier or several (universal tables); each maps ``(B, C, H, W)``
            images in [0, 1] to logits (normalisation inside). They are put in eval mode and frozen.
        data: yields ``(images, labels)``, images ``(B, C, H, W)`` float in [0, 1], C = 1 or 3,
            one size throughout. Encoded once; ``config.limit`` caps the number of images.
        lam: weight ``lambda >= 0`` of the bits per pixel (entropy of the hard indices).
        config: a :class:`J4DConfig` (method ``"search"`` or ``"gradient"``, subsampling, loss,
            held-out fraction, the search's sweeps, the gradient method's steps, batch and lr,
            hardness, seed); ``**options`` override single fields (``method="gradient"``).
        init: ``None`` (lambda-matched sensitivity tables) or tables / an IJG quality; the
            warm start is tried too, and the result is never worse than either on held-out images.
        device: where models and coefficients live (``"auto"``: CUDA when available).

    Returns:
        :class:`LearnedTables` with integer tables; ``history`` holds every candidate's
        held-out objective, ``settings["seconds"]`` the learning time.
    """
    began = time.perf_counter()
    config = config if config is not None else J4DConfig()
    unknown = set(options) - {f.name for f in fields(J4DConfig)}
    if unknown:
        raise ValueError(f"options: unknown {sorted(unknown)}; J4DConfig has {[f.name for f in fields(J4DConfig)]}")
    config = replace(config, **options)
    method, subsampling, loss, held_out, limit = (config.method, config.subsampling, config.loss, config.held_out,
                                                  config.limit)  # fmt: skip
    sweeps, steps, batch_size, lr, hardness, seed = (config.sweeps, config.steps, config.batch_size, config.lr,
                                                     config.hardness, config.seed)  # fmt: skip
    if not (isfinite_number(lam) and lam >= 0):
        raise ValueError(f"lam: expected a finite value >= 0, got {lam!r}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if loss not in TASK_LOSSES:
        raise ValueError(f"loss: expected one of {TASK_LOSSES}, got {loss!r}")
    if not isinstance(sweeps, int) or sweeps < 1:
        raise ValueError(f"sweeps: expected an integer >= 1, got {sweeps!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    if not (isfinite_number(lr) and lr > 0):
        raise ValueError(f"lr: expected a finite value > 0, got {lr!r}")
    if not (isfinite_number(hardness) and hardness > 0):
        raise ValueError(f"hardness: expected a finite value > 0, got {hardness!r}")
    check_subsampling(subsampling)
    initial = _initial(init)
    device = device if isinstance(device, torch.device) else resolve_device(device, DistContext())
    model_list = check_models(models, device)
    cached = cache_batches(data, subsampling, limit, device)
    try:
        with torch.no_grad():
            model_list[0](cached_images_probe(cached))
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"models: cannot classify the data's {tuple(cached_images_probe(cached).shape[1:])}"
                         f" images ({err})") from None  # fmt: skip
    if loss == "kl":
        add_references(cached, model_list)
    learn, held = split_held_out(cached, held_out, seed)
    sensitivity = cached_sensitivity(model_list, learn) if lam > 0 else None
    start, scale_records = warm_start(model_list, learn, float(lam), loss, sensitivity)
    candidates = {"warm_start": start} | ({"init": initial.rounded()} if initial is not None else {})
    history: list[dict] = [{"stage": "warm_start_scales", "records": scale_records}]
    if method == "search":
        search = CoordinateSearch(model_list, learn, float(lam), loss)
        state = search.start(start)
        for sweep in range(1, sweeps + 1):
            changes = search.sweep(state, progress, f"search lambda {lam:g}, sweep {sweep}/{sweeps}")
            candidates[f"sweep{sweep}"] = search.tables_of(state)
            history.append({"stage": f"sweep{sweep}", "changes": changes, "learning": search.objective(state)})
            if changes == 0:
                break
        extra = {"sweeps": sweeps, "image_evaluations": search.evaluations}
    else:
        tables, _, records = gradient_descent(model_list, learn, held, float(lam), start, loss, steps, batch_size,
                                              lr, seed=seed, progress=progress)  # fmt: skip
        candidates["gradient"] = tables
        history.append({"stage": "gradient", "records": records})
        extra = {"steps": steps, "batch_size": batch_size, "lr": lr}
    scores = {name: evaluate(model_list, held, tables, float(lam), loss) for name, tables in candidates.items()}
    chosen = min(scores, key=lambda name: scores[name].objective)
    history.append({"stage": "held_out", "scores": {k: v.to_dict() for k, v in scores.items()}, "chosen": chosen,
                    "tables": {k: v.to_dict() for k, v in candidates.items()}})  # fmt: skip
    settings = {
        "method": method, "loss": loss, "images": len(cached), "held_out_images": len(held),
        "init": None if initial is None else initial.to_dict(), "seed": seed, "models": len(model_list),
        "chosen": chosen, "seconds": round(time.perf_counter() - began, 2), **extra,
    }  # fmt: skip
    if sensitivity is not None:  # the RD encoder weighs its choices with it
        settings["sensitivity"] = {"luma": sensitivity[0].tolist(), "chroma": sensitivity[1].tolist()}
    return LearnedTables(candidates[chosen], float(lam), torch.full((2, 8, 8), float(hardness)), subsampling,
                         cached.channels, settings, history)  # fmt: skip


def cached_images_probe(cached: CachedSet) -> torch.Tensor:
    """Two uncompressed images of a cached set (to check the models accept them)."""
    return next(decoded_batches(cached.subset(slice(0, 2))))[0]

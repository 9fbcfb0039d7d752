"""Per-layer profiling and ``convert``: the paper's offline per-layer selection of the fastest method.

``profile_layers`` runs the model once on a sample to capture every eligible convolution's real input, then
times each method on it (median of repeats, ``torch.get_num_threads()`` threads, lowering/encoding included)
and measures each lowered format in bytes. ``convert`` swaps the layers for ``SparseConv2d`` with the
fastest candidate (or one fixed method).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm import tqdm

from jpegdl.sparse.formats import WIDTHS, dense_input_bytes, im2col_bytes, mec_bytes
from jpegdl.sparse.geometry import ConvGeometry
from jpegdl.sparse.module import SparseConv2d, is_eligible
from jpegdl.sparse.ops import METHODS, encode
from jpegdl.utils import wall_times

CANDIDATES = ("cpo", "cps", "im2col", "torch")  # the per-layer choice ("auto"), as in the paper plus PyTorch's conv
TORCH_MARGIN = 0.05  # keep PyTorch's conv unless another method is at least this much faster
WHOLE_MODEL_MARGIN = 0.03  # keep the plain model unless a conversion is at least this much faster end to end
STRONG_GAIN = 0.25  # the reduced selection keeps only layers at least this much faster than PyTorch's conv


def choose(fastest: dict[str, float], candidates: Iterable[str] = CANDIDATES, margin: float = TORCH_MARGIN) -> str:
    """The candidate with the shortest fastest-repeat time; "torch" unless beaten by ``margin`` (a fraction).

    The fastest repeat, not the median, because on a shared CPU the median mostly measures other processes;
    the margin keeps a layer unchanged when a method wins only within timing noise.
    """
    timed = [m for m in candidates if m in fastest]
    if not timed:
        raise ValueError(f"candidates: none of {list(candidates)} was timed")
    best = min(timed, key=fastest.__getitem__)
    if "torch" in timed and best != "torch" and fastest[best] > (1 - margin) * fastest["torch"]:
        return "torch"
    return best


@dataclass
class LayerProfile:
    """One convolution on its sample input: sparsity, bytes of each lowered format, seconds of each method."""

    name: str
    geometry: ConvGeometry
    sparsity: float  # fraction of the input's elements that are zero
    zero_channels: float  # fraction of (image, channel) planes that are all zero
    bytes: dict[str, int]  # im2col, mec, cpo, cps (lowered formats) and input (the dense map)
    index_bits: dict[str, int]  # cpo, cps word widths
    seconds: dict[str, float]  # median wall time per method
    choice: str  # ``choose(min_seconds)``
    min_seconds: dict[str, float]  # fastest repeat per method (less sensitive to other processes)

    def compression(self, fmt: str) -> float:
        """im2col bytes / bytes of ``fmt`` (both at their real widths)."""
        return self.bytes["im2col"] / max(self.bytes[fmt], 1)

    def to_dict(self) -> dict:
        record = asdict(self)
        g = self.geometry
        record["geometry"] = {"batch": g.batch, "in_channels": g.in_channels, "out_channels": g.out_channels,
                              "input": [g.height, g.width], "kernel": list(g.kernel), "stride": list(g.stride),
                              "padding": list(g.padding), "output": list(g.out_size)}  # fmt: skip
        record["compression_vs_im2col"] = {f: round(self.compression(f), 3) for f in ("mec", "cpo", "cps")}
        return record


def eligible_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """Name -> module of every convolution the sparse methods handle (``is_eligible``)."""
    return {name: module for name, module in model.named_modules() if is_eligible(module)}


def capture_inputs(model: nn.Module, sample: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """The input each named module receives when ``model(sample)`` runs (no gradients)."""
    captured: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    hooks = [modules[name].register_forward_pre_hook(lambda _m, args, name=name: captured.__setitem__(
        name, args[0].detach().clone())) for name in names]  # fmt: skip
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for hook in hooks:
            hook.remove()
    return captured


def _check_sample(model: nn.Module, sample: torch.Tensor) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(sample, torch.Tensor) or sample.dtype != torch.float32 or sample.device.type != "cpu":
        raise ValueError("sample: expected a float32 CPU tensor the model accepts (a batch of inputs)")


def profile_layer(
    name: str, conv: nn.Conv2d, x: torch.Tensor, methods: Iterable[str] = METHODS,
    candidates: Iterable[str] = CANDIDATES, repeats: int = 7, warmup: int = 2,
) -> LayerProfile:  # fmt: skip
    """Time every method on ``x`` (the layer's real input) and measure every format; check each output."""
    kc, _, kh, kw = conv.weight.shape
    geometry = ConvGeometry(*x.shape, kc, (kh, kw), tuple(conv.stride), tuple(conv.padding))
    with torch.no_grad():
        expected = conv(x)
        seconds, fastest = {}, {}
        for method in methods:
            layer = SparseConv2d(conv, method)
            got = layer(x)
            scale = expected.abs().max().item() + 1.0
            if not torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * scale):
                error = (got - expected).abs().max().item()
                raise RuntimeError(f"{name}: method {method} differs from Conv2d by {error:.3g}")
            times = wall_times(lambda layer=layer: layer(x), repeats, warmup)
            seconds[method], fastest[method] = statistics.median(times), min(times)
    cpo, cps = encode(x, geometry, "cpo"), encode(x, geometry, "cps")
    planes_zero = (x.flatten(2) == 0).all(dim=2).float().mean().item()
    return LayerProfile(
        name=name, geometry=geometry, sparsity=(x == 0).float().mean().item(), zero_channels=planes_zero,
        bytes={"im2col": im2col_bytes(geometry), "mec": mec_bytes(geometry), "cpo": cpo.nbytes(),
               "cps": cps.nbytes(), "input": dense_input_bytes(geometry)},
        index_bits={"cpo": cpo.index_bits, "cps": cps.index_bits},
        seconds=seconds, choice=choose(fastest, candidates), min_seconds=fastest,
    )  # fmt: skip


def profile_layers(model: nn.Module, sample: torch.Tensor, methods: Iterable[str] = METHODS,
                   candidates: Iterable[str] = CANDIDATES, repeats: int = 7, warmup: int = 2,
                   progress: bool = False) -> list[LayerProfile]:  # fmt: skip
    """Profile every eligible convolution of ``model`` on its input for ``model(sample)``.

    Raises:
        ValueError: unknown method names, bad sample.
    """
    methods, candidates = list(methods), list(candidates)
    unknown = sorted(set(methods + candidates) - set(METHODS))
    if unknown:
        raise ValueError(f"methods: unknown {unknown}; expected names from {', '.join(METHODS)}")
    _check_sample(model, sample)
    model = model.eval()
    layers = eligible_layers(model)
    inputs = capture_inputs(model, sample, layers)
    names = [name for name in layers if name in inputs]  # layers the forward pass did not reach are skipped
    return [profile_layer(name, layers[name], inputs[name], methods, candidates, repeats, warmup)
            for name in tqdm(names, desc="profiling layers", disable=not progress)]  # fmt: skip


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def _build(model: nn.Module, layers: dict[str, nn.Conv2d], choices: dict[str, str]) -> nn.Module:
    converted = copy.deepcopy(model).eval()
    for name, conv in layers.items():
        chosen = choices.get(name, "torch")
        if chosen != "torch":
            _replace(converted, name, SparseConv2d(conv, chosen))
    return converted


def time_selections(model: nn.Module, profiles: list[LayerProfile], sample: torch.Tensor,
                    repeats: int = 7) -> list[tuple[dict[str, str], float]]:  # fmt: skip
    """Whole-model seconds (fastest repeat, variants timed round-robin) of ``model(sample)`` under each
    distinct selection of {no layer, every layer's choice, only the layers whose choice beat PyTorch by
    ``STRONG_GAIN``}: ``[(choices, seconds), ...]``, the plain model first."""
    layers = eligible_layers(model)
    every = {p.name: p.choice for p in profiles if p.choice != "torch"}
    strong = {p.name: p.choice for p in profiles if p.name in every
              and p.min_seconds[p.choice] <= (1 - STRONG_GAIN) * p.min_seconds.get("torch", float("inf"))}  # fmt: skip
    selections: list[dict[str, str]] = [{}]
    for choices in (every, strong):
        if choices and choices not in selections:
            selections.append(choices)
    variants = [_build(model, layers, choices) for choices in selections]
    fastest = [float("inf")] * len(variants)
    with torch.no_grad():
        for variant in variants:
            variant(sample)  # warm-up
        for _ in range(repeats):
            for i, variant in enumerate(variants):
                start = time.perf_counter()
                variant(sample)
                fastest[i] = min(fastest[i], time.perf_counter() - start)
    return list(zip(selections, fastest, strict=True))


def whole_model_choices(model: nn.Module, profiles: list[LayerProfile], sample: torch.Tensor,
                        repeats: int = 7) -> dict[str, str]:  # fmt: skip
    """The per-layer choices confirmed on the whole model: the fastest of :func:`time_selections`,
    where a conversion must beat the plain model by ``WHOLE_MODEL_MARGIN``.

    Per-layer timings miss what a layer change costs its neighbours (cache state, thread wake-ups), so
    a selection whose layers each win can still lose end to end; this check keeps it from shipping.
    """
    (_, plain_seconds), *conversions = time_selections(model, profiles, sample, repeats)
    if not conversions:
        return {}
    choices, seconds = min(conversions, key=lambda pair: pair[1])
    return choices if seconds <= (1 - WHOLE_MODEL_MARGIN) * plain_seconds else {}


def convert(model: nn.Module, sample: torch.Tensor | None = None, method: str = "auto",
            profiles: list[LayerProfile] | None = None, repeats: int = 7,
            check_whole: bool = True) -> nn.Module:  # fmt: skip
    """A copy of ``model`` (eval mode) whose eligible ``Conv2d`` layers compute by a sparse method.

    Args:
        model: any module; its eligible convolutions (groups 1, dilation 1, not 1x1) are replaced.
        sample: a batch the model accepts, shaped like the batches it will serve; with ``method="auto"``
            each layer is profiled on its input for it.
        method: "auto" (per layer the fastest of ``CANDIDATES``; "torch" keeps the ``Conv2d``) or one of
            ``METHODS`` for every eligible layer.
        profiles: earlier ``profile_layers`` results to choose from instead of profiling again.
        repeats: timed runs per layer and per whole-model variant.
        check_whole: with "auto" and a sample, confirm the selection on the whole model
            (``whole_model_choices``), so the result is never slower than the plain model on ``sample``.

    Raises:
        ValueError: unknown method, or "auto" without a sample or profiles.
    """
    if method != "auto" and method not in METHODS:
        raise ValueError(f"method: expected 'auto' or one of {', '.join(METHODS)}, got {method!r}")
    model = copy.deepcopy(model).eval()
    layers = eligible_layers(model)
    if method == "auto":
        if profiles is None:
            if sample is None:
                raise ValueError("sample: method='auto' needs a sample batch (or profiles) to profile the layers")
            profiles = profile_layers(model, sample, methods=CANDIDATES, repeats=repeats)
        if check_whole and sample is not None:
            _check_sample(model, sample)
            choices = whole_model_choices(model, profiles, sample, repeats)
        else:
            choices = {p.name: p.choice for p in profiles}
    else:
        choices = dict.fromkeys(layers, method)
    return _build(model, layers, choices)


def format_profiles(profiles: list[LayerProfile], threads: int | None = None) -> str:
    """Text table: one row per layer (sparsity, KiB and compression ratio of each format, microseconds of each
    method, the choice); the widths of the stored elements are stated beneath."""
    methods = [m for m in METHODS if any(m in p.seconds for p in profiles)]
    header = (f"{'layer':<22}{'C>Kc':>9}{'k/s':>6}{'HxW':>8}{'zero%':>7}{'0ch%':>6}"
              f"{'im2col KiB':>11}{'MEC':>8}{'CPO':>8}{'CPS':>8}{'CR CPO':>7}{'CR CPS':>7}"
              + "".join(f"{m + ' us':>11}" for m in methods) + f"{'choice':>8}")  # fmt: skip
    lines = [header]
    for p in profiles:
        g = p.geometry
        kib = [p.bytes[f] / 1024 for f in ("im2col", "mec", "cpo", "cps")]
        times = "".join(f"{p.seconds[m] * 1e6:>11.0f}" if m in p.seconds else f"{'-':>11}" for m in methods)
        lines.append(
            f"{p.name[-22:]:<22}{f'{g.in_channels}>{g.out_channels}':>9}{f'{g.kernel[0]}/{g.stride[0]}':>6}"
            f"{f'{g.height}x{g.width}':>8}{100 * p.sparsity:>7.1f}{100 * p.zero_channels:>6.1f}"
            f"{kib[0]:>11.1f}{kib[1]:>8.1f}{kib[2]:>8.1f}{kib[3]:>8.1f}"
            f"{p.compression('cpo'):>7.1f}{p.compression('cps'):>7.1f}{times}{p.choice:>8}"
        )  # fmt: skip
    batch = profiles[0].geometry.batch if profiles else 0
    lines.append(f"batch {batch}, threads {threads or torch.get_num_threads()}; times: median wall time incl. "
                 "lowering/encoding; CR = im2col bytes / format bytes; choice: fastest repeat, PyTorch kept "
                 f"unless beaten by {100 * TORCH_MARGIN:.0f} %")  # fmt: skip
    lines.append(f"widths: {WIDTHS}")
    return "\n".join(lines)

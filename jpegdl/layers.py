"""JPEG-DL: a trainable JPEG layer to put in front of any vision model.

The layer runs the shared libjpeg-faithful pipeline (``jpegdl.jpeg.codec.analyze`` /
``synthesize``) and quantizes every DCT coefficient with trainable steps: one luma and one
chroma 8x8 table per round, trained in log space (grayscale uses the luma table). In ``soft`` mode it
uses JPEG-DL's soft quantizer (training); in ``hard`` mode it rounds with the learned tables
rounded to integers 1..255, i.e. exactly what a real JPEG file with those tables decodes to.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from jpegdl.jpeg.codec import analyze, component_steps, synthesize
from jpegdl.jpeg.quantize import SoftQuantizer, StraightThroughQuantizer
from jpegdl.jpeg.sampling import check_subsampling
from jpegdl.jpeg.tables import QuantTables
from jpegdl.tables.trainable import TrainableTables, alpha_from_hardness

MODES = ("soft", "ste", "hard")


class JPEGLayer(nn.Module):
    """Trainable JPEG layer: ``(B, C, H, W)`` images in [0, 1] -> same shape, JPEG-processed.

    Args:
        channels: 3 (RGB: luma + chroma tables) or 1 (grayscale: luma table only).
        init: initial steps: ``QuantTables`` (any positive values), or ``"ijg"`` (IJG
            ``quality``) or ``"flat"`` (every step ``flat_step``).
        rounds: number of quantization rounds applied in series in the DCT domain, each
            with its own tables (JPEG-DL's multi-round variant).
        alpha: soft-quantizer hardness on the coefficient scale (fixed), unless ``hardness``
            is given, in which case ``alpha = hardness / q^2`` per entry ("hardness matching",
            :func:`jpegdl.tables.alpha_from_hardness`, the rule J4D uses too).
        window: number K of candidate indices of the soft quantizer.
        index_range: optional bound on indices (JPEG-DL's reference code uses (-127, 127)).
        step_range: steps are clamped into ``[low, high]`` before every training forward pass.
            The steps are trained in log space (:class:`jpegdl.tables.TrainableTables`): a
            learning rate is a relative change per step.
        subsampling: ``"4:4:4"`` (JPEG-DL) or any mode ``jpegdl.encode`` accepts (``"4:2:0"``, ``"4:2:2"``, ...).
        exact: libjpeg's integer arithmetic in the forward pass (straight-through gradients).
        mode: ``"soft"``, ``"ste"`` (hard rounding, straight-through gradient) or ``"hard"``
            (the tables rounded to integers 1..255, as in a file; gradients reach the images
            straight through the rounding, so attacks can target it, but never the tables).
    """

    def __init__(
        self,
        channels: int = 3,
        init: QuantTables | str = "ijg",
        quality: int = 90,
        flat_step: float = 8.0,
        rounds: int = 1,
        alpha: float = 5.0,
        hardness: float | None = None,
        window: int = 5,
        index_range: tuple[int, int] | None = None,
        step_range: tuple[float, float] = (0.1, 255.0),
        subsampling: str = "4:4:4",
        exact: bool = True,
        mode: str = "soft",
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels: expected 1 or 3, got {channels!r}")
        if not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds: expected an integer >= 1, got {rounds!r}")
        low, high = step_range
        if hardness is not None and not hardness > 0:
            raise ValueError(f"hardness: expected a value > 0, got {hardness!r}")
        SoftQuantizer(alpha=alpha, window=window, index_range=index_range)  # validates the options
        self.channels = channels
        self.subsampling = check_subsampling(subsampling)
        self.exact = exact
        self.hardness, self.window, self.index_range = hardness, window, index_range
        self.alpha = alpha
        self.mode = mode
        initial = _initial_tables(init, quality, flat_step)
        self.trainable_tables = TrainableTables(initial, rounds, (low, high), chroma=channels == 3)

    @property
    def alpha(self) -> float | torch.Tensor:
        """Soft-quantizer hardness on the coefficient scale (when ``hardness`` is None)."""
        return self._alpha

    @alpha.setter
    def alpha(self, value: float | torch.Tensor) -> None:
        # Validated once here and reused by every forward pass (no checks, no host syncs per call).
        self._fixed_quantizer = SoftQuantizer(alpha=value, window=self.window, index_range=self.index_range)
        self._alpha = value

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {value!r}")
        self._mode = value

    @property
    def rounds(self) -> int:
        return self.trainable_tables.rounds

    @property
    def step_range(self) -> tuple[float, float]:
        return self.trainable_tables.step_range

    def table_parameters(self) -> list[nn.Parameter]:
        """The trainable (log) steps, for their own optimizer (JPEG-DL trains them with Adam, no decay)."""
        return [self.trainable_tables.log_steps]

    def clamp_(self) -> None:
        """Clamp every step into ``step_range`` in place (JPEG-DL's pre-forward constraint)."""
        self.trainable_tables.clamp_()

    def tables(self, round_index: int = -1) -> QuantTables:
        """The learned float steps of one round (detached; grayscale: chroma = luma)."""
        steps = self.trainable_tables.steps()[round_index].detach().clone()
        return QuantTables(steps[0], steps[1])

    def rounded(self, round_index: int = -1) -> QuantTables:
        """One round's tables rounded into integers 1..255: what a real JPEG file with them holds."""
        return self.tables(round_index).rounded()

    def _quantizer(self, steps: torch.Tensor) -> SoftQuantizer | StraightThroughQuantizer:
        if self.mode in ("hard", "ste"):  # "hard" differs in its steps (tables_for_forward)
            return StraightThroughQuantizer()
        if self.hardness is None:
            return self._fixed_quantizer
        alpha = alpha_from_hardness(self.hardness, steps)
        return SoftQuantizer(alpha=alpha, window=self.window, index_range=self.index_range)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if isinstance(images, torch.Tensor) and images.dim() == 4 and images.shape[1] != self.channels:
            raise ValueError(f"images: the layer was built for {self.channels} channel(s), got {images.shape[1]}")
        if self.training:
            self.clamp_()
        components = analyze(images, self.subsampling, self.exact)  # validates the images
        for round_index in range(self.rounds):
            tables = self.tables_for_forward(round_index)
            steps = component_steps(tables, len(components), images.dtype)
            components = tuple(self._quantizer(s)(c, s) * s for c, s in zip(components, steps, strict=True))
        return synthesize(components, tuple(images.shape[-2:]), self.subsampling, self.exact)

    def tables_for_forward(self, round_index: int) -> QuantTables:
        """Steps used in the forward pass: the float steps, or their baseline rounding in ``hard`` mode."""
        tables = self.trainable_tables.tables(round_index)
        steps = tables.luma
        if self.mode == "hard":
            return tables.rounded().to(device=steps.device, dtype=steps.dtype)
        return tables

    def extra_repr(self) -> str:
        alpha = f"hardness={self.hardness}" if self.hardness is not None else f"alpha={self.alpha}"
        return (
            f"channels={self.channels}, rounds={self.rounds}, mode={self.mode!r}, {alpha}, window={self.window},"
            f" subsampling={self.subsampling!r}, exact={self.exact}"
        )


def _initial_tables(init: QuantTables | str, quality: int, flat_step: float) -> QuantTables:
    if isinstance(init, QuantTables):
        if init.luma.dim() != 2:
            raise ValueError("init: expected one (8, 8) luma and chroma table, not per-sample tables")
        return init
    if init == "ijg":
        return QuantTables.from_quality(quality)
    if init == "flat":
        if not flat_step > 0:
            raise ValueError(f"flat_step: expected a value > 0, got {flat_step!r}")
        return QuantTables.flat(flat_step)
    raise ValueError(f"init: expected QuantTables, 'ijg' or 'flat', got {init!r}")


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` as a module (dataset normalisation moved into the model)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f"mean, std: expected equal lengths and std > 0, got {mean}, {std}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.mean) / self.std


class JPEGModel(nn.Module):
    """``model(normalize(layer(x)))``: a JPEG layer prepended to any classifier."""

    def __init__(self, layer: JPEGLayer, model: nn.Module, normalize: nn.Module | None = None) -> None:
        super().__init__()
        self.jpeg = layer
        self.normalize = normalize if normalize is not None else nn.Identity()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # The codec's exact integer stages need float32/64: keep it out of autocast.
        with torch.autocast(images.device.type, enabled=False):
            processed = self.jpeg(images.float())
        return self.model(self.normalize(processed))


def prepend(
    model: nn.Module,
    layer: JPEGLayer,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> JPEGModel:
    """Put ``layer`` (and the dataset normalisation after it) in front of ``model``.

    The returned model takes images in [0, 1]; drop ``Normalize`` from the data transforms.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(layer, JPEGLayer):
        raise ValueError(f"layer: expected a JPEGLayer, got {type(layer).__name__}")
    if (mean is None) != (std is None):
        raise ValueError("mean, std: give both or neither")
    normalize = Normalize(mean, std) if mean is not None else None
    if mean is not None and len(mean) != layer.channels:
        raise ValueError(
            f"mean: expected {layer.channels} values for a {layer.channels}-channel layer, got {len(mean)}"
        )
    return JPEGModel(layer, model, normalize)

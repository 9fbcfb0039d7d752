"""The JPEG pipeline end to end: ``encode`` images to quantized coefficients, ``decode`` them back.

Images are ``(B, C, H, W)`` float tensors in [0, 1], C = 1 (grayscale, luma table only)
or 3 (RGB), any H, W >= 1. With ``exact=True`` (default) every rounding and clamp that
libjpeg-turbo performs happens in the forward pass (pixels to 8 bits, fixed-point colour,
the chroma downsampling dither at any sampling factors, coefficient rounding, per-plane
clamps, fancy upsampling), and the
backward pass uses the smooth float version of each step (straight-through).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from jpegdl.jpeg.color import rgb_to_ycbcr, ycbcr_to_rgb
from jpegdl.jpeg.exact import forward_dct, inverse_dct
from jpegdl.jpeg.quantize import Quantizer, make_quantizer
from jpegdl.jpeg.sampling import check_subsampling, downsample, geometry, sampling_factors, upsample
from jpegdl.jpeg.ste import straight_through
from jpegdl.jpeg.tables import QuantTables


@dataclass(frozen=True)
class Coefficients:
    """Quantization indices of one batch, in jpeglib's block layout.

    Attributes:
        luma: the first component (Y; C for CMYK), ``(B, rows, cols, 8, 8)`` float tensor of
            indices (integer-valued for the hard, straight-through and sampled quantizers), with
            ``rows, cols`` its real block counts (``ceil(H/8), ceil(W/8)`` at full resolution).
        chroma: the other components: ``()`` for grayscale, ``(Cb, Cr)``, or 3 for 4-component
            files (``(M, Y, K)`` or YCCK's ``(Cb, Cr, K)``), each ``(B, rows, cols, 8, 8)`` with
            its plane size ``ceil(H * v / max_v) x ceil(W * h / max_h)`` in blocks.
        tables: the steps used (``luma`` for the first component, ``chroma`` for the others),
            unless ``component_tables`` is given.
        subsampling: a named mode (``"4:2:0"``, ``"4:2:2"``, ...) or ``"HxV,HxV,..."`` factors.
        size: original ``(H, W)``.
        color: ``"grayscale"``, ``"ycbcr"``, ``"rgb"``, ``"cmyk"`` or ``"ycck"``; empty means
            grayscale / YCbCr / CMYK by component count (libjpeg's default).
        component_tables: ``(8, 8)`` steps per component, overriding ``tables``, for files whose
            components do not follow the luma / shared chroma assignment; else ``()``.
    """

    luma: torch.Tensor
    chroma: tuple[torch.Tensor, ...]
    tables: QuantTables
    subsampling: str
    size: tuple[int, int]
    color: str = ""
    component_tables: tuple[torch.Tensor, ...] = ()

    @property
    def components(self) -> tuple[torch.Tensor, ...]:
        """``(Y,)`` or ``(Y, Cb, Cr)``."""
        return (self.luma, *self.chroma)

    @property
    def batch_size(self) -> int:
        return self.luma.shape[0]

    @property
    def num_channels(self) -> int:
        return len(self.components)

    def __getitem__(self, index: int | slice) -> Coefficients:
        """Select images of the batch (per-sample tables are selected along)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        tables = self.tables
        if tables.luma.dim() == 3:
            tables = QuantTables(tables.luma[index], tables.chroma[index])
        return replace(
            self,
            luma=self.luma[index],
            chroma=tuple(c[index] for c in self.chroma),
            tables=tables,
        )


def check_images(images: object, name: str = "images") -> torch.Tensor:
    """Validate a ``(B, C, H, W)`` float image batch in [0, 1] with C in {1, 3}; return it."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"{name}: expected shape (B, C, H, W), got {tuple(images.shape)}")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected 1 (grayscale) or 3 (RGB) channels, got {images.shape[1]}")
    if images.shape[0] < 1 or images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"{name}: empty batch or image, shape {tuple(images.shape)}")
    if not torch.is_floating_point(images):
        raise ValueError(f"{name}: expected a floating-point tensor in [0, 1], got dtype {images.dtype}")
    low, high = torch.stack(torch.aminmax(images.detach())).tolist()  # one host-device sync
    if not (low >= 0 and high <= 1):  # one pass; NaN fails both comparisons
        if not torch.isfinite(images.detach()).all():
            raise ValueError(f"{name}: contains NaN or Inf")
        raise ValueError(f"{name}: values must lie in [0, 1], got range [{low:.4g}, {high:.4g}]")
    return images


def _as_tables(tables: QuantTables | int, batch: int, device: torch.device) -> QuantTables:
    if isinstance(tables, bool):
        raise ValueError(f"tables: expected QuantTables or an IJG quality 0..100, got {tables!r}")
    if isinstance(tables, int):
        tables = QuantTables.from_quality(tables)
    if not isinstance(tables, QuantTables):
        raise ValueError(f"tables: expected QuantTables or an IJG quality 0..100, got {type(tables).__name__}")
    if tables.luma.dim() == 3 and tables.luma.shape[0] != batch:
        raise ValueError(f"tables: {tables.luma.shape[0]} per-sample tables for a batch of {batch}")
    return tables.to(device=device)


def _steps(table: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Reshape ``(8, 8)`` or ``(B, 8, 8)`` steps to broadcast over ``(B, h, w, 8, 8)`` blocks."""
    table = table.to(dtype)
    return table.view(1, 1, 1, 8, 8) if table.dim() == 2 else table.view(-1, 1, 1, 8, 8)


def analyze(images: torch.Tensor, subsampling: str = "4:2:0", exact: bool = True) -> tuple[torch.Tensor, ...]:
    """The encoder up to the DCT: unquantized coefficients per component.

    Args:
        images: ``(B, C, H, W)`` float in [0, 1], C = 1 or 3 (validated).
        subsampling: any mode :func:`~jpegdl.jpeg.sampling.check_subsampling` accepts.

    Returns:
        ``(Y,)`` or ``(Y, Cb, Cr)``, each ``(B, rows, cols, 8, 8)`` on libjpeg's scale (the
        orthonormal DCT of level-shifted samples; with ``exact``, libjpeg's ISLOW values / 8).
    """
    check_images(images)
    check_subsampling(subsampling)
    pixels = images * 255
    if exact:
        pixels = straight_through(pixels, (pixels.detach() + 0.5).floor_())
    planes = rgb_to_ycbcr(pixels, exact).unbind(1) if images.shape[1] == 3 else (pixels[:, 0],)
    factors = sampling_factors(subsampling, len(planes))
    max_v = max(v for _, v in factors)
    shapes = geometry(tuple(images.shape[-2:]), factors)
    return tuple(forward_dct(downsample(p, g, max_v, exact), exact) for p, g in zip(planes, shapes, strict=True))


def synthesize(
    dequantized: tuple[torch.Tensor, ...],
    size: tuple[int, int],
    subsampling: str = "4:2:0",
    exact: bool = True,
    color: str = "",
) -> torch.Tensor:
    """The decoder from dequantized coefficients (``index * step``) to pixels.

    Inverse DCT, per-plane clamp to 0..255 (libjpeg clamps every plane), crop, libjpeg-turbo's
    upsampling (fancy for 2x1, 1x2 and 2x2 ratios, else replication) and colour conversion.

    Args:
        color: ``"grayscale"``, ``"ycbcr"`` (default for 1 and 3 components), ``"rgb"``
            (Adobe transform 0: no conversion), ``"cmyk"`` or ``"ycck"`` (4 components).

    Returns:
        ``(B, C, H, W)`` in [0, 1]: C = 1 (gray), 3 (RGB) or 4 (CMYK as libjpeg-turbo outputs
        it: stored values, YCCK converted to CMYK, Adobe's inversion kept). With ``exact`` the
        values are multiples of 1/255 (libjpeg-turbo's pixels for integer input).
    """
    height, width = size
    color = color or default_color(len(dequantized))
    factors = sampling_factors(subsampling, len(dequantized))
    planes = []
    for component, shape in zip(dequantized, geometry(size, factors), strict=True):
        plane = inverse_dct(component, exact)[:, : shape.height, : shape.width]
        planes.append(upsample(plane, shape.expand, exact)[:, :height, :width])
    stacked = torch.stack(planes, dim=1)
    if color in ("grayscale", "rgb", "cmyk"):
        return stacked / 255
    rgb = ycbcr_to_rgb(stacked[:, :3], exact)
    if not exact:
        rgb = straight_through(rgb, rgb.detach().clamp(0, 255))
    if color == "ycck":  # jdcolor.c ycck_cmyk_convert: CMY = 255 - RGB, K passes through
        return torch.cat([255 - rgb, stacked[:, 3:]], dim=1) / 255
    return rgb / 255


def default_color(components: int) -> str:
    """libjpeg's colour space for a component count when no marker says otherwise."""
    return {1: "grayscale", 3: "ycbcr", 4: "cmyk"}[components]


def component_steps(tables: QuantTables, num_components: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """Steps per component (luma for Y, chroma for Cb and Cr), broadcastable over their blocks."""
    return tuple(_steps(tables.luma if i == 0 else tables.chroma, dtype) for i in range(num_components))


def encode(
    images: torch.Tensor,
    tables: QuantTables | int,
    subsampling: str = "4:2:0",
    quantizer: str | Quantizer = "hard",
    exact: bool = True,
) -> Coefficients:
    """Encode images to quantization indices as libjpeg-turbo would.

    Args:
        images: ``(B, C, H, W)`` float in [0, 1], C = 1 or 3.
        tables: :class:`QuantTables` (``(8, 8)`` or per-sample ``(B, 8, 8)`` steps) or an IJG
            quality 0..100.
        subsampling: ``"4:2:0"`` (libjpeg's default), ``"4:4:4"``, ``"4:2:2"``, ``"4:4:0"``,
            ``"4:1:1"``, ``"4:1:0"`` or per-component factors such as ``"2x2,1x2,1x1"``;
            ignored for grayscale.
        quantizer: ``"hard"``, ``"ste"``, ``"soft"``, ``"sampled"`` or a quantizer object.
        exact: reproduce libjpeg's integer arithmetic in the forward pass.

    Returns:
        :class:`Coefficients`; differentiable with respect to ``images`` and float tables
        for the ``ste``, ``soft`` and ``sampled`` quantizers.
    """
    quantize = make_quantizer(quantizer)
    components = analyze(images, subsampling, exact)  # validates the images
    tables = _as_tables(tables, images.shape[0], images.device)
    steps = component_steps(tables, len(components), images.dtype)
    indices = tuple(quantize(c, s) for c, s in zip(components, steps, strict=True))
    return Coefficients(indices[0], indices[1:], tables, check_subsampling(subsampling), tuple(images.shape[-2:]))


def decode(coefficients: Coefficients, exact: bool = True) -> torch.Tensor:
    """Decode indices to images as libjpeg-turbo would (ISLOW IDCT, fancy upsampling).

    Returns:
        ``(B, C, H, W)`` float in [0, 1]; with ``exact`` the values are multiples of 1/255.
    """
    if not isinstance(coefficients, Coefficients):
        raise ValueError(f"coefficients: expected Coefficients, got {type(coefficients).__name__}")
    components = coefficients.components
    if coefficients.component_tables:
        steps = tuple(_steps(t, components[0].dtype) for t in coefficients.component_tables)
    else:
        steps = component_steps(coefficients.tables, len(components), components[0].dtype)
    dequantized = tuple(c * s for c, s in zip(components, steps, strict=True))
    return synthesize(dequantized, coefficients.size, coefficients.subsampling, exact, coefficients.color)


class DiffJPEG(nn.Module):
    """Differentiable JPEG round trip ``decode(encode(x, tables))``.

    Holds no trainable parameters: pass float tables that require grad to learn them.

    Args:
        subsampling: any mode :func:`encode` accepts (``"4:2:0"``, ``"4:2:2"``, ``"2x2,1x2,1x1"``, ...).
        quantizer: ``"ste"`` (default), ``"soft"``, ``"sampled"``, ``"hard"`` or a quantizer object.
        exact: libjpeg-faithful forward pass (straight-through gradients).
        **quantizer_options: e.g. ``alpha=5.0, window=5`` for the soft quantizer.

    Shape:
        ``forward(x, tables)``: ``x`` is ``(B, C, H, W)`` in [0, 1]; returns the same shape.
    """

    def __init__(
        self,
        subsampling: str = "4:2:0",
        quantizer: str | Quantizer = "ste",
        exact: bool = True,
        **quantizer_options: object,
    ) -> None:
        super().__init__()
        self.subsampling = check_subsampling(subsampling)
        self.quantizer = make_quantizer(quantizer, **quantizer_options)
        self.exact = exact

    def forward(self, images: torch.Tensor, tables: QuantTables | int) -> torch.Tensor:
        coefficients = encode(images, tables, self.subsampling, self.quantizer, self.exact)
        return decode(coefficients, self.exact)

    def extra_repr(self) -> str:
        return f"subsampling={self.subsampling!r}, quantizer={self.quantizer}, exact={self.exact}"

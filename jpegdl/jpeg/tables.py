"""Quantization tables: Annex K bases, IJG quality scaling, zigzag order, validation.

Tables are 8x8 arrays in natural (row-major) order everywhere: row = vertical
frequency, column = horizontal frequency. Zigzag order is used only where a file
format demands it (the DQT marker, cjpeg's ``-qtables`` text is natural order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

ANNEX_K_LUMA = torch.tensor(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=torch.int64,
)
"""Annex K.1 luminance table (natural order), the IJG quality-50 luma table."""

ANNEX_K_CHROMA = torch.tensor(
    [
        [17, 18, 24, 47, 99, 99, 99, 99],
        [18, 21, 26, 66, 99, 99, 99, 99],
        [24, 26, 56, 99, 99, 99, 99, 99],
        [47, 66, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
    ],
    dtype=torch.int64,
)
"""Annex K.2 chrominance table (natural order), the IJG quality-50 chroma table."""

ZIGZAG_TO_NATURAL = torch.tensor(
    [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
     12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
     35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
     58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63],
    dtype=torch.int64,
)  # fmt: skip
"""Natural (row-major) index of the coefficient at zigzag position k = 0..63."""

NATURAL_TO_ZIGZAG = torch.argsort(ZIGZAG_TO_NATURAL)
"""Zigzag position of the coefficient at natural index 8 * row + col."""

BASELINE_MAX_STEP = 255


def to_zigzag(table: torch.Tensor) -> torch.Tensor:
    """Reorder ``(..., 8, 8)`` natural-order tables into ``(..., 64)`` zigzag order."""
    _check_table_shape(table, "table")
    return table.flatten(-2)[..., ZIGZAG_TO_NATURAL.to(table.device)]


def from_zigzag(values: torch.Tensor) -> torch.Tensor:
    """Reorder ``(..., 64)`` zigzag-ordered values into ``(..., 8, 8)`` natural order."""
    if values.shape[-1:] != (64,):
        raise ValueError(f"values: expected a last dimension of 64, got shape {tuple(values.shape)}")
    return values[..., NATURAL_TO_ZIGZAG.to(values.device)].unflatten(-1, (8, 8))


def ijg_scale_factor(quality: int) -> int:
    """libjpeg's ``jpeg_quality_scaling``: quality 1..100 -> percentage scale (0 is treated as 1)."""
    if isinstance(quality, bool) or not isinstance(quality, (int, float)) or quality != quality:
        raise ValueError(f"quality: expected an integer in 0..100, got {quality!r}")
    if not 0 <= quality <= 100 or quality != int(quality):
        raise ValueError(f"quality: expected an integer in 0..100, got {quality}")
    q = min(max(int(quality), 1), 100)
    return 5000 // q if q < 50 else 200 - 2 * q


def ijg_table(base: torch.Tensor, quality: int, force_baseline: bool = True) -> torch.Tensor:
    """Scale a base table by IJG quality exactly as libjpeg's ``jpeg_add_quant_table`` does.

    Args:
        base: ``(8, 8)`` integer table, natural order.
        quality: IJG quality 0..100 (0 behaves as 1; 50 returns ``base``; 100 gives all ones).
        force_baseline: clamp entries to 255 (what Pillow and ``cjpeg -baseline`` do).

    Returns:
        ``(8, 8)`` int64 table with entries in 1..32767 (1..255 with ``force_baseline``).
    """
    scale = ijg_scale_factor(quality)
    table = torch.clamp((base.to(torch.int64) * scale + 50) // 100, 1, 32767)
    return torch.clamp(table, max=BASELINE_MAX_STEP) if force_baseline else table


def validate_steps(table: torch.Tensor, name: str = "table") -> None:
    """Raise ``ValueError`` unless ``table`` is a finite, strictly positive ``(..., 8, 8)`` tensor."""
    _check_table_shape(table, name)
    if not torch.is_floating_point(table) and table.dtype not in _INTEGER_DTYPES:
        raise ValueError(f"{name}: expected a real-valued tensor, got dtype {table.dtype}")
    if torch.is_floating_point(table) and not torch.isfinite(table).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    if (table <= 0).any():
        raise ValueError(f"{name}: quantization steps must be > 0, got min {table.min().item()}")


def baseline_table(table: torch.Tensor, name: str = "table") -> torch.Tensor:
    """Return ``table`` as int64 after checking it can be written to an 8-bit DQT (integers 1..255).

    Raises:
        ValueError: non-integer entries, or entries outside 1..255. Round and clamp
            learned tables deliberately (``QuantTables.rounded()``) before export.
    """
    _check_table_shape(table, name)
    if table.shape != (8, 8):
        raise ValueError(f"{name}: expected one (8, 8) table for export, got shape {tuple(table.shape)}")
    values = table.detach().to(torch.float64)
    if not torch.isfinite(values).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    if not torch.equal(values, values.round()):
        raise ValueError(f"{name}: baseline JPEG needs integer steps; call .rounded() first")
    if values.min() < 1 or values.max() > BASELINE_MAX_STEP:
        raise ValueError(
            f"{name}: baseline JPEG steps must lie in 1..255, got range {int(values.min())}..{int(values.max())}"
        )
    return values.to(torch.int64)


@dataclass(frozen=True)
class QuantTables:
    """Luma and chroma quantization steps, natural order.

    Attributes:
        luma: ``(8, 8)`` or per-sample ``(B, 8, 8)`` positive steps (any real dtype;
            float tables may require grad).
        chroma: same shape as ``luma``, shared by Cb and Cr; ignored for grayscale.
    """

    luma: torch.Tensor
    chroma: torch.Tensor

    def __post_init__(self) -> None:
        validate_steps(self.luma, "tables.luma")
        validate_steps(self.chroma, "tables.chroma")
        if self.luma.shape != self.chroma.shape:
            raise ValueError(
                f"tables: luma {tuple(self.luma.shape)} and chroma {tuple(self.chroma.shape)} shapes differ"
            )

    @classmethod
    def from_quality(cls, quality: int, force_baseline: bool = True) -> QuantTables:
        """IJG tables for ``quality`` 0..100, identical to libjpeg's (int64)."""
        return cls(
            ijg_table(ANNEX_K_LUMA, quality, force_baseline),
            ijg_table(ANNEX_K_CHROMA, quality, force_baseline),
        )

    @classmethod
    def flat(cls, step: float) -> QuantTables:
        """Every frequency of both tables quantized with the same ``step``."""
        table = torch.full((8, 8), float(step))
        return cls(table, table.clone())

    def rounded(self) -> QuantTables:
        """Round to the nearest integer and clamp to 1..255: the tables a baseline file can hold."""

        def to_baseline(t: torch.Tensor) -> torch.Tensor:
            return torch.clamp(torch.round(t.detach().to(torch.float64)), 1, 255).to(torch.int64)

        return QuantTables(to_baseline(self.luma), to_baseline(self.chroma))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> QuantTables:
        """Move (and optionally cast) both tables."""
        return QuantTables(self.luma.to(device=device, dtype=dtype), self.chroma.to(device=device, dtype=dtype))

    def baseline(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Both tables as int64 ``(8, 8)`` after checking they are integers in 1..255."""
        return baseline_table(self.luma, "tables.luma"), baseline_table(self.chroma, "tables.chroma")

    def to_dict(self) -> dict[str, list[list[float]]]:
        """JSON-ready dict ``{"luma": 8x8 list, "chroma": 8x8 list}`` (natural order)."""

        def as_list(t: torch.Tensor) -> list[list[float]]:
            values = t.detach().cpu().to(torch.float64)
            if torch.equal(values, values.round()):
                return values.to(torch.int64).tolist()
            return values.tolist()

        return {"order": "natural", "luma": as_list(self.luma), "chroma": as_list(self.chroma)}

    @classmethod
    def from_dict(cls, data: dict) -> QuantTables:
        """Inverse of :meth:`to_dict`; accepts ``order`` ``"natural"`` (default) or ``"zigzag"``."""
        if not isinstance(data, dict) or "luma" not in data or "chroma" not in data:
            raise ValueError("tables: expected a mapping with 'luma' and 'chroma' entries")
        order = data.get("order", "natural")
        if order not in ("natural", "zigzag"):
            raise ValueError(f"tables.order: expected 'natural' or 'zigzag', got {order!r}")

        def parse(name: str) -> torch.Tensor:
            if _holds_bool(data[name]):
                raise ValueError(f"tables.{name}: expected numbers, got true/false")
            try:
                t = torch.tensor(data[name], dtype=torch.float64)
            except (TypeError, ValueError, RuntimeError) as err:
                raise ValueError(f"tables.{name}: not a numeric 8x8 array ({err})") from None
            if not torch.isfinite(t).all():
                raise ValueError(f"tables.{name}: contains NaN or Infinity")
            if t.numel() == 0 or t.numel() % 64:
                raise ValueError(f"tables.{name}: expected 64 values (or B x 64 per-sample), got {t.numel()}")
            per_sample = t.numel() > 64
            if order == "zigzag":
                t = from_zigzag(t.reshape(-1, 64))
            t = t.reshape(-1, 8, 8) if per_sample else t.reshape(8, 8)
            return t.to(torch.int64) if torch.equal(t, t.round()) else t

        return cls(parse("luma"), parse("chroma"))

    def save(self, path: str | Path) -> None:
        """Write the tables as JSON (natural order), atomically."""
        path = Path(path)
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            temporary.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | Path) -> QuantTables:
        """Read tables written by :meth:`save` (or any JSON with 'luma'/'chroma' 8x8 arrays)."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ValueError(f"tables path: no such file {str(path)!r}") from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
            raise ValueError(f"tables path: cannot read {str(path)!r} ({err})") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"tables path: {str(path)!r} is not valid JSON ({err})") from None
        return cls.from_dict(data)

    def to_cjpeg(self) -> str:
        """Text for ``cjpeg -qtables FILE``: two tables of 64 integers, natural order."""
        luma, chroma = self.baseline()
        blocks = []
        for name, table in (("luma", luma), ("chroma", chroma)):
            rows = "\n".join(" ".join(f"{v:3d}" for v in row) for row in table.tolist())
            blocks.append(f"# {name}\n{rows}")
        return "\n".join(blocks) + "\n"


def _holds_bool(value: object) -> bool:
    if isinstance(value, bool):
        return True
    return isinstance(value, (list, tuple)) and any(_holds_bool(v) for v in value)


_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _check_table_shape(table: object, name: str) -> None:
    if not isinstance(table, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(table).__name__}")
    if table.dim() < 2 or table.shape[-2:] != (8, 8):
        raise ValueError(f"{name}: expected shape (8, 8) or (B, 8, 8), got {tuple(table.shape)}")
    if table.dim() > 3:
        raise ValueError(f"{name}: expected shape (8, 8) or (B, 8, 8), got {tuple(table.shape)}")

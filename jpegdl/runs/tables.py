"""The learned tables of a JPEG-DL run, from its summary or (during training) its checkpoint."""

from __future__ import annotations

from pathlib import Path

from jpegdl.checkpoints import load_checkpoint
from jpegdl.runs.folder import RunFolder
from jpegdl.runs.model import jpeg_layer, model_from_state


def run_tables(run: str | Path) -> dict:
    """``{"luma": 8x8, "chroma": 8x8 (RGB only), "movement": {...} (when known)}`` float steps.

    Reads ``RUN/summary.json`` when the run finished, else the layer inside ``RUN/last.pt``.

    Raises:
        ValueError: no such run, or a run trained without a JPEG layer.
    """
    folder = RunFolder(run)
    if folder.summary.is_file():
        data = folder.read_summary()
        if not isinstance(data, dict) or "tables" not in data:
            raise ValueError(f"run: {str(folder.path)!r} was trained without a JPEG layer (no tables)")
        stored = data["tables"]
        names = ("luma",) if data.get("channels", 3) == 1 else ("luma", "chroma")
        for name in names:
            if not isinstance(stored, dict) or not _is_table(stored.get(name)):
                raise ValueError(f"run: {str(folder.summary)!r} holds no 8x8 {name} table under 'tables'")
        tables = {name: stored[name] for name in names}
        if isinstance(data.get("tables_movement"), dict):
            tables["movement"] = data["tables_movement"]
        return tables
    if not folder.checkpoint.is_file():
        raise ValueError(f"run: {str(folder.path)!r} has neither summary.json nor last.pt")
    model, _ = model_from_state(load_checkpoint(folder.checkpoint, "run"), str(folder.checkpoint), strip_jpeg=False)
    layer = jpeg_layer(model)
    if layer is None:
        raise ValueError(f"run: {str(folder.path)!r} was trained without a JPEG layer (no tables)")
    learned = layer.tables()
    tables = {"luma": learned.luma.tolist(), "movement": layer.trainable_tables.movement()}
    if layer.channels == 3:
        tables["chroma"] = learned.chroma.tolist()
    return tables


def _is_table(value: object) -> bool:
    """An 8x8 nested list of finite numbers."""
    import math

    if not (isinstance(value, list) and len(value) == 8):
        return False
    if not all(isinstance(row, list) and len(row) == 8 for row in value):
        return False
    numbers = [v for row in value for v in row]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers)

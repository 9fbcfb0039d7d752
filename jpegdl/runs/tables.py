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
        if "tables" not in data:
            raise ValueError(f"run: {str(folder.path)!r} was trained without a JPEG layer (no tables)")
        tables = {"luma": data["tables"]["luma"]}
        if data.get("channels", 3) != 1:
            tables["chroma"] = data["tables"]["chroma"]
        if "tables_movement" in data:
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

"""Checkpoints that load without running code: tensors, numbers, strings, lists and dicts only.

Used by every part that saves state (training runs, EDIC, LAW); it imports nothing of jpegdl but utils.

Every checkpoint is written atomically (temporary file + rename) and read with
``torch.load(weights_only=True)``: a file that needs more than that (a pickled object, which
could run code) is refused with a one-line ``ValueError``, as is a truncated or corrupt one.
"""

from __future__ import annotations

import pickle
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from jpegdl.utils import atomic_write


def save_checkpoint(payload: dict, path: str | Path) -> Path:
    """``torch.save`` ``payload`` to ``path`` atomically: readers never see a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda file: torch.save(payload, file))


def load_checkpoint(path: str | Path, name: str = "checkpoint") -> dict:
    """Read a checkpoint on the CPU, weights only.

    Raises:
        ValueError: no such file, a corrupt or truncated file, or one that would need to run
            code to load (the message names ``name`` and says why).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{name}: no such file {str(path)!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        blocked = re.search(r"(?:unsupported|unsafe) GLOBAL ([\w.]+)", str(err), re.IGNORECASE)
        if blocked:
            raise ValueError(
                f"{name}: refused {str(path)!r}: it holds more than weights (it would import {blocked.group(1)} to"
                " load; only tensors, numbers and containers are accepted)"
            ) from None
        raise ValueError(f"{name}: {str(path)!r} is not a readable checkpoint (corrupt pickle data)") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{name}: {str(path)!r} is not a readable checkpoint ({reason})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{name}: {str(path)!r} holds a {type(state).__name__}, not a checkpoint dict")
    return state


def rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) generator states, as tensors and plain values."""
    version, words, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "state": torch.tensor(words, dtype=torch.int64), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    python = state["python"]
    random.setstate((python["version"], tuple(int(w) for w in python["state"].tolist()), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached"]))  # fmt: skip
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

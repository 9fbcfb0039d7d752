"""Checkpoints that load without running code: tensors, numbers, strings, lists and dicts only.

Used by every part that saves state (training runs, EDIC, LAW); it imports nothing of jpegdl but utils.

Every checkpoint is written atomically (temporary file + rename) and read with
``torch.load(weights_only=True)``: a file that needs more than that (a pickled object, which
could run code) is refused with a one-line ``ValueError``, as is a truncated or corrupt one.
Before ``torch.load`` the file must be a regular file in torch's zip format whose members declare at
most ``JPEGDL_MAX_CHECKPOINT_BYTES`` in all (a 3 MB file of compressed storage could otherwise
inflate to gigabytes); :func:`check_fits` compares what a config would build with the weights a
checkpoint holds, before anything is built for real.
"""

from __future__ import annotations

import pickle
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from jpegdl.limits import CHECKPOINT_BYTES, regular_file
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
    path = regular_file(path, name)
    _check_archive(path, name)
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


def _check_archive(path: Path, name: str) -> None:
    """A zip archive (torch's format) whose members declare at most ``JPEGDL_MAX_CHECKPOINT_BYTES``."""
    limit = CHECKPOINT_BYTES.value()
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        reason = "empty file" if path.stat().st_size == 0 else str(err) or type(err).__name__
        raise ValueError(f"{name}: {str(path)!r} is not a readable checkpoint (not a complete zip archive, the"
                         f" format torch.save writes: {reason})") from None  # fmt: skip
    declared = sum(member.file_size for member in members)
    if declared > limit:
        raise ValueError(f"{name}: {str(path)!r} would inflate to {declared} bytes, above the limit of {limit}"
                         f" (raise it with {CHECKPOINT_BYTES.variable})")  # fmt: skip


def stored_values(state: dict) -> int:
    """How many tensor elements a checkpoint dict holds at its top level."""
    return sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor)) if isinstance(state, dict) else 0


def check_size(needed: int, state: dict, name: str, source: str) -> None:
    """Refuse a config that builds ``needed`` parameters beside a checkpoint holding fewer values."""
    stored = stored_values(state)
    if needed > stored:
        raise ValueError(f"{name}: the weights do not fit the config in {source!r}: it builds a model of {needed}"
                         f" parameters, the checkpoint holds {stored} values; refused before building it")  # fmt: skip


def check_fits(build, state: dict, name: str, source: str) -> None:
    """Refuse, before building anything for real, a config whose module holds more values than ``state``.

    ``build()`` is called under ``torch.device("meta")`` (no memory for weights); a module with more
    parameter values than the checkpoint's tensors could never load them, so a small file cannot make
    jpegdl allocate gigabytes (a config naming ``vit_h_14`` beside the weights of a ResNet). A module
    that cannot be built on the meta device is not checked here.
    """
    try:
        with torch.device("meta"):
            needed = sum(p.numel() for p in build().parameters())
    except ValueError:
        raise
    except (TypeError, KeyError, RuntimeError, NotImplementedError, AttributeError):
        return
    check_size(needed, state, name, source)


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

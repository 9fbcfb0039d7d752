"""Short-lived files for libraries that only take paths (jpeglib), on RAM-backed storage when possible."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_FAST_DIR = Path("/dev/shm")


def _temp_dir() -> str | None:
    return str(_FAST_DIR) if _FAST_DIR.is_dir() and os.access(_FAST_DIR, os.W_OK) else None


@contextmanager
def temp_path(data: bytes | None = None, suffix: str = ".jpg") -> Iterator[str]:
    """Yield a fresh path (holding ``data`` if given); the file is removed afterwards."""
    handle, path = tempfile.mkstemp(suffix=suffix, prefix="jpegdl-", dir=_temp_dir())
    try:
        with os.fdopen(handle, "wb") as file:
            if data is not None:
                file.write(data)
        yield path
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)

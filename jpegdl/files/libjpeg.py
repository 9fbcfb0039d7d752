"""Running a libjpeg build (through jpeglib, which takes only paths) on untrusted JPEG bytes.

Whatever goes wrong inside libjpeg becomes one ``ValueError`` line naming the user's file and
libjpeg's own message, never a temporary path or a dependency's traceback.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from jpegdl.files.markers import strip_metadata
from jpegdl.files.tempfiles import temp_path

REFERENCE = "turbo210"  # libjpeg-turbo: the decoder jpegdl reproduces (Pillow ships a later one)
T = TypeVar("T")


@contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Collect what C code prints on file descriptor 2 (libjpeg's warnings and errors)."""
    sys.stderr.flush()
    messages: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            messages.extend(line.strip() for line in sink.read().decode(errors="replace").splitlines() if line.strip())


def run_libjpeg(data: bytes, label: str, action: Callable[[str], T], version: str = REFERENCE) -> T:
    """``action(path)`` under ``jpeglib.version(version)`` on a temporary copy of ``data``.

    Metadata segments are dropped first (jpeglib reads at most 50 markers).

    Raises:
        ValueError: ``"{label}: libjpeg (version) cannot decode it (reason)"`` on any failure.
    """
    import jpeglib

    stream = strip_metadata(data, label)
    error: BaseException | None = None
    with temp_path(stream) as path:
        with _captured_stderr() as messages:
            try:
                with jpeglib.version(version):
                    return action(path)
            except (OSError, RuntimeError, ValueError, IndexError, KeyError, TypeError, MemoryError) as err:
                error = err
        reason = "; ".join(dict.fromkeys(messages)) or str(error).replace(path, label)
    raise ValueError(f"{label}: libjpeg ({version}) cannot decode it ({reason})")

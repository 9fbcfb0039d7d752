"""Limits on what an untrusted file may make jpegdl read or allocate, and checked reading of small files.

Every size or count that a file states (a picture's width and height, an ``.edic`` header, a
checkpoint's stored sizes, an IDX header, a JSON file's length) is compared with one of these limits
before anything is allocated. Each limit has a default that fits a laptop and an environment
variable that raises (or lowers) it; commands that read pictures also take ``--max-pixels``.
``docs/security.md`` lists them all.

Nothing here imports torch or Pillow.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MiB = 2**20


@dataclass(frozen=True)
class Limit:
    """One limit: its environment variable, its default, and what it bounds."""

    variable: str
    default: int
    what: str

    def value(self) -> int:
        """The limit in force: the environment variable when set (an integer >= 1), else the default.

        Raises:
            ValueError: the variable is set to something other than a positive integer.
        """
        text = os.environ.get(self.variable)
        if text is None or not text.strip():
            return self.default
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{self.variable}: expected a positive integer, got {text!r}")
        return value


PICTURE_PIXELS = Limit("JPEGDL_MAX_PIXELS", 50_000_000, "pixels of a picture read by encode, compress, datasets")
EDIC_PIXELS = Limit("JPEGDL_MAX_EDIC_PIXELS", 4_200_000, "pixels of an image EDIC encodes or an .edic file claims")
TEXT_BYTES = Limit("JPEGDL_MAX_TEXT_BYTES", 16 * MiB, "bytes of a JSON or text input (tables, configs, summaries)")
FILE_BYTES = Limit("JPEGDL_MAX_FILE_BYTES", 1024 * MiB, "bytes of a JPEG or .edic file read whole")
CHECKPOINT_BYTES = Limit("JPEGDL_MAX_CHECKPOINT_BYTES", 2048 * MiB, "bytes a checkpoint's stored tensors inflate to")
DATASET_BYTES = Limit("JPEGDL_MAX_DATASET_BYTES", 512 * MiB, "bytes of one IDX dataset file, after gunzip")
JSON_DEPTH = 64  # nesting of JSON containers accepted (every jpegdl file nests fewer than 8 levels)

LIMITS = (PICTURE_PIXELS, EDIC_PIXELS, TEXT_BYTES, FILE_BYTES, CHECKPOINT_BYTES, DATASET_BYTES)


def regular_file(path: str | Path, name: str, max_bytes: int | None = None) -> Path:
    """``path`` as a ``Path`` after checking that it is an existing regular file of at most ``max_bytes``.

    FIFOs, devices (``/dev/zero``), sockets and folders are refused: reading them could block or never end.

    Raises:
        ValueError: naming ``name``, the path and the reason.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file {str(path)!r}") from None
    except OSError as err:
        raise ValueError(f"{name}: cannot read {str(path)!r} ({err.strerror or err})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{name}: {str(path)!r} is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{name}: {str(path)!r} is not a regular file (a device, FIFO or socket); give a file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise ValueError(f"{name}: {str(path)!r} has {info.st_size} bytes, above the limit of {max_bytes}")
    return path


def read_bytes(path: str | Path, name: str, limit: Limit = FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (never more are read, even if it grows)."""
    maximum = limit.value()
    path = regular_file(path, name, maximum)
    try:
        with open(path, "rb") as file:
            data = file.read(maximum + 1)
    except OSError as err:
        raise ValueError(f"{name}: cannot read {str(path)!r} ({err.strerror or err})") from None
    if len(data) > maximum:
        raise ValueError(f"{name}: {str(path)!r} is above the limit of {maximum} bytes ({limit.variable})")
    return data


def parse_json(text: str | bytes, name: str, source: str = "") -> Any:
    """JSON text -> Python values, with one-line errors for bad syntax, bad UTF-8 and deep nesting."""
    where = f" {source!r}" if source else ""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{name}:{where} is not UTF-8 text") from None
    if _nesting(text) > JSON_DEPTH:
        raise ValueError(f"{name}:{where} nests JSON deeper than {JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{name}:{where} is not valid JSON ({err})") from None


def _nesting(text: str) -> int:
    """The deepest nesting of JSON brackets in ``text``, strings left out."""
    import numpy as np

    codes = np.frombuffer(_STRINGS.sub("", text).encode("utf-8", "replace"), dtype=np.uint8)
    steps = np.isin(codes, (91, 123)).astype(np.int64) - np.isin(codes, (93, 125))  # [ { minus ] }
    return int(steps.cumsum().max(initial=0))


_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"')


def read_json(path: str | Path, name: str) -> Any:
    """A JSON file of at most ``JPEGDL_MAX_TEXT_BYTES``, parsed (see :func:`parse_json`)."""
    return parse_json(read_bytes(path, name, TEXT_BYTES), name, str(path))

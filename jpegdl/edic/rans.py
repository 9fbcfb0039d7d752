"""The rANS coder of ``csrc/rans.c``: CompressAI's stream format, tables handed over as arrays, and a
decoder that is safe for any byte string.

CompressAI's coder takes its tables as Python lists (for one 512x512 picture, ~10^5 lists of ~10^6 ints,
most of the decoding time) and trusts the string it decodes (hence the forked decoder of
:mod:`jpegdl.edic.guard`). This one reads the tables straight from NumPy arrays and checks every read, so
an untrusted ``.edic`` file is decoded in-process: a truncated or crafted string is a ``ValueError``.

The C source is compiled on first use with the system C compiler (``cc``, well under a second) into
``$JPEGDL_CACHE/rans`` (default ``~/.cache/jpegdl/rans``), one file per source hash and machine, written
atomically. Where no compiler is found, or with ``JPEGDL_NATIVE_RANS=0``, :func:`library` returns
``None`` and callers use CompressAI's coder, which writes and reads the same streams.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().parent / "csrc" / "rans.c"
STEPS_PER_SYMBOL = 11  # one coded symbol, at most two length chunks and eight value chunks
ERRORS = {
    -1: "the entropy-coding tables are invalid",
    -2: "the string ended before every symbol was decoded",
    -3: "an escaped value longer than 32 bits",
    -4: "the output buffer is too small",
    -5: "a latent too far from its distribution to code",
}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Tables:
    """Quantized CDF rows stored back to back.

    Attributes:
        cdfs: int32 ``(S,)``: row r is ``cdfs[row_start[r] : row_start[r] + lengths[r]]``, rising from 0
            to ``2**16``; its last symbol is the escape.
        row_start: int64 ``(R,)``.
        lengths: int32 ``(R,)``, each >= 3.
        offsets: int32 ``(R,)``: the integer coded as symbol 0 of each row.
    """

    cdfs: np.ndarray
    row_start: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in (("cdfs", np.int32), ("row_start", np.int64), ("lengths", np.int32),
                            ("offsets", np.int32)):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.dtype != dtype or value.ndim != 1:
                raise ValueError(f"{name}: expected a 1-D {np.dtype(dtype).name} array")
            object.__setattr__(self, name, np.ascontiguousarray(value))
        if not len(self.row_start) == len(self.lengths) == len(self.offsets):
            raise ValueError("row_start, lengths, offsets: expected one entry per row")

    @property
    def rows(self) -> int:
        return len(self.lengths)

    def as_lists(self) -> tuple[list[list[int]], list[int], list[int]]:
        """CompressAI's form: CDF rows, their lengths, their offsets (lists)."""
        flat = self.cdfs.tolist()
        starts, lengths = self.row_start.tolist(), self.lengths.tolist()
        rows = [flat[start : start + length] for start, length in zip(starts, lengths, strict=True)]
        return rows, self.lengths.tolist(), self.offsets.tolist()


def _cache_folder() -> Path:
    return Path(os.environ.get("JPEGDL_CACHE", Path.home() / ".cache" / "jpegdl")) / "rans"


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name.split()[0]):
            return name
    return None


def _build(target: Path) -> None:
    compiler = _compiler()
    if compiler is None:
        raise OSError("no C compiler (cc, gcc or clang) on PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        built = Path(folder) / target.name
        command = [*compiler.split(), "-O2", "-shared", "-fPIC", "-o", str(built), str(SOURCE)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise OSError(f"compiling {SOURCE.name} failed: {result.stderr.strip()[-500:]}")
        os.replace(built, target)  # atomic: a concurrent process sees the old file or the whole new one


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    pointer, size = ctypes.c_void_p, ctypes.c_int64
    lib.jpegdl_rans_decode.restype = ctypes.c_int
    lib.jpegdl_rans_decode.argtypes = [pointer, size, pointer, size, pointer, pointer, pointer, size, pointer, size,
                                       pointer]  # fmt: skip
    lib.jpegdl_rans_encode.restype = ctypes.c_int64
    lib.jpegdl_rans_encode.argtypes = [pointer, pointer, size, pointer, size, pointer, pointer, pointer, size, pointer,
                                       size, pointer, size]  # fmt: skip
    lib.jpegdl_rans_step_size.restype = ctypes.c_int64
    lib.jpegdl_rans_step_size.argtypes = []
    return lib


@cache
def _load() -> ctypes.CDLL | None:
    if os.environ.get("JPEGDL_NATIVE_RANS", "1") == "0":
        return None
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    suffix = ".dll" if sys.platform == "win32" else ".dylib" if sys.platform == "darwin" else ".so"
    target = _cache_folder() / f"rans-{digest}-{platform.machine()}{suffix}"
    try:
        if not target.is_file():
            _build(target)
        return _declare(ctypes.CDLL(str(target)))
    except (OSError, subprocess.SubprocessError):
        return None


def library() -> ctypes.CDLL | None:
    """The compiled coder (built on first use; thread-safe), or ``None`` where it cannot be built."""
    with _LOCK:
        return _load()


def _address(array: np.ndarray) -> int:
    return array.ctypes.data


def _indexes(indexes: np.ndarray, rows: int) -> np.ndarray:
    indexes = np.ascontiguousarray(indexes, dtype=np.int64)
    if indexes.ndim != 1:
        raise ValueError("indexes: expected a 1-D array")
    if len(indexes) and (indexes.min() < 0 or indexes.max() >= rows):
        raise ValueError(f"indexes: expected row numbers in [0, {rows})")
    return indexes


def encode(symbols: np.ndarray, indexes: np.ndarray, tables: Tables) -> bytes:
    """rANS-encode ``symbols`` (int ``(N,)``) with rows ``indexes`` (``(N,)``) of ``tables``; a value whose
    escape code needs more than 32 bits raises ``ValueError``."""
    lib = library()
    if lib is None:
        raise RuntimeError("the native rANS coder is not available (no C compiler); use CompressAI's")
    symbols = np.ascontiguousarray(symbols, dtype=np.int32)
    indexes = _indexes(indexes, tables.rows)
    if symbols.shape != indexes.shape:
        raise ValueError(f"symbols, indexes: expected the same shape, got {symbols.shape} and {indexes.shape}")
    capacity = STEPS_PER_SYMBOL * len(symbols) + 1
    steps = np.empty(capacity * lib.jpegdl_rans_step_size(), dtype=np.uint8)
    out = np.empty(4 * (capacity + 2), dtype=np.uint8)
    length = lib.jpegdl_rans_encode(_address(symbols), _address(indexes), len(symbols), _address(tables.cdfs),
                                    len(tables.cdfs), _address(tables.row_start), _address(tables.lengths),
                                    _address(tables.offsets), tables.rows, _address(steps), capacity, _address(out),
                                    len(out))  # fmt: skip
    if length < 0:
        raise ValueError(f"symbols: cannot encode ({ERRORS.get(int(length), 'error')})")
    return out[len(out) - length :].tobytes()


def decode(data: bytes, indexes: np.ndarray, tables: Tables) -> np.ndarray:
    """Decode ``len(indexes)`` symbols (int32 ``(N,)``) from ``data``; any string that is not a stream of
    these tables raises ``ValueError`` (never reads outside ``data``)."""
    lib = library()
    if lib is None:
        raise RuntimeError("the native rANS coder is not available (no C compiler); use CompressAI's")
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"data: expected bytes, got {type(data).__name__}")
    indexes = _indexes(indexes, tables.rows)
    out = np.empty(len(indexes), dtype=np.int32)
    buffer = np.frombuffer(bytes(data), dtype=np.uint8) if data else np.zeros(1, dtype=np.uint8)
    status = lib.jpegdl_rans_decode(_address(buffer), len(data), _address(tables.cdfs), len(tables.cdfs),
                                    _address(tables.row_start), _address(tables.lengths), _address(tables.offsets),
                                    tables.rows, _address(indexes), len(indexes), _address(out))  # fmt: skip
    if status != 0:
        raise ValueError(f"data: corrupt EDIC stream ({ERRORS.get(status, 'decoding error')})")
    return out

"""Safe entropy decoding of untrusted strings.

Where :mod:`jpegdl.edic.rans` is built (a C compiler was found), every string, the CompressAI entropy
models' included, is decoded by its checked decoder in-process. Otherwise CompressAI's decoder runs,
guarded as follows.

The native decoder (``compressai.ans.RansDecoder``) trusts its input: it reads 32-bit words past the
end of a string that is too short for the symbols asked of it, and a crafted string can drive its
escape (bypass) loop to read without bound, so a 46-byte ``.edic`` file could kill the process with
SIGSEGV. Two guards, both applied by :class:`GuardedDecoder`:

1. A string must be a whole number of 32-bit words and at least the 8-byte final state of the
   encoder (what every rANS string ends with), and it is handed over followed by
   ``4 * (symbols + 64)`` zero bytes. Every decoding step reads at most one word, so this covers a
   truncated or damaged string whose escapes stay short; it cannot bound a crafted one (a run of
   escape nibbles makes the bypass loop read about 30 bytes per byte of string), hence:
2. For untrusted bytes (``isolate=True``, the default of :func:`jpegdl.edic.decode_image`, wherever
   ``os.fork`` exists) the native call runs in a forked child (copy-on-write, no new interpreter)
   under an address-space cap and a time limit; the decoded symbols come back through a pipe. A
   child killed by a signal, out of memory or out of time becomes a ``ValueError``; the calling
   process never runs the native decoder on untrusted bytes itself. Forking costs tens of
   milliseconds per string, so streams a process has just encoded itself are decoded in place.
"""

from __future__ import annotations

import array
import contextvars
import os
import select
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from jpegdl.edic import rans

WORD = 4
PAD_WORDS = 64
CHILD_ADDRESS_SPACE = 2**30  # bytes the decoding child may allocate above what it inherits
SECONDS = 20.0  # plus SECONDS_PER_SYMBOL per symbol
SECONDS_PER_SYMBOL = 2e-5


def check_string(data: bytes, name: str = "string") -> None:
    """The shape every rANS string has: whole 32-bit words, at least the encoder's 8-byte final state."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"{name}: expected bytes, got {type(data).__name__}")
    if len(data) < 2 * WORD or len(data) % WORD:
        raise ValueError(f"data: corrupt EDIC stream ({name} has {len(data)} bytes; an entropy-coded string is a"
                         " multiple of 4 bytes, at least 8)")  # fmt: skip


def _native(data: bytes, indexes: list, cdfs: list, lengths: list, offsets: list) -> list[int]:
    from compressai.ans import RansDecoder

    return RansDecoder().decode_with_indexes(data, indexes, cdfs, lengths, offsets)


def _address_space() -> int:
    """Bytes of address space this process maps now (Linux; 0 where unknown)."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _in_child(data: bytes, indexes: list, cdfs: list, lengths: list, offsets: list) -> list[int]:
    """Run :func:`_native` in a forked child; its symbols come back through a pipe."""
    import resource

    expected = len(indexes)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: decode, write the int32 symbols, leave without cleanup
        status = 1
        try:
            os.close(read_end)
            used = _address_space()
            soft, hard = resource.getrlimit(resource.RLIMIT_AS)
            if used:  # only ever lowered: a limit the caller set stays in force
                cap = min([used + CHILD_ADDRESS_SPACE] + [v for v in (soft, hard) if v != resource.RLIM_INFINITY])
                resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
            payload = memoryview(array.array("i", _native(data, indexes, cdfs, lengths, offsets)).tobytes())
            while payload:
                payload = payload[os.write(write_end, payload) :]
            status = 0
        except BaseException:  # any failure is reported by the exit status
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    chunks, deadline, timed_out = [], time.monotonic() + SECONDS + SECONDS_PER_SYMBOL * expected, False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                timed_out = True
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise ValueError("data: corrupt EDIC stream (the entropy decoder did not finish in time)")
    if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "an error"
        raise ValueError(f"data: corrupt EDIC stream (the entropy decoder stopped with {how})")
    values = array.array("i")
    values.frombytes(b"".join(chunks))
    if len(values) != expected:
        raise ValueError(f"data: corrupt EDIC stream (decoded {len(values)} symbols, expected {expected})")
    return values.tolist()


def _tables(cdfs: list, lengths: Sequence[int], offsets: Sequence[int]) -> rans.Tables:
    """CompressAI's list tables (rows of any lengths) as :class:`~jpegdl.edic.rans.Tables`."""
    widths = [len(row) for row in cdfs]
    starts = np.concatenate([[0], np.cumsum(widths[:-1])]).astype(np.int64) if widths else np.zeros(0, np.int64)
    if any(length > width for length, width in zip(lengths, widths, strict=True)):
        raise ValueError("data: inconsistent entropy-coding tables")
    flat = np.fromiter((v for row in cdfs for v in row), dtype=np.int32, count=sum(widths))
    return rans.Tables(flat, starts, np.asarray(lengths, dtype=np.int32), np.asarray(offsets, dtype=np.int32))


class GuardedDecoder:
    """``compressai.ans.RansDecoder``'s ``decode_with_indexes``, safe for any string (see the module doc).

    Args:
        isolate: run the native decoder in a forked child (default: wherever ``os.fork`` exists).
    """

    def __init__(self, isolate: bool | None = None) -> None:
        self.isolate = hasattr(os, "fork") if isolate is None else isolate

    def decode_with_indexes(
        self, data: bytes, indexes: Sequence[int], cdfs: list, lengths: Sequence[int], offsets: Sequence[int]
    ) -> list[int]:
        """Decode ``len(indexes)`` symbols; a string that cannot hold them raises ``ValueError``."""
        check_string(data)
        indexes, lengths, offsets = list(indexes), list(lengths), list(offsets)
        if indexes and (min(indexes) < 0 or max(indexes) >= len(cdfs)):
            raise ValueError("data: corrupt EDIC stream (a CDF index out of range)")
        if len(lengths) != len(cdfs) or len(offsets) != len(cdfs):
            raise ValueError("data: inconsistent entropy-coding tables")
        if rans.library() is not None:  # checks every read: safe in-process
            return rans.decode(data, np.asarray(indexes, dtype=np.int64), _tables(cdfs, lengths, offsets)).tolist()
        padded = bytes(data) + bytes(WORD * (len(indexes) + PAD_WORDS))
        if self.isolate:
            return _in_child(padded, indexes, cdfs, lengths, offsets)
        return _native(padded, indexes, cdfs, lengths, offsets)


class _GuardedCoder:
    """Stands in for an entropy model's ``entropy_coder`` while a stream is decoded."""

    def __init__(self, original: object, decoder: GuardedDecoder) -> None:
        self.name = getattr(original, "name", "ans")
        self._original = original
        self._decoder = decoder

    def encode_with_indexes(self, *args, **kwargs):
        return self._original.encode_with_indexes(*args, **kwargs)

    def decode_with_indexes(self, *args, **kwargs):
        return self._decoder.decode_with_indexes(*args, **kwargs)


_ACTIVE: contextvars.ContextVar[GuardedDecoder | None] = contextvars.ContextVar("edic_decoder", default=None)


def active_decoder() -> GuardedDecoder:
    """The decoder of the enclosing :func:`guarded_entropy_coders` block (in place, padded, outside one)."""
    return _ACTIVE.get() or GuardedDecoder(isolate=False)


@contextmanager
def guarded_entropy_coders(model: object, decoder: GuardedDecoder | None = None) -> Iterator[GuardedDecoder]:
    """Within the block, every CompressAI entropy model inside ``model``, and the mixture coder of
    :mod:`jpegdl.edic.mixture`, decode through ``decoder``."""
    decoder = decoder or GuardedDecoder()
    token = _ACTIVE.set(decoder)
    swapped = []
    for module in model.modules():
        coder = getattr(module, "entropy_coder", None)
        if coder is not None and hasattr(coder, "decode_with_indexes"):
            swapped.append((module, coder))
            module.entropy_coder = _GuardedCoder(coder, decoder)
    try:
        yield decoder
    finally:
        _ACTIVE.reset(token)
        for module, coder in swapped:
            module.entropy_coder = coder

"""Plumbing shared by the layers above the codec: devices, DDP, process pools, atomic writes.

Nothing here knows about JPEG, models or runs; every other floor may import it.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a ``torchrun`` job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str | torch.device, context: DistContext | None = None) -> torch.device:
    """``"auto"``: CUDA when present (one GPU per local rank under DDP), else CPU.

    Raises:
        ValueError: an unknown name, or CUDA asked for on a machine without it.
    """
    if isinstance(device, torch.device):
        return device
    context = context or DistContext()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available here; use 'auto' or 'cpu'")
    if device == "cuda" and context.enabled:
        return torch.device("cuda", context.local_rank)
    return torch.device(device)


def init_distributed() -> DistContext:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1); else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_reduce_sum(values: torch.Tensor, context: DistContext | None = None) -> torch.Tensor:
    """Sum a tensor over processes in place (no-op in a single process)."""
    if context is not None and context.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def shutdown(context: DistContext) -> None:
    """Leave the process group (no-op in a single process)."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def _single_thread() -> None:
    torch.set_num_threads(1)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes with one torch thread each.

    Forking a process that has run torch's thread pools can deadlock the child, so workers start
    fresh and import what they need.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected an integer >= 1, got {workers!r}")
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_single_thread)


def _umask() -> int:
    """The process's umask (read without changing it where /proc tells it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file through ``write(file)`` into a temporary sibling, fsync, then rename over ``path``.

    Readers see the old file or the complete new one, never a torn one; on any failure (a full
    disk, Ctrl-C) the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, 0o666 & ~_umask())  # mkstemp makes 0600; a file gets what open() would give it
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda file: file.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of UTF-8 ``text``."""
    return atomic_write_bytes(path, text.encode())


def option(default: Any, help: str, **metadata: Any) -> Any:
    """A dataclass field that carries its help text (and optional ``flag``, ``choices``, ``metavar``).

    Command-line flags are generated from such fields (``jpegdl.cli.options``).
    """
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **metadata})
    return field(default=default, metadata={"help": help, **metadata})


def free_port() -> int:
    """A TCP port on localhost that was free a moment ago (for a ``torchrun --master_port``)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wall_times(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> list[float]:
    """Wall times in seconds of ``repeats`` runs of ``fn()`` after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times

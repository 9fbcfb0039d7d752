"""A run folder's layout: where the config, checkpoint, summary, metrics and anchors live."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jpegdl.limits import read_json

CONFIG, CHECKPOINT, SUMMARY, METRICS_CSV, ANCHORS, LOCK = (
    "config.json", "last.pt", "summary.json", "metrics.csv", "anchors", ".lock",
)  # fmt: skip
_ANCHOR_NAME = re.compile(r"epoch(\d+)\.pt$")
_TEMPORARY = re.compile(r"^\..+\.tmp$")
# Everything a run writes at its top level (train, LAW, show-tables, label noise): nothing else is ever
# replaced or removed by --overwrite.
RUN_ENTRIES = frozenset({CONFIG, CHECKPOINT, SUMMARY, METRICS_CSV, ANCHORS, LOCK, "law", "tensorboard",
                         "label_noise.pt", "tables.png"})  # fmt: skip


class RunFolder:
    """Paths and small readers of one ``jpegdl train`` run folder.

    ``RUN/config.json`` (the :class:`~jpegdl.runs.config.TrainConfig`), ``RUN/last.pt`` (the
    latest checkpoint), ``RUN/summary.json`` (written at the end), ``RUN/metrics.csv`` and
    ``RUN/anchors/epochNNNN.pt`` (model-only checkpoints kept with ``--save-every``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def summary(self) -> Path:
        return self.path / SUMMARY

    @property
    def metrics(self) -> Path:
        return self.path / METRICS_CSV

    def anchor(self, epoch: int) -> Path:
        """Where the model after ``epoch`` (1-based) is kept."""
        return self.path / ANCHORS / f"epoch{epoch:04d}.pt"

    def anchors(self) -> list[tuple[int, Path]]:
        """``(epoch, path)`` of the kept anchors, in training order."""
        found = ((m, p) for p in (self.path / ANCHORS).glob("epoch*.pt") if (m := _ANCHOR_NAME.search(p.name)))
        return sorted((int(m.group(1)), p) for m, p in found)

    def has_outputs(self) -> bool:
        """Whether a run already wrote here (a config, checkpoint or summary)."""
        return any(p.exists() for p in (self.config, self.checkpoint, self.summary))

    def has_progress(self) -> bool:
        """Whether a run here saved anything worth keeping: a checkpoint, a summary or a LAW search."""
        return any(p.exists() for p in (self.checkpoint, self.summary, self.path / "law" / "search.pt"))

    def foreign_entries(self) -> list[Path]:
        """What in the folder is none of a run's own files (so a user's, which training must not touch)."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.iterdir() if p.name not in RUN_ENTRIES and not _TEMPORARY.match(p.name))

    def check_writable(self, overwrite: bool = False) -> None:
        """Refuse a ``--out`` that is a file, or a non-empty folder that holds no run (``overwrite`` or not).

        Raises:
            ValueError: naming the folder and what in it is not a run's.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"out: {str(self.path)!r} is a file, not a folder")
        foreign = self.foreign_entries()
        if foreign and not self.has_outputs():
            raise ValueError(f"out: {str(self.path)!r} is not empty and holds no jpegdl run (it has"
                             f" {foreign[0].name!r}{' and more' if len(foreign) > 1 else ''}); choose a new or empty"
                             " folder")  # fmt: skip

    def read_summary(self) -> dict:
        data = read_json(self.summary, "run")
        if not isinstance(data, dict):
            raise ValueError(f"run: {str(self.summary)!r} holds a {type(data).__name__}, not a summary object")
        return data

    def remove_stale_temporaries(self) -> None:
        """Delete the ``.NAME.*.tmp`` files a killed atomic write left behind."""
        for folder in (self.path, self.path / ANCHORS):
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``RUN/.lock`` while training: a second writer fails instead of mixing two runs.

        A lock left by a process that no longer exists (killed) is taken over.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / LOCK
        for _ in range(2):
            try:
                handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                if _alive(lock):
                    raise ValueError(
                        f"out: {str(self.path)!r} is in use by another training process ({str(lock)!r});"
                        " wait for it or delete the lock if that process is gone"
                    ) from None
                lock.unlink(missing_ok=True)
        else:
            raise ValueError(f"out: cannot lock {str(self.path)!r}")
        try:
            os.write(handle, str(os.getpid()).encode())
            os.close(handle)
            yield
        finally:
            lock.unlink(missing_ok=True)


def _alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text().strip() or "0")
    except (OSError, ValueError):
        return True  # being written right now
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

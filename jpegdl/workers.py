"""Process pools that are safe beside torch: spawned (not forked) workers with one thread each."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def _single_thread() -> None:
    import torch

    torch.set_num_threads(1)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes. Forking a process that has run torch's thread pools can
    deadlock the child, so workers start fresh and import what they need."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_single_thread)

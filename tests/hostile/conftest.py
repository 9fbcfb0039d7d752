"""Running jpegdl against hostile files: in this process (most cases) or capped in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    programs: str  # what the victim tried to start (nothing, always)


def run_capped(argv: list[str], tmp_path: Path, timeout: float = 60, env: dict | None = None,
               cap: int = 2**30) -> Outcome:  # fmt: skip
    """``jpegdl ARGV`` in a subprocess capped at ``cap`` bytes above its imports; fails the test on a death
    by signal, a traceback, a timeout or an external program started."""
    marker = tmp_path / "programs-started"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "JPEGDL_HOSTILE_CAP": str(cap),
                   "JPEGDL_HOSTILE_MARKER": str(marker), "PYTHONWARNINGS": "ignore::FutureWarning",
                   **(env or {})}  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "tests.hostile.capped", *argv], capture_output=True, text=True,
                            timeout=timeout, env=environment, cwd=ROOT)  # fmt: skip
    programs = marker.read_text() if marker.exists() else ""
    assert result.returncode >= 0, f"killed by {signal.Signals(-result.returncode).name}: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert not programs, f"external programs started: {programs}"
    return Outcome(result.returncode, result.stdout, result.stderr, programs)


def one_line_error(outcome: Outcome, code: int = 2) -> str:
    """The single stderr line of a refused command (exit ``code``)."""
    assert outcome.code == code, (outcome.code, outcome.err)
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(lines) == 1, outcome.err
    return lines[0]


@pytest.fixture
def no_programs(monkeypatch, tmp_path):
    """In this process: any attempt to start an external program fails the test (and is recorded)."""
    started: list = []

    def refuse(*args, **kwargs):
        started.append(args[:1])
        raise AssertionError(f"an external program was started: {args[:1]!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    for name in ("system", "posix_spawn", "posix_spawnp"):
        monkeypatch.setattr(os, name, refuse)
    yield started
    assert not started


@pytest.fixture
def fake_ghostscript(tmp_path, monkeypatch):
    """A ``gs`` first on PATH that leaves a marker: proof, beyond the patches, that it never ran."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    marker = tmp_path / "ghostscript-ran"
    script = bin_dir / "gs"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    yield marker
    assert not marker.exists(), "Ghostscript ran"


def picture(path: Path, size: tuple[int, int] = (24, 16), seed: int = 0) -> Path:
    """A small real RGB picture (format from the suffix)."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes: to prove nothing was changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

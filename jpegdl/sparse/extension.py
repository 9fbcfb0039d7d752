"""Just-in-time build of the compiled kernels (``csrc/sparse_conv.cpp``) with PyTorch's extension tooling.

The first call compiles the source with g++ (``-O3 -march=native -fopenmp``, about a minute) into a
cache folder, ``$JPEGDL_CACHE/sparse_ext`` (default ``~/.cache/jpegdl/sparse_ext``), one subfolder per
torch and Python version; later processes load the cached library in well under a second and rebuild
only when the source changes. Building at ``pip install`` time would need torch inside pip's build
isolation (gigabytes), hence the build on first use.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
from functools import cache
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).resolve().parent / "csrc" / "sparse_conv.cpp"
_LOCK = threading.Lock()


def build_directory() -> Path:
    """Where the compiled library lives (created on demand)."""
    root = Path(os.environ.get("JPEGDL_CACHE", Path.home() / ".cache" / "jpegdl"))
    python = f"{sys.version_info.major}{sys.version_info.minor}"
    tag = f"torch{torch.__version__.split('+')[0]}-py{python}-{platform.machine()}"
    return root / "sparse_ext" / tag


def _find_ninja() -> None:
    """Put the ``ninja`` pip package's binary on PATH (a venv used without activation lacks it)."""
    try:
        import ninja
    except ImportError:
        return
    os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


@cache
def _load() -> ModuleType:
    from torch.utils.cpp_extension import is_ninja_available, load

    _find_ninja()
    if not is_ninja_available():
        raise RuntimeError("jpegdl.sparse: building the compiled kernels needs ninja (pip install 'jpegdl[sparse]')"
                           " and a C++ compiler (g++)")  # fmt: skip
    folder = build_directory()
    folder.mkdir(parents=True, exist_ok=True)
    return load(
        name="jpegdl_sparse_conv",
        sources=[str(SOURCE)],
        build_directory=str(folder),
        extra_cflags=["-O3", "-march=native", "-fopenmp"],
        extra_ldflags=["-fopenmp"],
        verbose=False,
    )


def kernels() -> ModuleType:
    """The compiled module (built on first use; thread-safe)."""
    with _LOCK:
        return _load()

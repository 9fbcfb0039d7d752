"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path


def bounded(
    kind: type, low: float | None = None, high: float | None = None, above: bool = False
) -> Callable[[str], float]:
    """An argparse ``type`` that parses ``kind`` (int or float) and checks ``low <= value <= high``
    (``low < value`` with ``above``), finite."""
    if above:
        expected = f"a finite number > {low}"
    elif kind is int:
        expected = f"an integer {low}..{high}" if high is not None else f"an integer >= {low}"
    else:
        expected = f"a finite number >= {low}" if high is None else f"a number in [{low}, {high}]"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        too_low = low is not None and (value <= low if above else value < low)
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


quality = bounded(int, 0, 100)
non_negative = bounded(float, 0)
positive_int = bounded(int, 1)
non_negative_int = bounded(int, 0)
positive = bounded(float, 0, above=True)


def load_runs(
    paths: Sequence[str], dataset: str | None, strip_jpeg: bool = True, label_by: str = "model"
) -> tuple[dict, dict, str]:
    """Frozen classifiers from run folders or checkpoints, their configs, and their common dataset.

    Labels are the model names (``label_by="model"``; the run folder's name is added when two
    runs share an architecture) or the run folders' names (``"folder"``). All runs must share one
    dataset, unless ``dataset`` names the one to use.
    """
    from jpegdl.runs import load_classifier

    models, configs = {}, {}
    for path in paths:
        model, config = load_classifier(path, strip_jpeg=strip_jpeg)
        folder = Path(path).resolve()
        if label_by == "model":
            taken = {k.split(":")[0] for k in models}
            label = f"{config.model}:{folder.name}" if config.model in taken else config.model
        else:
            label = folder.name if folder.name not in models else f"{folder.parent.name}/{folder.name}"
        models[label], configs[label] = model, config
    datasets = {config.dataset for config in configs.values()}
    chosen = dataset or (datasets.pop() if len(datasets) == 1 else None)
    if chosen is None:
        raise ValueError(f"model: the runs were trained on different datasets {sorted(datasets)}; pass --dataset")
    return models, configs, chosen


def load_models(paths: Sequence[str], dataset: str | None) -> tuple[dict, str]:
    """:func:`load_runs` without the configs (classifiers without their JPEG layers)."""
    models, _, chosen = load_runs(paths, dataset)
    return models, chosen


def pick_device(name: str):
    """``--device`` (auto, cpu, cuda[:N]) as a torch device; a clear error when CUDA is absent."""
    from jpegdl.utils import resolve_device

    return resolve_device(name)


def add_data_flags(parser: argparse.ArgumentParser, dataset_help: str = "the dataset the runs were trained on") -> None:
    """``--dataset`` and ``--data-root``, as every command that reads a dataset takes them."""
    parser.add_argument("--dataset", help=f"dataset name (default: {dataset_help})")
    parser.add_argument("--data-root", dest="data_root", metavar="DIR",
                        help="folder holding the dataset files (default: the installed copy)")  # fmt: skip


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """``--device auto|cpu|cuda[:N]``."""
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N] (default: auto)")


def output_folder(path: str, name: str = "out") -> Path:
    """Check (before any work) that ``path`` can be an output folder, and create it."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name}: {path!r} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def output_file(path: str, suffixes: Sequence[str], name: str = "out") -> Path:
    """Check (before any work) that ``path`` can be written: a file name with one of ``suffixes``
    in an existing folder."""
    file = Path(path)
    if file.is_dir():
        raise ValueError(f"{name}: {path!r} is a folder; name the file to write")
    if file.suffix.lower() not in suffixes:
        raise ValueError(f"{name}: {path!r} should end in {' or '.join(suffixes)}")
    if not file.parent.is_dir():
        raise ValueError(f"{name}: the folder {str(file.parent)!r} does not exist")
    return file


def subsampling(text: str) -> str:
    """An argparse ``type`` for chroma sampling: a named mode (4:4:4, 4:2:2, 4:4:0, 4:2:0, 4:1:1,
    4:1:0) or per-component factors such as ``2x2,1x2,1x1``."""
    from jpegdl.jpeg.sampling import check_subsampling

    try:
        return check_subsampling(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("subsampling: ")) from None


def read_tables(path: str, name: str = "tables") -> tuple:
    """A tables JSON (from ``jpegdl tables`` or ``learn-tables``): ``(QuantTables, the whole JSON dict)``.

    The file must be a regular file of at most ``JPEGDL_MAX_TEXT_BYTES`` (no device, no FIFO).
    """
    from jpegdl.jpeg import QuantTables
    from jpegdl.limits import read_json

    data = read_json(path, name)
    try:
        return QuantTables.from_dict(data), data
    except ValueError as err:
        raise ValueError(f"{name}: {path!r}: {err}") from None


def tables_hardness(data: dict, path: str, default: float = 8.0):
    """The ``hardness`` of a learned-tables JSON: a number > 0 or an array of them (``default`` when absent)."""
    import math

    import torch

    value = data.get("hardness", default)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    try:
        tensor = torch.tensor(value, dtype=torch.float64) if isinstance(value, list) else None
    except (TypeError, ValueError, RuntimeError):
        tensor = None
    if tensor is None or tensor.numel() == 0 or not (torch.isfinite(tensor).all() and (tensor > 0).all()):
        raise ValueError(f"tables: 'hardness' in {path!r} should be a number > 0 or an array of them, got"
                         f" {value!r:.100}")
    return tensor


def max_pixels_flag(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels N``: the largest picture read (default: ``JPEGDL_MAX_PIXELS``, else 50 megapixels)."""
    parser.add_argument("--max-pixels", dest="max_pixels", type=positive_int, metavar="N",
                        help="largest picture in pixels, checked from its header (default: JPEGDL_MAX_PIXELS,"
                        " else 50000000)")  # fmt: skip


def write_text_output(path: str | None, text: str, overwrite: bool = False) -> None:
    """``text`` to stdout (``path`` None) or atomically to ``path``; an existing file is replaced only with
    ``overwrite`` and only if it is a text file that jpegdl's tables writer could have made (JSON or cjpeg)."""
    import sys

    from jpegdl.utils import atomic_write_text

    if path is None:
        sys.stdout.write(text)
        return
    file = Path(path)
    if file.is_dir():
        raise ValueError(f"output: {path!r} is a folder; name the file to write")
    if not file.parent.is_dir():
        raise ValueError(f"output: the folder {str(file.parent)!r} does not exist")
    if file.exists() or file.is_symlink():
        if not overwrite:
            raise ValueError(f"output: {path!r} already exists; pass --overwrite to replace it")
        try:
            start = file.read_bytes()[:1] if file.is_file() and file.stat().st_size < 2**20 else b""
        except OSError:
            start = b""
        if file.is_symlink() or start not in (b"{", b"#"):
            raise ValueError(f"output: {path!r} is not a tables file; --overwrite replaces only tables files")
    atomic_write_text(file, text)
    print(f"wrote {path}")

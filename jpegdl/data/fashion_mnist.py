"""Fashion-MNIST from IDX files: Debian's ``dataset-fashion-mnist``, a user folder, or a download."""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from jpegdl.limits import DATASET_BYTES, read_bytes

DEBIAN_ROOT = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MISSING_HELP = (
    "Fashion-MNIST not found. Install it with 'apt-get install dataset-fashion-mnist' (Debian/Ubuntu),"
    " pass root=FOLDER holding the four IDX files (.gz or not), or pass download=True to fetch it with torchvision."
)


def _file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _open(folder: Path, stem: str) -> bytes | None:
    """The bytes of an IDX file, gunzipped; at most ``JPEGDL_MAX_DATASET_BYTES`` are read or inflated."""
    candidate = _file(folder, stem)
    if candidate is None:
        return None
    raw = read_bytes(candidate, "root", DATASET_BYTES)
    if candidate.suffix != ".gz":
        return raw
    limit = DATASET_BYTES.value()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as file:
            data = file.read(limit + 1)  # a gzip bomb stops here, not after inflating it all
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"root: {str(candidate)!r} is a corrupt or truncated gzip file ({err})") from None
    if len(data) > limit:
        raise ValueError(f"root: {str(candidate)!r} inflates to more than {limit} bytes (the limit,"
                         f" {DATASET_BYTES.variable})")  # fmt: skip
    return data


def read_idx(data: bytes, name: str = "data") -> np.ndarray:
    """Parse an IDX file (``ubyte`` images or labels) into a uint8 array."""
    if len(data) < 8:
        raise ValueError(f"{name}: not an IDX file (too short)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{name}: not an unsigned-byte IDX file")
    if not 1 <= ndim <= 4 or len(data) < 4 + 4 * ndim:
        raise ValueError(f"{name}: not an IDX file (a header of {ndim} dimensions in {len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != math.prod(shape):
        raise ValueError(f"{name}: truncated IDX file (expected {math.prod(shape)} values, got {payload.size})")
    return payload.reshape(shape)


def find_root(root: str | Path | None) -> Path | None:
    """The folder holding the Fashion-MNIST files: ``root`` when given, else Debian's (``None``: absent).

    Raises:
        ValueError: ``root`` was given but holds no Fashion-MNIST files (no silent fallback).
    """
    if root is not None:
        if _file(Path(root), FILES["train"][0]) is None and _file(Path(root), FILES["test"][0]) is None:
            raise ValueError(f"root: {str(root)!r} holds no Fashion-MNIST IDX files. {MISSING_HELP}")
        return Path(root)
    return DEBIAN_ROOT if _file(DEBIAN_ROOT, FILES["train"][0]) is not None else None


class FashionMNIST(Dataset):
    """Fashion-MNIST: 60k train / 10k test 28x28 grayscale images of 10 clothing classes.

    Items are ``(image, label)`` with ``image`` a float ``(1, 28, 28)`` tensor in [0, 1]
    (after ``transform``, if given) and ``label`` an int; ``classes`` names the labels.
    """

    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

    def __init__(
        self,
        split: str = "train",
        root: str | Path | None = None,
        transform: object | None = None,
        download: bool = False,
    ) -> None:
        if split not in FILES:
            raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
        try:
            folder = find_root(root)
        except ValueError:
            if not download:
                raise
            folder = None
        if folder is None and download:
            folder = _download(root)
        if folder is None:
            raise ValueError(MISSING_HELP)
        images, labels = (_open(folder, stem) for stem in FILES[split])
        if images is None or labels is None:
            raise ValueError(f"root: {str(folder)!r} lacks the {split} files {FILES[split]}")
        self.images = torch.from_numpy(read_idx(images, FILES[split][0]).copy())
        self.labels = torch.from_numpy(read_idx(labels, FILES[split][1]).astype(np.int64))
        if len(self.images) != len(self.labels):
            raise ValueError(f"root: {len(self.images)} images but {len(self.labels)} labels")
        self.transform = transform
        self.root = folder

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index].unsqueeze(0).float() / 255
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])


def _download(root: str | Path | None) -> Path:
    """Fetch with torchvision (users online only; never used by tests or the demo)."""
    from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST

    target = Path(root) if root is not None else Path.home() / ".cache" / "jpegdl"
    for train in (True, False):
        TorchvisionFashionMNIST(str(target), train=train, download=True)
    return target / "FashionMNIST" / "raw"

"""Datasets by name, with their class count, channels, size, normalisation and augmentations.

Datasets yield ``(image, label)`` with images float in [0, 1]; normalisation is done by the
model (``jpegdl.layers.Normalize``), so a JPEG layer can sit in front of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset, Subset

from jpegdl.data.fashion_mnist import FashionMNIST

DATASETS = ("fashion-mnist", "cifar10", "cifar100", "imagefolder:PATH")


@dataclass(frozen=True)
class DatasetInfo:
    """What a model built for a dataset needs to know."""

    name: str
    num_classes: int
    in_chans: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


_INFO = {
    "fashion-mnist": DatasetInfo("fashion-mnist", 10, 1, 28, (0.2860,), (0.3530,)),
    "cifar10": DatasetInfo("cifar10", 10, 3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": DatasetInfo("cifar100", 100, 3, 32, (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}


def known_info(name: str) -> DatasetInfo | None:
    """The :class:`DatasetInfo` of a named dataset without loading it (``None`` for ImageFolder paths)."""
    return _INFO.get(name)


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _transforms(name: str, train: bool, image_size: int) -> object:
    from torchvision import transforms as T

    if name == "fashion-mnist":
        return T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip()]) if train else None
    if name in ("cifar10", "cifar100"):
        steps = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if train else []
        return T.Compose([*steps, T.ToTensor()])
    if train:
        return T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.ToTensor()])
    return T.Compose([T.Resize(int(image_size * 256 / 224)), T.CenterCrop(image_size), T.ToTensor()])


def create_dataset(
    name: str,
    split: str = "train",
    root: str | Path | None = None,
    augment: bool | None = None,
    download: bool = False,
    image_size: int = 224,
) -> tuple[Dataset, DatasetInfo]:
    """A dataset and its :class:`DatasetInfo`.

    Args:
        name: one of :data:`DATASETS` (``imagefolder:PATH`` reads ``PATH/train`` and ``PATH/val``
            or ``PATH/test``).
        split: ``"train"`` or ``"test"``.
        augment: training augmentations (default: on for ``train``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    augment = split == "train" if augment is None else augment
    if name == "fashion-mnist":
        dataset = FashionMNIST(split, root, _transforms(name, augment, 28), download)
        return dataset, _INFO[name]
    if name in ("cifar10", "cifar100"):
        from torchvision import datasets

        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        folder = str(root) if root is not None else str(Path.home() / ".cache" / "jpegdl")
        try:
            dataset = cls(folder, train=split == "train", transform=_transforms(name, augment, 32), download=download)
        except RuntimeError:
            raise ValueError(
                f"{name}: not found under {folder!r}; pass root=FOLDER with the torchvision copy or download=True"
            ) from None
        return dataset, _INFO[name]
    if name.startswith("imagefolder:"):
        return _image_folder(Path(name.split(":", 1)[1]), split, augment, image_size)
    raise ValueError(f"dataset: expected one of {DATASETS}, got {name!r}")


def _load_rgb(path: str):
    """ImageFolder's loader: an RGB PIL image read by jpegdl's one picture reader (formats allowlisted,
    ``JPEGDL_MAX_PIXELS``, 16-bit scaled, EXIF orientation applied), or a ``ValueError`` naming the file."""
    from PIL import Image

    from jpegdl.files.pictures import read_rgb

    try:
        return Image.fromarray(read_rgb(path, name="dataset"))
    except ValueError as err:
        raise ValueError(f"{err}; remove or replace it") from None


def _is_picture(path: str) -> bool:
    from jpegdl.files.pictures import PICTURE_SUFFIXES

    return path.lower().endswith(PICTURE_SUFFIXES)


def _image_folder(path: Path, split: str, augment: bool, image_size: int) -> tuple[Dataset, DatasetInfo]:
    from torchvision.datasets import ImageFolder

    candidates = ["train"] if split == "train" else ["val", "test"]
    folder = next((path / c for c in candidates if (path / c).is_dir()), None)
    if folder is None:
        raise ValueError(f"dataset: {str(path)!r} needs a {' or '.join(candidates)} subfolder of class folders")
    dataset = ImageFolder(str(folder), transform=_transforms("imagefolder", augment, image_size),
                          loader=_load_rgb, is_valid_file=_is_picture)  # fmt: skip
    if not dataset.classes:
        raise ValueError(f"dataset: no class folders in {str(folder)!r}")
    info = DatasetInfo(f"imagefolder:{path}", len(dataset.classes), 3, image_size, IMAGENET_MEAN, IMAGENET_STD)
    return dataset, info


def dataset_slice(
    name: str, split: str, root: str | None = None, count: int | None = None, offset: int = 0
) -> Dataset:
    """Images ``offset .. offset + count`` of a split, un-augmented (``count=None``: to the end).

    Raises:
        ValueError: ``offset`` past the end of the split, or ``count < 1``.
    """
    dataset, _ = create_dataset(name, split, root, augment=False)
    if offset < 0 or offset >= len(dataset):
        raise ValueError(f"offset: the {split} split of {name} has {len(dataset)} images, got offset {offset}")
    if count is not None and count < 1:
        raise ValueError(f"count: expected an integer >= 1, got {count}")
    end = len(dataset) if count is None else min(len(dataset), offset + count)
    if offset == 0 and end == len(dataset):
        return dataset
    return Subset(dataset, range(offset, end))

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from jpegdl.data import FashionMNIST, create_dataset, read_idx


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def fake_fashion(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    return tmp_path


def test_fashion_mnist_from_a_user_folder(fake_fashion):
    train = FashionMNIST("train", root=fake_fashion)
    image, label = train[3]
    assert len(train) == 12 and image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert image.min() >= 0 and image.max() <= 1 and 0 <= label < 10
    assert len(FashionMNIST("test", root=fake_fashion)) == 5


def test_real_fashion_mnist_when_installed():
    from jpegdl.data.fashion_mnist import find_root

    if find_root(None) is None:
        pytest.skip("dataset-fashion-mnist not installed")
    test, info = create_dataset("fashion-mnist", "test")
    assert len(test) == 10_000 and info.num_classes == 10 and info.in_chans == 1


def test_idx_errors():
    with pytest.raises(ValueError, match="IDX"):
        read_idx(b"\x00\x00")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(struct.pack(">HBBI", 0, 8, 1, 10) + b"\x00" * 3)


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr("jpegdl.data.fashion_mnist.DEBIAN_ROOT", tmp_path / "none")
    with pytest.raises(ValueError, match="apt-get install dataset-fashion-mnist"):
        FashionMNIST("train", root=tmp_path)


def test_imagefolder_stand_in(tmp_path):
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((40, 50, 3), 40 * i, np.uint8)).save(tmp_path / split / cls / f"{i}.png")
    train, info = create_dataset(f"imagefolder:{tmp_path}", "train", image_size=32)
    image, _ = train[0]
    assert image.shape == (3, 32, 32) and info.num_classes == 2 and info.in_chans == 3
    test, _ = create_dataset(f"imagefolder:{tmp_path}", "test", image_size=32)
    assert len(test) == 4


def test_unknown_dataset_lists_choices():
    with pytest.raises(ValueError, match="fashion-mnist"):
        create_dataset("mnist")
    with pytest.raises(ValueError, match="split"):
        create_dataset("fashion-mnist", "validation")


@pytest.mark.parametrize("name, classes, label_key, meta_key", [("cifar10", 10, "labels", "label_names"),
                                                                 ("cifar100", 100, "fine_labels", "fine_label_names")])
def test_cifar_stand_in_in_torchvision_layout(tmp_path, monkeypatch, name, classes, label_key, meta_key):
    """A generated copy in torchvision's pickled layout (its md5 checks are for the real files only)."""
    import pickle

    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    folder = tmp_path / cls.base_folder
    folder.mkdir()
    rng = np.random.default_rng(0)
    for file_name, _ in cls.train_list + cls.test_list:
        batch = {"data": rng.integers(0, 256, (6, 3072), dtype=np.uint8), label_key: list(range(6))}
        (folder / file_name).write_bytes(pickle.dumps(batch))
    (folder / cls.meta["filename"]).write_bytes(pickle.dumps({meta_key: [f"c{i}" for i in range(classes)]}))
    monkeypatch.setattr(datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    train, info = create_dataset(name, "train", tmp_path)
    test, _ = create_dataset(name, "test", tmp_path)
    assert info.num_classes == classes and info.in_chans == 3
    assert len(train) == 6 * len(cls.train_list) and len(test) == 6
    image, label = test[2]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert label == 2
    augmented, _ = train[0]
    assert augmented.shape == (3, 32, 32)


def test_a_corrupt_image_in_an_image_folder_is_named(tmp_path):
    import numpy as np
    from PIL import Image

    from jpegdl.data import create_dataset

    for name in ("a", "b"):
        (tmp_path / "train" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "train" / name / "ok.png")
    (tmp_path / "train" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    dataset, _ = create_dataset(f"imagefolder:{tmp_path}", "train", augment=False)
    broken = next(i for i, (path, _) in enumerate(dataset.samples) if path.endswith("broken.png"))
    with pytest.raises(ValueError, match=r"cannot read picture .*broken\.png"):
        dataset[broken]

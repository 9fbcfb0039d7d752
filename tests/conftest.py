"""Shared fixtures: real photographs and a reference libjpeg-turbo encoder (Pillow + jpeglib)."""

from __future__ import annotations

import io
import os
import tempfile

import numpy as np
import pytest
import torch
from PIL import Image

from jpegdl.jpeg.tables import QuantTables

torch.set_num_threads(min(2, os.cpu_count() or 1))


def _photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {
        "astronaut": data.astronaut()[:256, 128:384],
        "chelsea": data.chelsea()[:200, 100:300],
        "coffee": data.coffee()[100:300, 200:400],
    }


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Three real RGB photographs (uint8, (H, W, 3), about 200-256 px) from scikit-image."""
    return {name: np.ascontiguousarray(image) for name, image in _photos().items()}


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 (H, W[, 3]) -> float (1, C, H, W) in [0, 1]."""
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float()[None] / 255


def pillow_jpeg(array: np.ndarray, tables: QuantTables, subsampling: str = "4:2:0") -> bytes:
    """Encode with Pillow (libjpeg-turbo) using exactly ``tables``."""
    qtables = [tables.luma.flatten().tolist()]
    options = {}
    if array.ndim == 3:
        qtables.append(tables.chroma.flatten().tolist())
        options["subsampling"] = {"4:4:4": 0, "4:2:0": 2}[subsampling]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", qtables=qtables, **options)
    return buffer.getvalue()


def libjpeg_coefficients(data: bytes) -> list[np.ndarray]:
    """Quantized coefficient blocks per component, read with jpeglib (independent of jpegdl.files)."""
    import jpeglib

    with tempfile.NamedTemporaryFile(suffix=".jpg") as file:
        file.write(data)
        file.flush()
        jpeg = jpeglib.read_dct(file.name)
        components = [np.array(jpeg.Y)]
        if jpeg.has_chrominance:
            components += [np.array(jpeg.Cb), np.array(jpeg.Cr)]
    return components


def pillow_pixels(data: bytes) -> np.ndarray:
    """Pixels decoded by Pillow (libjpeg-turbo, ISLOW, fancy upsampling), (H, W[, 3]) uint8."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def _train_run(out, **options):
    from jpegdl.data.fashion_mnist import find_root
    from jpegdl.train import TrainConfig, Trainer

    if find_root(None) is None:
        pytest.skip("dataset-fashion-mnist not installed")
    config = TrainConfig(model="resnet8", epochs=1, batch_size=64, limit_train=256, limit_test=64, out=str(out),
                         **options)  # fmt: skip
    Trainer(config).fit()
    return out


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A resnet8 run folder trained briefly on 256 Fashion-MNIST images (no JPEG layer)."""
    return _train_run(tmp_path_factory.mktemp("runs") / "r8")


@pytest.fixture(scope="session")
def jpeg_run(tmp_path_factory):
    """The same, behind a trainable JPEG layer (JPEG-DL)."""
    return _train_run(tmp_path_factory.mktemp("runs") / "r8-jpeg", jpeg=True)

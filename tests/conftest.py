"""Shared fixtures: real photographs and a reference libjpeg-turbo encoder (Pillow + jpeglib)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

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


TRAINED_FIXTURES = {"trained_run", "jpeg_run", "route_teacher", "tiny_model"}


def pytest_collection_modifyitems(config, items):
    """Tests that need a trained run are slow (``pytest -m "not slow"`` skips them)."""
    for item in items:
        if TRAINED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)

"""Datasets: Fashion-MNIST (offline), CIFAR-10/100 (torchvision), ImageFolder."""

from jpegdl.data.fashion_mnist import FashionMNIST, read_idx
from jpegdl.data.registry import DATASETS, DatasetInfo, create_dataset, dataset_slice

__all__ = ["DATASETS", "DatasetInfo", "FashionMNIST", "create_dataset", "dataset_slice", "read_idx"]

"""LAW's policy search on a cheap proxy, so that it sees hundreds of episodes on a CPU.

An episode trains a small MLP (and its duplicate) on a few thousand noisy training images held in
memory as tensors (no augmentation, no image decoding), in the same ``num_stages`` stages and with
the same learning-rate schedule as the full run. The policy's state (stage index, loss EMA,
mean-weight EMA, learning rate) and its per-example features (normalised loss, entropy) do not
depend on the network, so the policy found here drives a full run of any model unchanged
(:func:`~jpegdl.weighting.search.policy_weighting`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from jpegdl.weighting.loop import LoopSettings
from jpegdl.weighting.search import SearchSettings, search_policy


@dataclass
class ProxySettings:
    """The proxy: ``size`` noisy training images, average-pooled ``pool x pool`` (frozen features), an MLP
    with ``hidden`` units, ``epochs`` per episode.

    ``search`` holds the episodes, stages and agent settings; its ``loop`` is replaced by the proxy's
    (``epochs``, ``batch_size``, ``lr``, ``momentum``, ``weight_decay``).
    """

    size: int = 2000
    hidden: int = 128
    pool: int = 2
    epochs: int = 15
    batch_size: int = 100
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    search: SearchSettings = field(default_factory=SearchSettings)

    def __post_init__(self) -> None:
        if isinstance(self.search, dict):
            self.search = SearchSettings(**self.search)
        for name in ("size", "hidden", "pool", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        self.search.loop = LoopSettings(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                                        momentum=self.momentum, weight_decay=self.weight_decay)  # fmt: skip


def proxy_model(in_features: int, hidden: int, num_classes: int) -> nn.Module:
    """``Flatten -> Linear(in_features, hidden) -> ReLU -> Linear(hidden, num_classes)``; input ``(B, ...)`` float
    (the proxy's frozen features, see :func:`pooled_features`)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def pooled_features(images: torch.Tensor, pool: int) -> torch.Tensor:
    """The proxy's fixed features: ``pool x pool`` average pooling, images ``(N, C, H, W)`` -> float
    ``(N, C * (H // pool) * (W // pool))``."""
    if pool > 1:
        images = nn.functional.avg_pool2d(images, pool)
    return images.flatten(1)


def tensor_subset(dataset: Dataset, indices: list[int]) -> TensorDataset:
    """``dataset``'s items at ``indices`` held as two tensors: images float ``(N, ...)``, labels int64 ``(N,)``."""
    if not indices:
        raise ValueError("indices: expected at least one index")
    items = [dataset[i] for i in indices]
    images = torch.stack([torch.as_tensor(image, dtype=torch.float32) for image, _ in items])
    labels = torch.tensor([int(label) for _, label in items], dtype=torch.long)
    return TensorDataset(images, labels)


def proxy_search(
    train_set: TensorDataset,
    val_set: TensorDataset,
    num_classes: int,
    settings: ProxySettings,
    **files: str | Path | int | bool | None,
) -> dict:
    """:func:`~jpegdl.weighting.search.search_policy` on the proxy (CPU); same return value. ``files``:
    its ``checkpoint``, ``log``, ``stop_after`` and ``progress`` arguments.

    Args:
        train_set: noisy proxy training images float ``(N, C, H, W)`` (the first ``settings.size`` are used).
        val_set: clean validation images ``(M, C, H, W)`` (the reward), never the test set.
    """
    if len(train_set) < settings.size:
        raise ValueError(f"train_set: the proxy needs {settings.size} images, got {len(train_set)}")
    images, labels = train_set.tensors
    proxy = TensorDataset(pooled_features(images[:settings.size], settings.pool), labels[:settings.size])
    val = TensorDataset(pooled_features(val_set.tensors[0], settings.pool), val_set.tensors[1])
    in_features = int(proxy.tensors[0].shape[1])

    def make_model() -> nn.Module:
        return proxy_model(in_features, settings.hidden, num_classes)

    return search_policy(make_model, proxy, val, settings.search, "cpu", **files)

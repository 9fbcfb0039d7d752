"""The training run's side of example weighting: noisy labels and the validation split, the
weighting object the loop calls, and LAW's policy search in ``RUN/law/``.

``RUN/law/search.pt`` (search state, continued when the same command runs again or with
``--resume``), ``RUN/law/episodes.csv`` (reward of every episode) and ``RUN/law/policy.pt`` (the best
policy, reusable with ``--weighting-policy``); ``RUN/label_noise.pt`` records the corrupted labels.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from jpegdl.data import dataset_slice
from jpegdl.data.noisy import NoisyLabels, train_val_indices
from jpegdl.runs import TrainConfig, save_checkpoint
from jpegdl.utils import DistContext
from jpegdl.weighting import (
    ExampleWeighting,
    LoopSettings,
    SearchSettings,
    SmallLossWeighting,
    UniformWeighting,
    WeightingConfig,
    load_policy,
    policy_weighting,
    save_policy,
    search_policy,
    weighted_mean,
)

LAW_FOLDER = "law"


def noisy_splits(train_set: Dataset, config: TrainConfig, num_classes: int) -> tuple[Dataset, Dataset | None,
                                                                                     NoisyLabels | None]:  # fmt: skip
    """``(training set, clean validation set or None, the NoisyLabels wrapper or None)``.

    With ``label_noise > 0`` the training labels are corrupted (deterministically by ``noise_seed``).
    A LAW search carves ``law_val_size`` images from the training set, seeded by ``noise_seed``, with
    their original labels and no augmentation, for its reward; they are then not trained on.
    """
    noisy = None
    if config.label_noise > 0:
        noisy = NoisyLabels(train_set, num_classes, config.label_noise, config.noise_kind, config.noise_seed)
        train_set = noisy
    weighting = config.weighting
    if weighting is None or weighting.method != "law" or weighting.policy is not None:
        return train_set, None, noisy
    train_idx, val_idx = train_val_indices(len(train_set), weighting.law_val_size, config.noise_seed)
    plain = dataset_slice(config.dataset, "train", config.data_root, config.limit_train)
    return Subset(train_set, train_idx), Subset(plain, val_idx), noisy


def save_noise_record(noisy: NoisyLabels, path: Path) -> None:
    """``path`` <- ``{"labels", "clean_labels", "flipped"}`` (indices of the training set before any split)."""
    save_checkpoint({"labels": noisy.labels, "clean_labels": noisy.clean_labels, "flipped": noisy.flipped}, path)


class RunWeighting:
    """The weighting a :class:`~jpegdl.train.Trainer` applies; a LAW run without a policy file first
    needs :func:`run_law_search` (``needs_search``) and then :meth:`use` of its policy."""

    def __init__(self, config: WeightingConfig, context: DistContext) -> None:
        self.context = context
        self.weighting: ExampleWeighting | None = None
        if config.method == "uniform":
            self.weighting = UniformWeighting()
        elif config.method == "small-loss":
            self.weighting = SmallLossWeighting(config.small_loss_drop, config.small_loss_ramp)
        elif config.policy is not None:
            self.use(load_policy(config.policy))

    @property
    def needs_search(self) -> bool:
        return self.weighting is None

    def use(self, policy: dict) -> None:
        self.weighting = policy_weighting(policy)
        self.weighting.context = self.context  # the same state, hence the same action, on every process

    def start(self, total_steps: int, state: dict | None = None) -> None:
        self.weighting.start(total_steps)
        if state:
            self.weighting.load_state_dict(state)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, step: int, lr: float) -> torch.Tensor:
        """The weighted mean of the per-example cross-entropies (global over DDP processes)."""
        losses = nn.functional.cross_entropy(logits, labels, reduction="none")
        return weighted_mean(losses, self.weighting.weights(losses, logits, step, lr), self.context)

    def state_dict(self) -> dict:
        return self.weighting.state_dict() if self.weighting is not None else {}


def build_weighting(config: WeightingConfig | None, context: DistContext) -> RunWeighting | None:
    """``None`` without a weighting config (the loop's plain mean cross-entropy, unchanged)."""
    return None if config is None else RunWeighting(config, context)


def run_law_search(make_model: Callable[[], nn.Module], train_set: Dataset, val_set: Dataset, config: TrainConfig,
                   device: torch.device, folder: Path, context: DistContext) -> dict:  # fmt: skip
    """Search (or continue searching) a LAW policy into ``folder``; return the best policy.

    The episodes use LAW's own schedule (SGD, lr x0.1 at 75 % and 87.5 %) with the run's batch
    size, learning rate, momentum, weight decay and seed.

    Raises:
        ValueError: under DDP (the search is single-process: run it without torchrun first, or pass
            ``--weighting-policy``), or a search checkpoint written with other settings.
    """
    if context.enabled:
        raise ValueError("weighting: the LAW policy search runs in one process; search without torchrun first"
                         " (or pass --weighting-policy FILE)")  # fmt: skip
    law = config.weighting
    loop = LoopSettings(epochs=law.law_epochs, batch_size=config.batch_size, lr=config.lr, momentum=config.momentum,
                        weight_decay=config.weight_decay, seed=config.seed, workers=config.workers)  # fmt: skip
    settings = SearchSettings(episodes=law.law_episodes, num_stages=law.law_stages,
                              warmup_stages=law.law_warmup_stages, loop=loop, actor_lr=law.law_actor_lr,
                              seed=config.seed)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    result = search_policy(make_model, train_set, val_set, settings, device, checkpoint=folder / "search.pt",
                           log=folder / "episodes.csv", progress=True)  # fmt: skip
    save_policy(result["policy"], folder / "policy.pt")
    return result["policy"]

"""LAW's policy search: episodes of shortened training with a duplicate reference network, a DDPG
agent updated after every stage, the best policy kept; checkpointed after every episode, so an
interrupted search continues exactly where it stopped.

Files (all written atomically; checkpoints hold tensors, numbers, strings, lists and dicts only, and
load with ``torch.load(weights_only=True)``):

- ``checkpoint`` (e.g. ``RUN/law/search.pt``): settings, episodes done, the agent, the best actor;
- ``log`` (e.g. ``RUN/law/episodes.csv``): one row per episode;
- the policy itself is returned (and saved with :func:`save_policy`, e.g. ``RUN/law/policy.pt``).
"""

from __future__ import annotations

import copy
import csv
import io
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from jpegdl.checkpoints import load_checkpoint, save_checkpoint
from jpegdl.evaluate import top1_accuracy
from jpegdl.utils import atomic_write_text
from jpegdl.weighting.agent import EXPLORE_MODES, Actor, DDPGAgent
from jpegdl.weighting.law import ACTION_DIM, LawWeighting
from jpegdl.weighting.loop import LoopSettings, train_weighted
from jpegdl.weighting.reward import duplicate_network_reward

POLICY_FORMAT = "jpegdl-law-policy-1"
SEARCH_FORMAT = "jpegdl-law-search-1"
LOG_FIELDS = ("episode", "reward", "target_val_acc", "reference_val_acc", "mean_weight", "action_loss",
              "action_entropy", "action_bias", "best", "seconds", "cpu_seconds")  # fmt: skip


@dataclass
class SearchSettings:
    """A policy search: ``episodes`` shortened runs of ``loop`` in ``num_stages`` stages."""

    episodes: int = 10
    num_stages: int = 10
    warmup_stages: int = 2
    loop: LoopSettings = field(default_factory=LoopSettings)
    actor_lr: float = 1e-5
    seed: int = 0
    confirm: bool = True
    full_passes: int = 8
    explore: str = "turn"
    explore_prob: float = 0.3
    explore_scale: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.loop, dict):
            self.loop = LoopSettings(**self.loop)
        if not isinstance(self.episodes, int) or self.episodes < 1:
            raise ValueError(f"episodes: expected an integer >= 1, got {self.episodes!r}")
        if not isinstance(self.num_stages, int) or self.num_stages < 1:
            raise ValueError(f"num_stages: expected an integer >= 1, got {self.num_stages!r}")
        if not isinstance(self.full_passes, int) or self.full_passes < 1:
            raise ValueError(f"full_passes: expected an integer >= 1, got {self.full_passes!r}")
        if self.explore not in EXPLORE_MODES:
            raise ValueError(f"explore: expected one of {EXPLORE_MODES}, got {self.explore!r}")
        if not 0 <= self.explore_prob <= 1:
            raise ValueError(f"explore_prob: expected a probability in [0, 1], got {self.explore_prob!r}")
        if not (math.isfinite(self.explore_scale) and self.explore_scale > 0):
            raise ValueError(f"explore_scale: expected a finite value > 0, got {self.explore_scale!r}")
        if not 0 <= self.warmup_stages < self.num_stages:
            raise ValueError(f"warmup_stages: expected 0 <= warmup_stages < num_stages={self.num_stages}, got"
                             f" {self.warmup_stages!r}")  # fmt: skip


MAX_STAGES = 1000


def _stage_counts(policy: dict) -> tuple[int, int]:
    """``(num_stages, warmup_stages)`` of a policy dict, checked against :data:`MAX_STAGES` before anything is built."""
    counts = []
    for name in ("num_stages", "warmup_stages"):
        value = policy.get(name)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"policy: {name} must be an integer, got {type(value).__name__}")
        counts.append(value)
    stages, warmup = counts
    if not 1 <= stages <= MAX_STAGES:
        raise ValueError(f"policy: num_stages must be in [1, {MAX_STAGES}], got {stages}")
    if not 0 <= warmup < stages:
        raise ValueError(f"policy: warmup_stages must be in [0, num_stages={stages}), got {warmup}")
    return stages, warmup


def _check_actor_state(state: object, stages: int) -> None:
    """Every tensor of a saved actor must have exactly the shape of an ``Actor(stages)`` (checked on
    shapes alone, so a crafted file cannot make us allocate more than a real actor)."""
    if not isinstance(state, dict):
        raise ValueError(f"policy: actor must be a dict of tensors, got {type(state).__name__}")
    expected = {name: tuple(shape) for name, shape in _actor_shapes(stages).items()}
    got = {name: tuple(value.shape) if isinstance(value, torch.Tensor) else None for name, value in state.items()}
    if got != expected:
        wrong = sorted(name for name in set(expected) | set(got) if expected.get(name) != got.get(name))
        raise ValueError(f"policy: the actor does not match num_stages={stages} (bad or missing:"
                         f" {', '.join(wrong[:4])})")  # fmt: skip


def _actor_shapes(stages: int) -> dict[str, torch.Size]:
    with torch.device("meta"):
        return {name: value.shape for name, value in Actor(stages, ACTION_DIM).state_dict().items()}


def policy_weighting(policy: dict) -> LawWeighting:
    """A :class:`LawWeighting` driven by a saved policy (see :func:`save_policy`).

    The stage counts are read and bounded (``num_stages`` <= :data:`MAX_STAGES`) and the actor's tensor
    shapes checked before any network is built.

    Raises:
        ValueError: not a LAW policy, out-of-range stage counts, or an actor that does not fit them.
    """
    if not isinstance(policy, dict) or policy.get("format") != POLICY_FORMAT:
        raise ValueError(f"policy: expected a {POLICY_FORMAT!r} dict, got {type(policy).__name__}"
                         f" {policy.get('format') if isinstance(policy, dict) else ''!r}")  # fmt: skip
    stages, warmup = _stage_counts(policy)
    if policy.get("uniform"):
        return LawWeighting(stages, warmup, policy=lambda state: torch.zeros(ACTION_DIM))
    _check_actor_state(policy.get("actor"), stages)
    actor = Actor(stages, ACTION_DIM)
    actor.load_state_dict(policy["actor"])
    if not all(torch.isfinite(value).all() for value in actor.state_dict().values()):
        raise ValueError("policy: the actor holds non-finite weights")
    actor.eval()
    return LawWeighting(stages, warmup, policy=actor.act)


def save_policy(policy: dict, path: str | Path) -> Path:
    """Write a policy dict atomically (loads with ``weights_only=True``)."""
    return save_checkpoint(policy, path)


def load_state(path: str | Path, name: str) -> dict:
    """A weights-only dict (``ValueError`` naming ``name`` for a missing, corrupt or unsafe file)."""
    return load_checkpoint(path, name)


def load_policy(path: str | Path) -> dict:
    """A policy saved by :func:`save_policy`, validated (``ValueError`` otherwise)."""
    policy = load_state(path, "policy")
    policy_weighting(policy)
    return policy


def _policy(actor: Actor, settings: SearchSettings, episode: int, reward: float) -> dict:
    return {"format": POLICY_FORMAT, "actor": copy.deepcopy(actor.state_dict()), "num_stages": settings.num_stages,
            "warmup_stages": settings.warmup_stages, "episode": episode, "reward": reward,
            "uniform": False}  # fmt: skip


def confirm_policy(policy: dict, make_model: Callable[[], nn.Module], train_set: Dataset, val_loader: DataLoader,
                   settings: SearchSettings, device: torch.device) -> dict:  # fmt: skip
    """Replay the kept policy, deterministically and without learning, in one more episode (a seed no
    search episode used) and keep it only if its total DNR reward is positive; otherwise the returned
    policy is uniform weighting (plain training), so a search never ships a policy that loses to the
    unweighted duplicate.

    The kept actor is the one at the *end* of its best episode, already changed by that episode's
    Full Data Updates, so its own reward was never measured before this replay.
    """
    actor = Actor(settings.num_stages, ACTION_DIM)
    actor.load_state_dict(policy["actor"])
    actor.eval()
    cpu = time.process_time()
    replay = run_episode(None, make_model, train_set, val_loader, settings, settings.episodes, device,
                         policy=actor.act)  # fmt: skip
    confirmed = dict(policy, confirmed_reward=replay["reward"], confirmed_val_acc=replay["target_val_acc"],
                     reference_val_acc=replay["reference_val_acc"],
                     confirm_cpu_seconds=time.process_time() - cpu)  # fmt: skip
    confirmed["uniform"] = not replay["reward"] > 0
    return confirmed


def _percent_accuracy(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    return 100.0 * top1_accuracy(model, loader, device)


def run_episode(
    agent: DDPGAgent | None,
    make_model: Callable[[], nn.Module],
    train_set: Dataset,
    val_loader: DataLoader,
    settings: SearchSettings,
    episode: int,
    device: torch.device,
    policy: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """One episode: a fresh model and its duplicate trained on the same batches; after every stage past
    the warm-up, the DNR reward and a transition for the agent (Full Data Update).

    ``policy`` overrides the agent's exploring actor (tests use a fixed action); the agent still learns
    unless it is ``None`` (a replay of a finished policy).
    Returns the episode's total reward, last validation accuracies and mean action.
    """
    seed = settings.seed * 100_003 + episode
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = make_model().to(device)
    reference = copy.deepcopy(model)
    pending: dict = {}

    def choose(state: torch.Tensor) -> torch.Tensor:
        action = agent.explore(state) if policy is None else policy(state)
        pending.update(state=state, action=action.detach().float().cpu())
        return action

    weighting = LawWeighting(settings.num_stages, settings.warmup_stages, policy=choose)
    outcome = {"reward": 0.0, "target_val_acc": float("nan"), "reference_val_acc": float("nan"), "actions": []}

    def stage_end(stage: int) -> None:
        if stage < settings.warmup_stages:
            return
        target_acc = _percent_accuracy(model, val_loader, device)
        reference_acc = _percent_accuracy(reference, val_loader, device)
        reward = duplicate_network_reward(target_acc, reference_acc, stage, settings.num_stages)
        done = stage == settings.num_stages - 1
        if agent is not None:
            next_state = weighting.state(min(stage + 1, settings.num_stages - 1))
            agent.observe(pending["state"], pending["action"], reward, next_state, done)
        outcome["reward"] += reward
        outcome.update(target_val_acc=target_acc, reference_val_acc=reference_acc)
        outcome["actions"].append(pending["action"])

    loop = LoopSettings(**{**asdict(settings.loop), "seed": seed})
    train_weighted(model, train_set, weighting, loop, device, settings.num_stages, stage_end, reference)
    outcome["mean_weight"] = float(weighting.weight_ema)
    return outcome


def search_policy(
    make_model: Callable[[], nn.Module],
    train_set: Dataset,
    val_set: Dataset,
    settings: SearchSettings,
    device: torch.device | str = "cpu",
    checkpoint: str | Path | None = None,
    log: str | Path | None = None,
    stop_after: int | None = None,
    progress: bool = False,
) -> dict:
    """Run (or continue, from ``checkpoint``) the search; return ``{"policy", "rewards", "rows", "done"}``.

    Args:
        make_model: builds a fresh, untrained model (called under a per-episode seed).
        train_set: the (noisy) training images of each episode.
        val_set: clean validation images for the reward (never the test set).
        checkpoint: search state, rewritten after each episode; continued when it exists.
        log: CSV of the episodes, rewritten after each episode.
        stop_after: stop after this many episodes of this call (as an interruption would).

    Raises:
        ValueError: a checkpoint written with other settings.
    """
    device = torch.device(device)
    agent = DDPGAgent(settings.num_stages, ACTION_DIM, seed=settings.seed, actor_lr=settings.actor_lr,
                      full_passes=settings.full_passes, explore_prob=settings.explore_prob, explore=settings.explore,
                      explore_scale=settings.explore_scale)  # fmt: skip
    wanted = asdict(settings)
    state = {"episode": 0, "rows": [], "best": None, "confirmed": None}
    if checkpoint is not None and Path(checkpoint).is_file():
        saved = load_state(checkpoint, "checkpoint")
        if saved.get("format") != SEARCH_FORMAT:
            raise ValueError(f"checkpoint: {str(checkpoint)!r} is not a LAW search checkpoint")
        if saved["settings"] != wanted:
            changed = sorted(k for k in wanted if saved["settings"].get(k) != wanted[k])
            raise ValueError(f"checkpoint: {str(checkpoint)!r} was written with other settings ({', '.join(changed)});"
                             " remove it or use the same settings")  # fmt: skip
        try:
            agent.load_state_dict(saved["agent"])
        except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"checkpoint: {str(checkpoint)!r} holds a damaged agent ({reason})") from None
        state = {"episode": saved["episode"], "rows": saved["rows"], "best": saved["best"],
                 "confirmed": saved.get("confirmed")}  # fmt: skip
    val_loader = DataLoader(val_set, batch_size=500)
    last = settings.episodes if stop_after is None else min(settings.episodes, state["episode"] + stop_after)
    episodes = range(state["episode"], last)
    for episode in tqdm(episodes, desc="LAW search", disable=not progress, dynamic_ncols=True):
        started, cpu = time.perf_counter(), time.process_time()
        outcome = run_episode(agent, make_model, train_set, val_loader, settings, episode, device)
        actions = torch.stack(outcome["actions"]).mean(0) if outcome["actions"] else torch.zeros(ACTION_DIM)
        best = state["best"] is None or outcome["reward"] > state["best"]["reward"]
        if best:
            state["best"] = _policy(agent.actor, settings, episode, outcome["reward"])
        state["rows"].append({
            "episode": episode + 1, "reward": outcome["reward"], "target_val_acc": outcome["target_val_acc"],
            "reference_val_acc": outcome["reference_val_acc"], "mean_weight": outcome["mean_weight"],
            "action_loss": float(actions[0]), "action_entropy": float(actions[1]), "action_bias": float(actions[2]),
            "best": int(best), "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu,
        })  # fmt: skip
        state["episode"] = episode + 1
        if checkpoint is not None:
            payload = {"format": SEARCH_FORMAT, "settings": wanted, "agent": agent.state_dict(), **state}
            save_policy(payload, checkpoint)
        if log is not None:
            write_log(state["rows"], log)
        if progress:
            tqdm.write(f"episode {episode + 1}/{settings.episodes}: reward {outcome['reward']:+.4f}"
                       f" (val {outcome['target_val_acc']:.2f} vs reference {outcome['reference_val_acc']:.2f})")
    done = state["episode"] >= settings.episodes
    if done and settings.confirm and state["confirmed"] is None:
        state["confirmed"] = confirm_policy(state["best"], make_model, train_set, val_loader, settings, device)
        if checkpoint is not None:
            save_policy({"format": SEARCH_FORMAT, "settings": wanted, "agent": agent.state_dict(), **state}, checkpoint)
        if progress:
            verdict = "uniform weights kept instead" if state["confirmed"]["uniform"] else "kept"
            tqdm.write(f"replay of episode {state['best']['episode'] + 1}'s policy: reward"
                       f" {state['confirmed']['confirmed_reward']:+.4f}, {verdict}")  # fmt: skip
    policy = state["confirmed"] if state["confirmed"] is not None else state["best"]
    return {"policy": policy, "rewards": [row["reward"] for row in state["rows"]], "rows": state["rows"],
            "done": done}  # fmt: skip


def write_log(rows: list[dict], path: str | Path) -> None:
    """The episodes' CSV (:data:`LOG_FIELDS`), written atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, LOG_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text.getvalue())

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
from jpegdl.weighting.agent import Actor, DDPGAgent
from jpegdl.weighting.law import ACTION_DIM, LawWeighting
from jpegdl.weighting.loop import LoopSettings, train_weighted
from jpegdl.weighting.reward import duplicate_network_reward

POLICY_FORMAT = "jpegdl-law-policy-1"
SEARCH_FORMAT = "jpegdl-law-search-1"
LOG_FIELDS = ("episode", "reward", "target_val_acc", "reference_val_acc", "mean_weight", "action_loss",
              "action_entropy", "action_bias", "best", "seconds")  # fmt: skip


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

    def __post_init__(self) -> None:
        if isinstance(self.loop, dict):
            self.loop = LoopSettings(**self.loop)
        if not isinstance(self.episodes, int) or self.episodes < 1:
            raise ValueError(f"episodes: expected an integer >= 1, got {self.episodes!r}")
        if not isinstance(self.num_stages, int) or self.num_stages < 1:
            raise ValueError(f"num_stages: expected an integer >= 1, got {self.num_stages!r}")
        if not 0 <= self.warmup_stages < self.num_stages:
            raise ValueError(f"warmup_stages: expected 0 <= warmup_stages < num_stages={self.num_stages}, got"
                             f" {self.warmup_stages!r}")  # fmt: skip


def policy_weighting(policy: dict) -> LawWeighting:
    """A :class:`LawWeighting` driven by a saved policy (see :func:`save_policy`).

    Raises:
        ValueError: not a LAW policy, or one whose actor does not fit its stage count.
    """
    if not isinstance(policy, dict) or policy.get("format") != POLICY_FORMAT:
        raise ValueError(f"policy: expected a {POLICY_FORMAT!r} dict, got {type(policy).__name__}"
                         f" {policy.get('format') if isinstance(policy, dict) else ''!r}")  # fmt: skip
    if policy.get("uniform"):
        return LawWeighting(int(policy["num_stages"]), int(policy["warmup_stages"]),
                            policy=lambda state: torch.zeros(ACTION_DIM))  # fmt: skip
    actor = Actor(int(policy["num_stages"]), ACTION_DIM)
    try:
        actor.load_state_dict(policy["actor"])
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"policy: the actor does not match its stage count ({str(err).splitlines()[0]})") from None
    actor.eval()
    return LawWeighting(int(policy["num_stages"]), int(policy["warmup_stages"]), policy=actor.act)


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
    replay = run_episode(None, make_model, train_set, val_loader, settings, settings.episodes, device,
                         policy=actor.act)  # fmt: skip
    confirmed = dict(policy, confirmed_reward=replay["reward"], confirmed_val_acc=replay["target_val_acc"],
                     reference_val_acc=replay["reference_val_acc"])  # fmt: skip
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
    agent = DDPGAgent(settings.num_stages, ACTION_DIM, seed=settings.seed, actor_lr=settings.actor_lr)
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
        agent.load_state_dict(saved["agent"])
        state = {"episode": saved["episode"], "rows": saved["rows"], "best": saved["best"],
                 "confirmed": saved.get("confirmed")}  # fmt: skip
    val_loader = DataLoader(val_set, batch_size=500)
    last = settings.episodes if stop_after is None else min(settings.episodes, state["episode"] + stop_after)
    episodes = range(state["episode"], last)
    for episode in tqdm(episodes, desc="LAW search", disable=not progress, dynamic_ncols=True):
        started = time.perf_counter()
        outcome = run_episode(agent, make_model, train_set, val_loader, settings, episode, device)
        actions = torch.stack(outcome["actions"]).mean(0) if outcome["actions"] else torch.zeros(ACTION_DIM)
        best = state["best"] is None or outcome["reward"] > state["best"]["reward"]
        if best:
            state["best"] = _policy(agent.actor, settings, episode, outcome["reward"])
        state["rows"].append({
            "episode": episode + 1, "reward": outcome["reward"], "target_val_acc": outcome["target_val_acc"],
            "reference_val_acc": outcome["reference_val_acc"], "mean_weight": outcome["mean_weight"],
            "action_loss": float(actions[0]), "action_entropy": float(actions[1]), "action_bias": float(actions[2]),
            "best": int(best), "seconds": time.perf_counter() - started,
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

"""LAW's DDPG agent (official code's formulation), in plain torch.

- Actor: stage embedding (16) + 3 scalars -> 256 -> 512 -> 256 -> action, ReLU, linear output,
  weights ~ N(0, 0.05), biases 0.
- Critic: the same state input + the action -> 256 -> 512 -> 256 -> 1, weights ~ N(0, 0.01).
- Adam (actor 1e-5, critic 1e-3, weight decay 1e-5), tau 0.001, gamma 0.99, gradient-norm clip 5,
  actor loss ``-Q + 0.001 * |a|``.
- Full Data Update: after each transition, ``full_passes`` (8) shuffled passes over the whole
  replay buffer (500 transitions) in minibatches of 32.
- Exploration: with probability 0.3, Ornstein-Uhlenbeck noise (theta 0.15, sigma 0.2) times epsilon
  (0.5, minus 0.0002 per action) is added to the unit-normalised action, which is then rescaled to
  the action's own norm (``explore="turn"``, the official code: exploration turns the action, it does
  not grow it). ``explore="add"`` (ours, for short proxy searches) adds the noise times
  ``explore_scale`` to the action itself, so an actor that starts near 0 still tries strong weightings.

States are float ``(N, 4)``: column 0 the stage index, then loss EMA, mean-weight EMA, lr.
Every random draw comes from the agent's own ``generator``, so a checkpointed agent continues exactly.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

EMBED_DIM = 16
EXPLORE_MODES = ("turn", "add")


def _mlp(inputs: int, outputs: int, std: float) -> nn.Sequential:
    layers = [nn.Linear(inputs, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
              nn.Linear(256, outputs)]  # fmt: skip
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, std)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class _StateEncoder(nn.Module):
    """Stage index -> ``nn.Embedding(num_stages + 10, 16)``, concatenated with the 3 scalars: ``(N, 19)``."""

    def __init__(self, num_stages: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_stages + 10, EMBED_DIM)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.embedding(states[:, 0].long()), states[:, 1:]], dim=1)


class Actor(nn.Module):
    """Deterministic policy: states ``(N, 4)`` -> actions ``(N, action_dim)``."""

    def __init__(self, num_stages: int, action_dim: int) -> None:
        super().__init__()
        self.encoder = _StateEncoder(num_stages)
        self.net = _mlp(EMBED_DIM + 3, action_dim, 0.05)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(self.encoder(states))

    @torch.no_grad()
    def act(self, state: torch.Tensor) -> torch.Tensor:
        """The action ``(action_dim,)`` for one state ``(4,)``."""
        return self(state.reshape(1, -1).float())[0]


class Critic(nn.Module):
    """Q-value: states ``(N, 4)``, actions ``(N, action_dim)`` -> ``(N,)``."""

    def __init__(self, num_stages: int, action_dim: int) -> None:
        super().__init__()
        self.encoder = _StateEncoder(num_stages)
        self.net = _mlp(EMBED_DIM + 3 + action_dim, 1, 0.01)

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([self.encoder(states), actions], dim=1)).squeeze(1)


class ReplayBuffer:
    """The last ``capacity`` transitions ``(state, action, reward, next_state, done)`` as tensors."""

    def __init__(self, capacity: int, state_dim: int, action_dim: int) -> None:
        self.capacity = capacity
        self.states = torch.zeros(0, state_dim)
        self.actions = torch.zeros(0, action_dim)
        self.rewards = torch.zeros(0)
        self.next_states = torch.zeros(0, state_dim)
        self.done = torch.zeros(0)

    def __len__(self) -> int:
        return len(self.rewards)

    def add(self, state: torch.Tensor, action: torch.Tensor, reward: float, next_state: torch.Tensor,
            done: bool) -> None:  # fmt: skip
        rows = (state, action, torch.tensor(reward), next_state, torch.tensor(float(done)))
        for name, row in zip(("states", "actions", "rewards", "next_states", "done"), rows, strict=True):
            merged = torch.cat([getattr(self, name), row.reshape(1, *row.shape).float()])
            setattr(self, name, merged[-self.capacity:])

    def state_dict(self) -> dict:
        return {name: getattr(self, name).clone() for name in ("states", "actions", "rewards", "next_states", "done")}

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value.clone())


class OUNoise:
    """Ornstein-Uhlenbeck process ``x += theta (mu - x) + sigma N(0, 1)`` (unit time step)."""

    def __init__(self, size: int, theta: float = 0.15, sigma: float = 0.2, mu: float = 0.0) -> None:
        self.theta, self.sigma, self.mu = theta, sigma, mu
        self.value = torch.full((size,), mu)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        step = torch.randn(self.value.shape, generator=generator)
        self.value = self.value + self.theta * (self.mu - self.value) + self.sigma * step
        return self.value.clone()


class DDPGAgent:
    """Actor, critic, their target copies, a replay buffer and OU exploration (see the module doc).

    Args:
        num_stages: stages per episode (sizes the stage embedding).
        action_dim: LAW's action size (features + 1).
        seed: seeds the networks' initialisation and the agent's own generator.
    """

    def __init__(self, num_stages: int, action_dim: int, seed: int = 0, actor_lr: float = 1e-5,
                 critic_lr: float = 1e-3, weight_decay: float = 1e-5, tau: float = 1e-3, gamma: float = 0.99,
                 buffer_size: int = 500, batch_size: int = 32, full_passes: int = 8, explore_prob: float = 0.3,
                 epsilon: float = 0.5, epsilon_decay: float = 2e-4, explore: str = "turn",
                 explore_scale: float = 1.0) -> None:  # fmt: skip
        if explore not in EXPLORE_MODES:
            raise ValueError(f"explore: expected one of {EXPLORE_MODES}, got {explore!r}")
        fork = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=fork)))
            self.actor = Actor(num_stages, action_dim)
            self.critic = Critic(num_stages, action_dim)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=actor_lr, weight_decay=weight_decay)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=critic_lr, weight_decay=weight_decay)
        self.buffer = ReplayBuffer(buffer_size, 4, action_dim)
        self.noise = OUNoise(action_dim)
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.tau, self.gamma, self.batch_size, self.full_passes = tau, gamma, batch_size, full_passes
        self.explore_prob, self.epsilon, self.epsilon_decay = explore_prob, epsilon, epsilon_decay
        self.explore_mode, self.explore_scale = explore, explore_scale

    def explore(self, state: torch.Tensor) -> torch.Tensor:
        """The actor's action for ``state`` ``(4,)``, explored with probability ``explore_prob`` (module doc)."""
        action = self.actor.act(state)
        if float(torch.rand((), generator=self.generator)) < self.explore_prob:
            noise = max(self.epsilon, 0.0) * self.noise.sample(self.generator)
            if self.explore_mode == "add":
                action = action + self.explore_scale * noise
            else:
                norm = action.norm().clamp_min(1e-12)
                turned = action / norm + noise
                action = turned / turned.norm().clamp_min(1e-12) * norm
        self.epsilon -= self.epsilon_decay
        return action

    def observe(self, state: torch.Tensor, action: torch.Tensor, reward: float, next_state: torch.Tensor,
                done: bool) -> dict:  # fmt: skip
        """Store a transition, then run the Full Data Update; returns the last minibatch's losses."""
        self.buffer.add(state, action, reward, next_state, done)
        losses = {"critic_loss": float("nan"), "actor_loss": float("nan")}
        for _ in range(self.full_passes):
            order = torch.randperm(len(self.buffer), generator=self.generator)
            for start in range(0, len(order), self.batch_size):
                losses = self._update(order[start:start + self.batch_size])
        return losses

    def _update(self, rows: torch.Tensor) -> dict:
        buffer = self.buffer
        states, actions, rewards = buffer.states[rows], buffer.actions[rows], buffer.rewards[rows]
        next_states, done = buffer.next_states[rows], buffer.done[rows]
        with torch.no_grad():
            target = rewards + self.gamma * (1 - done) * self.critic_target(next_states, self.actor_target(next_states))
        critic_loss = nn.functional.mse_loss(self.critic(states, actions), target)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), 5.0)
        self.critic_optimizer.step()
        proposed = self.actor(states)
        actor_loss = -self.critic(states, proposed).mean() + 1e-3 * proposed.norm(dim=1).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), 5.0)
        self.actor_optimizer.step()
        with torch.no_grad():
            for net, target_net in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
                for p, p_target in zip(net.parameters(), target_net.parameters(), strict=True):
                    p_target.lerp_(p, self.tau)
        return {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach())}

    def state_dict(self) -> dict:
        """Tensors, numbers and dicts only (loads with ``weights_only=True``)."""
        return {
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(), "critic_target": self.critic_target.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "buffer": self.buffer.state_dict(), "noise": self.noise.value.clone(),
            "generator": self.generator.get_state(), "epsilon": self.epsilon,
        }  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_optimizer", "critic_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.buffer.load_state_dict(state["buffer"])
        self.noise.value = state["noise"].clone()
        self.generator.set_state(state["generator"])
        self.epsilon = float(state["epsilon"])

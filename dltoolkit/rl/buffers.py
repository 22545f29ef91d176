"""Experience replay: a ring buffer of transitions and the stream that fills it and samples from it.

Off-policy agents (DQN) learn from old transitions ``(s, a, r, s', terminated)`` drawn uniformly from
a buffer (Mnih et al. 2015). ``ReplayDataset`` is the whole collection loop as an ``IterableDataset``:
it steps the vector environment with the agent's exploring policy, stores what happened and yields
sampled batches, so Lightning's own loop calls ``training_step`` on them::

    buffer = ReplayBuffer(10_000, observation_shape=(4,), seed=0)
    data = ReplayDataset(agent, env, buffer, batch_size=64, steps_per_epoch=1000)
    for samples, episodes in data: ...         # one epoch: 1000 environment steps; samples (k, 64, ...)

Ends of episodes: a ``terminated`` episode reached a terminal state, whose value is 0, so its target is
``r`` alone; a ``truncated`` one was cut by a time limit, and its last state still has a future, so its
target bootstraps, ``r + gamma max_a Q(s', a)``, from the real last observation (not the reset one that the
vector environment returns in its place). The buffer stores ``terminated`` only, and the real ``s'``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import IterableDataset

if TYPE_CHECKING:
    import gymnasium as gym

    from dltoolkit.rl.agent import Agent


class ReplaySample(NamedTuple):
    """A batch of transitions, as tensors."""

    observations: Tensor  # (B, *obs_shape) float32
    actions: Tensor  # (B,) int64 (discrete) or (B, action_dim) float32
    rewards: Tensor  # (B,) float32
    next_observations: Tensor  # (B, *obs_shape) float32: the real next state, also after a time limit
    terminated: Tensor  # (B,) float32: 1 where s' is terminal (no bootstrap), 0 otherwise


class ReplayBuffer:
    """A fixed-size ring buffer of transitions in preallocated numpy arrays, sampled uniformly.

    When full, each new transition overwrites the oldest. Sampling draws indices with replacement from
    a seeded generator, so the same seed gives the same batches::

        buffer = ReplayBuffer(3, observation_shape=(2,), seed=0)
        buffer.add(obs, actions, rewards, next_obs, terminated)   # (N, ...) arrays: N transitions
        sample = buffer.sample(32)                                # ReplaySample of tensors

    Args:
        capacity: transitions kept.
        observation_shape: shape of one observation.
        action_shape: shape of one action: ``()`` for discrete actions, ``(action_dim,)`` for continuous.
        action_dtype: ``np.int64`` for discrete actions, ``np.float32`` for continuous.
        seed: seed of the sampling generator.
    """

    def __init__(
        self,
        capacity: int,
        observation_shape: Sequence[int],
        action_shape: Sequence[int] = (),
        action_dtype: type = np.int64,
        seed: int = 0,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity}")
        self.capacity = capacity
        self.observation_shape = tuple(int(d) for d in observation_shape)
        self.action_shape = tuple(int(d) for d in action_shape)
        self.observations = np.zeros((capacity, *self.observation_shape), dtype=np.float32)
        self.next_observations = np.zeros((capacity, *self.observation_shape), dtype=np.float32)
        self.actions: np.ndarray = np.zeros((capacity, *self.action_shape), dtype=action_dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.position = 0  # where the next transition goes
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_observations: np.ndarray,
        terminated: np.ndarray,
    ) -> None:
        """Store ``N`` transitions (one per environment copy): arrays with a leading axis ``N``."""
        obs = np.asarray(observations, dtype=np.float32)
        n = len(obs)
        if obs.shape[1:] != self.observation_shape:
            raise ValueError(f"observations must be (N, {self.observation_shape}), got {obs.shape}")
        act = np.asarray(actions).reshape(n, *self.action_shape)
        idx = (self.position + np.arange(n)) % self.capacity  # wraps around: oldest overwritten first
        self.observations[idx] = obs
        self.next_observations[idx] = np.asarray(next_observations, dtype=np.float32).reshape(obs.shape)
        self.actions[idx] = act
        self.rewards[idx] = np.asarray(rewards, dtype=np.float32).reshape(n)
        self.terminated[idx] = np.asarray(terminated, dtype=np.float32).reshape(n)
        self.position = int((self.position + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, batches: int | None = None) -> ReplaySample:
        """``batch_size`` transitions drawn uniformly with replacement from the stored ones; with
        ``batches``, that many such batches at once, stacked: tensors ``(batches, batch_size, ...)``."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = self.rng.integers(0, self.size, size=batch_size if batches is None else (batches, batch_size))
        return ReplaySample(
            torch.from_numpy(self.observations[idx]),
            torch.from_numpy(self.actions[idx]),
            torch.from_numpy(self.rewards[idx]),
            torch.from_numpy(self.next_observations[idx]),
            torch.from_numpy(self.terminated[idx]),
        )


def real_next_observations(next_observations: np.ndarray, infos: Mapping[str, Any]) -> np.ndarray:
    """The true ``s'`` of each copy of a vector environment that resets in the same step.

    Where an episode ended, the environment returned the next episode's first observation; its real
    last one is in ``infos["final_obs"]`` (``AutoresetMode.SAME_STEP``, see ``make_vector_env``).
    """
    real = np.array(next_observations, dtype=np.float32, copy=True)
    if "_final_obs" in infos:
        for i in np.flatnonzero(infos["_final_obs"]):
            real[i] = infos["final_obs"][i]
    return real


class ReplayDataset(IterableDataset):
    """One epoch of experience: step the environment ``steps_per_epoch`` times, yield sampled batches.

    Every environment step (all copies at once) stores ``num_envs`` transitions; once the agent has taken
    ``learning_starts`` steps, every ``train_freq``-th step is followed by a training phase of
    ``gradient_steps`` batches of ``batch_size`` transitions (SB3's ``train_freq``/``gradient_steps``).
    The buffer does not change during a phase, so its batches are drawn at once and yielded
    ``batches_per_item`` at a time: each item is ``(ReplaySample of (k, batch_size, ...) tensors,
    episodes)``, ``k <= batches_per_item``, where ``episodes`` lists the ``RecordEpisodeStatistics`` infos
    of the episodes that ended since the previous item (for ``Agent.log_episodes``). The next phase's
    steps are taken only when the item after a phase's last is asked for, so a consumer that pulls items
    itself (``training_step(dataloader_iter)``) acts with the network its updates left. The environment,
    buffer and current observation persist across epochs; ``agent.env_steps`` counts the steps.

    Args:
        agent: whose ``act(obs)`` (exploring, not deterministic) chooses the actions.
        env: a vector environment from ``make_vector_env`` (same-step autoreset).
        buffer: where transitions go and batches come from.
        batch_size: transitions per sampled batch.
        steps_per_epoch: environment steps (summed over copies) in one pass.
        learning_starts: environment steps before the first batch (the buffer fills with early experience).
        train_freq: vector-environment steps between training phases.
        gradient_steps: batches per training phase.
        batches_per_item: batches in one item (the last item of a phase may hold fewer).
    """

    def __init__(
        self,
        agent: Agent,
        env: gym.vector.VectorEnv,
        buffer: ReplayBuffer,
        batch_size: int,
        steps_per_epoch: int,
        learning_starts: int = 0,
        train_freq: int = 1,
        gradient_steps: int = 1,
        batches_per_item: int = 1,
    ) -> None:
        for name, value in (
            ("batch_size", batch_size),
            ("steps_per_epoch", steps_per_epoch),
            ("train_freq", train_freq),
            ("gradient_steps", gradient_steps),
            ("batches_per_item", batches_per_item),
        ):
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        self.agent, self.env, self.buffer = agent, env, buffer
        self.batch_size, self.steps_per_epoch = batch_size, steps_per_epoch
        self.learning_starts, self.train_freq = learning_starts, train_freq
        self.gradient_steps, self.batches_per_item = gradient_steps, batches_per_item
        self.observations, _ = env.reset()  # make_vector_env seeded it: this reset continues that stream
        self.vector_steps = 0
        self.episodes: list[dict[str, Any]] = []  # ended since the last yielded batch (across epochs too)

    def __iter__(self) -> Iterator[tuple[ReplaySample, list[dict[str, Any]]]]:
        agent, env = self.agent, self.env
        epoch_end = agent.env_steps + self.steps_per_epoch
        while agent.env_steps < epoch_end:
            actions = agent.act(self.observations)  # exploring (ε-greedy for DQN)
            next_obs, rewards, terminated, _truncated, infos = env.step(actions)
            # bootstrap through time limits: store the real last state and only `terminated`
            self.buffer.add(
                self.observations, actions, rewards, real_next_observations(next_obs, infos), terminated
            )
            self.observations = next_obs
            self.vector_steps += 1
            agent.env_steps += env.num_envs
            if "episode" in infos:
                self.episodes.append({"episode": dict(infos["episode"]), "_episode": infos["_episode"]})
            if agent.env_steps >= self.learning_starts and self.vector_steps % self.train_freq == 0:
                phase = self.buffer.sample(self.batch_size, batches=self.gradient_steps)  # (G, B, ...)
                for start in range(0, self.gradient_steps, self.batches_per_item):
                    episodes, self.episodes = self.episodes, []
                    yield ReplaySample(*(t[start : start + self.batches_per_item] for t in phase)), episodes

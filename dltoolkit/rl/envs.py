"""Gymnasium environments as Lightning data: the four classic-control tasks, seeded and recorded.

An RL "data module" holds no data set: it names an environment and how many copies to step at once.
The agent (``dltoolkit.rl.agent.Agent``) decides what a training batch is, by rolling the environment
out with its current policy inside an ``IterableDataset`` (``Agent.experience``), so Lightning runs the
loop as it does for images::

    dm = EnvDataModule("CartPole-v1", num_envs=4, seed=0)
    dm.observation_shape, dm.num_actions     # ((4,), 2)
    env = make_vector_env("CartPole-v1", num_envs=4, seed=0)
    obs, infos = env.reset()                   # (4, 4): seeded by make_vector_env, so reset() needs no seed

Every environment is wrapped in ``RecordEpisodeStatistics``: an ending episode's return and length are
in ``infos["episode"]`` (``"r"``, ``"l"``; with the mask ``infos["_episode"]`` for a vector env).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader

from dltoolkit.catalog import register_data, unknown_name

#: The classic-control set: installed with gymnasium, no download, no rendering needed to train.
ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1")


def _check_env_id(env_id: str) -> None:
    if env_id not in gym.registry:
        raise unknown_name("environment", env_id, sorted(gym.registry))


def make_env(env_id: str, seed: int | None = None, render_mode: str | None = None) -> gym.Env:
    """One environment, wrapped in ``RecordEpisodeStatistics``; seeded when ``seed`` is given.

    Seeding resets the environment once with ``seed`` (and seeds its action space), so every later
    ``reset()`` without a seed continues one reproducible stream of episodes::

        env = make_env("CartPole-v1", seed=0)
        obs, info = env.reset()            # the same first episode on every machine
    """
    _check_env_id(env_id)
    env = gym.wrappers.RecordEpisodeStatistics(gym.make(env_id, render_mode=render_mode))
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def random_play_observations(env_id: str, count: int, seed: int = 0) -> np.ndarray:
    """``count`` observations ``(count, *observation_shape)`` met by uniformly random actions, episode
    after episode: real inputs of an agent, e.g. to check an export against::

        random_play_observations("CartPole-v1", 64).shape   # (64, 4)
    """
    env = make_env(env_id, seed=seed)
    observations: list[np.ndarray] = []
    try:
        obs, _ = env.reset()
        while len(observations) < count:
            observations.append(obs)
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()
    return np.stack(observations).astype(np.float32)


def make_vector_env(env_id: str, num_envs: int, seed: int) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_id`` stepped in this process (``SyncVectorEnv``), seeded ``seed + i``.

    A copy whose episode ends is reset in the same step (``AutoresetMode.SAME_STEP``, the classic gym
    behaviour CleanRL was written for): the returned observation is the new episode's first, and the
    ended episode's last one is ``infos["final_obs"][i]`` (mask ``infos["_final_obs"]``). Bootstrap from
    it when the episode was truncated (a time limit), not when it terminated::

        env = make_vector_env("CartPole-v1", num_envs=4, seed=0)
        obs, _ = env.reset()
        obs, rewards, terminated, truncated, infos = env.step(env.action_space.sample())
    """
    _check_env_id(env_id)
    if num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
    copies = gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    env = gym.wrappers.vector.RecordEpisodeStatistics(copies)
    env.reset(seed=seed)  # seeds copy i with seed + i; later resets continue those streams
    env.action_space.seed(seed)
    return env


class _Once:
    """A data set of one dummy item: Lightning then runs ``validation_step``/``test_step`` once an epoch."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> int:
        if i != 0:
            raise IndexError(i)
        return 0


@register_data("cartpole", env_id="CartPole-v1")
@register_data("acrobot", env_id="Acrobot-v1")
@register_data("mountaincar", env_id="MountainCar-v0")
@register_data("pendulum", env_id="Pendulum-v1")
class EnvDataModule(pl.LightningDataModule):
    """A Gymnasium environment as a data module: the agent rolls it out to make its own batches.

    Args:
        env_id: a registered Gymnasium id, e.g. ``CartPole-v1`` (see ``dltoolkit.rl.envs.ENVS``).
        num_envs: copies stepped together in one vector environment.
        seed: seed of the training environments (copy ``i`` gets ``seed + i``).
    """

    def __init__(self, env_id: str = "CartPole-v1", num_envs: int = 1, seed: int = 0) -> None:
        super().__init__()
        _check_env_id(env_id)
        if num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs}")
        self.env_id, self.num_envs, self.seed = env_id, num_envs, seed
        # the spaces are known before training (the CLI links them into the model's arguments)
        probe = gym.make(env_id)
        self.observation_space: gym.Space[Any] = probe.observation_space
        self.action_space: gym.Space[Any] = probe.action_space
        probe.close()
        if not isinstance(self.action_space, gym.spaces.Discrete | gym.spaces.Box):
            raise TypeError(
                f"{env_id}: only Discrete and Box action spaces are supported, got {self.action_space}"
            )

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation, e.g. ``(4,)`` for CartPole."""
        shape = self.observation_space.shape
        assert shape is not None
        return tuple(int(d) for d in shape)

    @property
    def num_actions(self) -> int | None:
        """Number of discrete actions; ``None`` when actions are continuous."""
        space = self.action_space
        return int(space.n) if isinstance(space, gym.spaces.Discrete) else None

    @property
    def action_dim(self) -> int | None:
        """Size of a continuous action vector; ``None`` when actions are discrete."""
        space = self.action_space
        return int(np.prod(space.shape)) if isinstance(space, gym.spaces.Box) else None

    @property
    def action_low(self) -> list[float] | None:
        """Lower bounds of continuous actions (``None`` when discrete)."""
        space = self.action_space
        return [float(v) for v in np.ravel(space.low)] if isinstance(space, gym.spaces.Box) else None

    @property
    def action_high(self) -> list[float] | None:
        """Upper bounds of continuous actions (``None`` when discrete)."""
        space = self.action_space
        return [float(v) for v in np.ravel(space.high)] if isinstance(space, gym.spaces.Box) else None

    def make_vector_env(self) -> gym.vector.VectorEnv:
        """The training environments: ``make_vector_env`` with this module's settings."""
        return make_vector_env(self.env_id, self.num_envs, self.seed)

    def train_dataloader(self) -> DataLoader:
        """The agent's experience stream; each item is one training batch (``batch_size=None``)."""
        trainer = self.trainer
        if trainer is None or trainer.lightning_module is None:
            raise RuntimeError(
                "EnvDataModule.train_dataloader needs a Trainer with an Agent (call trainer.fit)"
            )
        agent: Any = trainer.lightning_module  # an Agent
        return DataLoader(agent.experience(self), batch_size=None)

    def val_dataloader(self) -> DataLoader:
        """One dummy item: the agent evaluates itself in ``validation_step``."""
        return DataLoader(_Once(), batch_size=None)  # type: ignore[arg-type]

    def test_dataloader(self) -> DataLoader:
        """One dummy item: the agent evaluates itself in ``test_step``."""
        return DataLoader(_Once(), batch_size=None)  # type: ignore[arg-type]

    def describe(self) -> dict[str, Any]:
        """The environment's spaces, as the launch form and README show them."""
        return {
            "env_id": self.env_id,
            "observation_shape": list(self.observation_shape),
            "num_actions": self.num_actions,
            "action_dim": self.action_dim,
            "action_low": self.action_low,
            "action_high": self.action_high,
        }

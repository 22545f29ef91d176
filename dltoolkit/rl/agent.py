"""The base of every RL agent: evaluation, episode logging and the data module's spaces as hyperparameters.

An agent is a LightningModule whose training data is its own experience. A subclass writes three things:
``act`` (observations of a vector env → actions), ``experience`` (an ``IterableDataset`` that rolls the
environment out and yields training batches) and ``training_step``; Lightning runs the loop::

    class MyAgent(Agent):
        def act(self, observation, deterministic=False): ...      # (N, *obs_shape) -> (N,) or (N, action_dim)
        def experience(self, env_data): return MyRollouts(self, env_data.make_vector_env())
        def training_step(self, batch, batch_idx): ...

Every epoch ends with ``validation_step``, which plays ``eval_episodes`` deterministic episodes on a fresh
environment and logs ``eval/return`` (the main metric), ``eval/return_std`` and ``eval/length``.
Metric names shared by all agents: ``rollout/episode_return``, ``rollout/episode_length``,
``rollout/env_steps``, ``rollout/steps_per_second`` (see ``log_episodes``), ``losses/<name>``,
``charts/epsilon``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import IterableDataset

from dltoolkit.rl.envs import make_env

if TYPE_CHECKING:
    from dltoolkit.rl.envs import EnvDataModule


#: The Trainer defaults of every agent in the catalog (``register_model(..., trainer=ON_CPU)``): its
#: environments step on the CPU a small batch at a time, so a GPU only adds transfers (see ``setup``)
ON_CPU = {"accelerator": "cpu"}


class Agent(pl.LightningModule, ABC):
    """RL agent base.

    Args:
        observation_shape: shape of one observation (set from the data module by the CLI).
        num_actions: number of discrete actions, ``None`` for continuous actions (set from the data module).
        action_dim: size of a continuous action, ``None`` for discrete actions (set from the data module).
        eval_episodes: deterministic episodes played at the end of every epoch for ``eval/return``.
        eval_seed: seed of the evaluation environment (apart from the training seeds).
        test_episodes: deterministic episodes played by ``trainer.test`` (the quality benchmark's number).
        cpu_threads: torch's CPU threads while the Trainer runs the agent (``None``: leave torch's setting).
            Small RL networks step one observation at a time: on a busy CPU, two threads that wait on each
            other make each step ten times slower than one thread.
    """

    def __init__(
        self,
        observation_shape: Sequence[int] = (4,),
        num_actions: int | None = 2,
        action_dim: int | None = None,
        eval_episodes: int = 10,
        eval_seed: int = 10_000,
        test_episodes: int = 20,
        cpu_threads: int | None = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()  # collects the subclass's __init__ arguments too
        self.observation_shape = tuple(int(d) for d in observation_shape)
        if not self.observation_shape or min(self.observation_shape) < 1:
            raise ValueError(f"observation_shape must be positive sizes, got {tuple(observation_shape)}")
        if (num_actions is None) == (action_dim is None):
            raise ValueError(
                "exactly one of num_actions (discrete) and action_dim (continuous) must be set, "
                f"got num_actions={num_actions}, action_dim={action_dim}"
            )
        if num_actions is not None and num_actions < 2:
            raise ValueError(f"num_actions must be at least 2, got {num_actions}")
        if action_dim is not None and action_dim < 1:
            raise ValueError(f"action_dim must be a positive integer, got {action_dim}")
        if cpu_threads is not None and cpu_threads < 1:
            raise ValueError(f"cpu_threads must be a positive integer or None, got {cpu_threads}")
        for name, n in (("eval_episodes", eval_episodes), ("test_episodes", test_episodes)):
            if n < 1:
                raise ValueError(f"{name} must be a positive integer, got {n}")
        self.num_actions, self.action_dim = num_actions, action_dim
        #: the environment id, from the data module at ``setup`` (kept in checkpoints)
        self.env_id: str | None = None
        #: environment steps taken in training so far (all copies of a vector env; kept in checkpoints)
        self.env_steps = 0
        self._last_log: tuple[int, float] | None = None  # (env_steps, time) of the last log_episodes
        self._threads_before: int | None = None

    # --- what a subclass provides ---
    @abstractmethod
    def act(self, observation: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions ``(N,)`` (discrete) or ``(N, action_dim)`` for observations ``(N, *observation_shape)``."""

    @abstractmethod
    def experience(self, env_data: EnvDataModule) -> IterableDataset:
        """The training stream: an ``IterableDataset`` whose items are ``training_step`` batches.

        One pass over it (``iter``) is one epoch; it keeps its environment and state between epochs.
        """

    # --- shared behaviour ---
    def setup(self, stage: str) -> None:
        threads = self.hparams["cpu_threads"]
        if threads is not None and self._threads_before is None:
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(threads)  # restored in teardown
        dm = getattr(self.trainer, "datamodule", None)
        env_id = getattr(dm, "env_id", None)
        if env_id is not None:
            self.env_id = env_id
        if self.env_id is None:
            raise RuntimeError(
                f"{type(self).__name__} needs an EnvDataModule (trainer.fit(agent, datamodule=...))"
            )
        device = self.trainer.strategy.root_device
        if stage == "fit" and device.type != "cpu":
            # measured on an H200 host: DQN reached 5 of its 10 CartPole epochs in 60 s on the GPU, all
            # 10 in 56 s on 2 CPU cores (the environment steps on the CPU, one small batch at a time)
            rank_zero_warn(
                f"{type(self).__name__} trains on {device}: agents with small networks that step a CPU "
                "environment are usually faster on the CPU (--trainer.accelerator cpu)"
            )

    def teardown(self, stage: str) -> None:
        if self._threads_before is not None:
            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def _check_observation(self, observation: np.ndarray) -> np.ndarray:
        """``observation`` as float32 ``(N, *observation_shape)``; a wrong shape is a ``ValueError``."""
        obs = np.asarray(observation, dtype=np.float32)
        self._check_batch_shape(tuple(obs.shape))
        return obs

    def _check_batch_shape(self, shape: tuple[int, ...]) -> None:
        """A ``ValueError`` unless ``shape`` is a batch of observations, ``(N, *observation_shape)``
        (what ``act`` and ``forward`` both take)."""
        if len(shape) != len(self.observation_shape) + 1 or shape[1:] != self.observation_shape:
            raise ValueError(
                f"{type(self).__name__} expects observations of shape "
                f"(N, {', '.join(map(str, self.observation_shape))}), got {shape}"
            )

    def evaluate(self, episodes: int | None = None, seed: int | None = None) -> dict[str, float]:
        """Mean and std of the return of deterministic episodes on a fresh environment, seeded ``seed``.

        >>> agent.evaluate(episodes=20)   # doctest: +SKIP
        {'return_mean': 500.0, 'return_std': 0.0, 'length_mean': 500.0}
        """
        if self.env_id is None:
            raise RuntimeError("the agent has no environment yet: fit it, or set agent.env_id")
        hp: Any = self.hparams
        episodes = hp.eval_episodes if episodes is None else episodes
        if episodes < 1:
            raise ValueError(f"episodes must be a positive integer, got {episodes}")
        env = make_env(self.env_id, seed=hp.eval_seed if seed is None else seed)
        returns, lengths = [], []
        was_training = self.training
        self.eval()
        try:
            for _ in range(episodes):
                obs, _ = env.reset()
                done, total, length = False, 0.0, 0
                while not done:
                    action = self.act(obs[None], deterministic=True)[0]  # a batch of one
                    obs, reward, terminated, truncated, _ = env.step(action)
                    total, length = total + float(reward), length + 1
                    done = terminated or truncated
                returns.append(total)
                lengths.append(length)
        finally:
            env.close()
            self.train(was_training)
        return {
            "return_mean": float(np.mean(returns)),
            "return_std": float(np.std(returns)),
            "length_mean": float(np.mean(lengths)),
        }

    def _log_evaluation(self, episodes: int) -> None:
        stats = self.evaluate(episodes)
        self.log("eval/return", stats["return_mean"], prog_bar=True, batch_size=1)
        self.log("eval/return_std", stats["return_std"], batch_size=1)
        self.log("eval/length", stats["length_mean"], batch_size=1)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._log_evaluation(self.hparams["eval_episodes"])

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._log_evaluation(self.hparams["test_episodes"])

    def log_episodes(self, infos: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        """Log the episodes that ended in ``infos`` (``RecordEpisodeStatistics``'s, of one step or a list).

        Logs ``rollout/episode_return`` and ``rollout/episode_length`` (means over the ended episodes,
        when any ended), ``rollout/env_steps`` (``self.env_steps``) and ``rollout/steps_per_second``
        (since the previous call). Call it from ``training_step``, where Lightning accepts ``self.log``::

            self.log_episodes(batch.infos)
        """
        returns: list[float] = []
        lengths: list[float] = []
        for info in [infos] if isinstance(infos, Mapping) else infos:
            if "episode" not in info:
                continue
            r, n = _numpy(info["episode"]["r"]), _numpy(info["episode"]["l"])
            mask = _numpy(info["_episode"]).astype(bool) if "_episode" in info else np.ones(r.shape, bool)
            returns += np.atleast_1d(r)[np.atleast_1d(mask)].tolist()
            lengths += np.atleast_1d(n)[np.atleast_1d(mask)].tolist()
        if returns:
            self.log("rollout/episode_return", float(np.mean(returns)), batch_size=len(returns))
            self.log("rollout/episode_length", float(np.mean(lengths)), batch_size=len(lengths))
        self.log("rollout/env_steps", float(self.env_steps), batch_size=1)
        now = time.perf_counter()
        if self._last_log is not None and now > self._last_log[1]:
            sps = (self.env_steps - self._last_log[0]) / (now - self._last_log[1])
            self.log("rollout/steps_per_second", sps, batch_size=1)
        self._last_log = (self.env_steps, now)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["env_id"], checkpoint["env_steps"] = self.env_id, self.env_steps

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.env_id = checkpoint.get("env_id", self.env_id)
        self.env_steps = int(checkpoint.get("env_steps", 0))

    def on_fit_start(self) -> None:
        n = sum(p.numel() for p in self.parameters())
        if not getattr(self.trainer, "fast_dev_run", False):
            self.print(f"{type(self).__name__}: {n / 1e3:.1f}k parameters on {self.env_id}")


def _numpy(x: Any) -> np.ndarray:
    """A numpy view of ``x`` (the data loader turns numpy arrays in a batch into tensors)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

"""Deep reinforcement learning (curriculum 11): agents as LightningModules, Gymnasium environments as data.

    from dltoolkit.catalog import create_data, create_model
    import lightning.pytorch as pl

    dm = create_data("cartpole")                      # EnvDataModule("CartPole-v1")
    agent = create_model("dqn", data=dm)              # observation_shape/num_actions from the data module
    pl.Trainer(max_epochs=10).fit(agent, dm)          # logs eval/return, rollout/…, losses/td_loss
    agent.evaluate(episodes=20)                       # {'return_mean': …, 'return_std': …, 'length_mean': …}

One file per concern: ``envs`` (environments, ``EnvDataModule``), ``agent`` (the ``Agent`` base),
``buffers`` (replay buffer, experience stream), ``dqn`` (DQN, Double and Dueling), ``returns`` (discounted
returns, GAE), ``policy_gradient`` (REINFORCE, A2C, PPO). Names are imported on first use, so
``import dltoolkit.rl`` imports neither torch nor Gymnasium.
"""

from __future__ import annotations

from typing import Any

from dltoolkit._lazy import export, listing

_WHERE = {
    "ENVS": "dltoolkit.rl.envs",
    "make_env": "dltoolkit.rl.envs",
    "make_vector_env": "dltoolkit.rl.envs",
    "EnvDataModule": "dltoolkit.rl.envs",
    "Agent": "dltoolkit.rl.agent",
    "ReplayBuffer": "dltoolkit.rl.buffers",
    "ReplaySample": "dltoolkit.rl.buffers",
    "ReplayDataset": "dltoolkit.rl.buffers",
    "DQN": "dltoolkit.rl.dqn",
    "linear_schedule": "dltoolkit.rl.dqn",
    "discounted_returns": "dltoolkit.rl.returns",
    "gae": "dltoolkit.rl.returns",
    "Reinforce": "dltoolkit.rl.policy_gradient",
    "A2C": "dltoolkit.rl.policy_gradient",
    "PPO": "dltoolkit.rl.policy_gradient",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    return export(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return listing(globals(), _WHERE)

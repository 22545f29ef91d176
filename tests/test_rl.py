"""RL foundations and DQN: the replay buffer by hand, environments, the agent contract and DQN's math.

Every catalog model of topic ``rl`` also gets the checks tests/test_models.py gives image models
(a fast_dev_run fit, exact checkpoint round trip, a wrong-shape error), without anyone adding a test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from dltoolkit.catalog import UnknownNameError, create_data, create_model, hparam_schema, list_models
from dltoolkit.rl.buffers import ReplayBuffer, ReplayDataset, ReplaySample, real_next_observations
from dltoolkit.rl.dqn import DQN, linear_schedule
from dltoolkit.rl.envs import ENVS, EnvDataModule, make_env, make_vector_env

RL_MODELS = list_models(topic="rl")


def _add(buffer: ReplayBuffer, first: int, n: int) -> None:
    """Store ``n`` transitions numbered ``first, first + 1, …``: obs = [k, -k], action k % 2, reward k."""
    k = np.arange(first, first + n, dtype=np.float32)
    buffer.add(np.stack([k, -k], 1), k.astype(int) % 2, k, np.stack([k + 0.5, -k], 1), k % 3 == 0)


# --- replay buffer ---


def test_replay_buffer_wraps_around_and_overwrites_the_oldest() -> None:
    buffer = ReplayBuffer(capacity=3, observation_shape=(2,), seed=0)
    _add(buffer, 0, 2)  # transitions 0, 1 in slots 0, 1
    assert len(buffer) == 2 and buffer.position == 2
    _add(buffer, 2, 2)  # 2 in slot 2, then 3 wraps around into slot 0 (overwriting 0)
    assert len(buffer) == 3 and buffer.position == 1
    assert buffer.observations.tolist() == [[3, -3], [1, -1], [2, -2]]
    assert buffer.next_observations[:, 0].tolist() == [3.5, 1.5, 2.5]
    assert buffer.actions.tolist() == [1, 1, 0]
    assert buffer.rewards.tolist() == [3, 1, 2]
    assert buffer.terminated.tolist() == [1, 0, 0]  # 3 % 3 == 0 terminated
    _add(buffer, 4, 4)  # more than a lap: 4, 5, 6, 7 into slots 1, 2, 0, 1 — the last write wins
    assert buffer.rewards.tolist() == [6, 7, 5]


def test_replay_buffer_samples_uniformly_with_its_seed() -> None:
    buffer = ReplayBuffer(capacity=10, observation_shape=(2,), seed=42)
    _add(buffer, 0, 4)  # only 4 of 10 slots filled: samples come from those
    sample = buffer.sample(6)
    expected = np.random.default_rng(42).integers(0, 4, size=6)  # the same draws, by hand
    assert isinstance(sample, ReplaySample)
    assert sample.rewards.tolist() == expected.astype(float).tolist()
    assert sample.observations[:, 1].tolist() == (-expected).astype(float).tolist()
    assert sample.actions.dtype == torch.int64 and sample.actions.tolist() == (expected % 2).tolist()
    again = ReplayBuffer(capacity=10, observation_shape=(2,), seed=42)
    _add(again, 0, 4)
    assert torch.equal(again.sample(6).rewards, sample.rewards)
    with pytest.raises(ValueError, match="empty replay buffer"):
        ReplayBuffer(3, (2,)).sample(1)
    with pytest.raises(ValueError, match=r"observations must be \(N, \(2,\)\)"):
        buffer.add(np.zeros((1, 3)), [0], [0.0], np.zeros((1, 3)), [False])


def test_replay_buffer_draws_several_batches_at_once() -> None:
    buffer = ReplayBuffer(capacity=10, observation_shape=(2,), seed=3)
    _add(buffer, 0, 5)
    phase = buffer.sample(4, batches=3)
    expected = np.random.default_rng(3).integers(0, 5, size=(3, 4))  # one draw of 3 x 4 indices
    assert phase.observations.shape == (3, 4, 2) and phase.actions.shape == (3, 4)
    assert phase.rewards.tolist() == expected.astype(float).tolist()


def test_real_next_observation_replaces_the_reset_one_where_an_episode_ended() -> None:
    reset = np.zeros((3, 2), dtype=np.float32)
    infos = {"final_obs": np.array([np.array([7.0, 7.0]), None, None], dtype=object), "_final_obs": [1, 0, 0]}
    real = real_next_observations(reset, infos)
    assert real.tolist() == [[7, 7], [0, 0], [0, 0]]
    assert reset.tolist() == [[0, 0]] * 3  # not modified in place
    assert real_next_observations(reset, {}).tolist() == reset.tolist()


class _Pusher:
    """A stand-in agent that always pushes the cart left (action 0): CartPole falls in about 10 steps."""

    env_steps = 0

    def act(self, observation: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return np.zeros(len(observation), dtype=np.int64)


def _collect(max_episode_steps: int, steps: int) -> ReplayBuffer:
    env = gym.wrappers.vector.RecordEpisodeStatistics(
        gym.vector.SyncVectorEnv(
            [lambda: gym.make("CartPole-v1", max_episode_steps=max_episode_steps)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
    )
    env.reset(seed=0)
    buffer = ReplayBuffer(100, (4,))
    data = ReplayDataset(_Pusher(), env, buffer, batch_size=1, steps_per_epoch=steps, train_freq=steps)  # type: ignore[arg-type]
    items = list(data)
    assert len(items) == 1  # one training phase, at the last of the epoch's steps
    return buffer


def test_a_training_phase_comes_in_items_of_batches_per_item() -> None:
    env = gym.wrappers.vector.RecordEpisodeStatistics(
        gym.vector.SyncVectorEnv(
            [lambda: gym.make("CartPole-v1")], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
    )
    env.reset(seed=0)
    pusher = _Pusher()
    data = ReplayDataset(
        pusher, env, ReplayBuffer(100, (4,)), batch_size=3, steps_per_epoch=20, train_freq=10,  # type: ignore[arg-type]
        gradient_steps=5, batches_per_item=2,
    )  # fmt: skip
    steps_at_item = []
    shapes = []
    for samples, _episodes in data:
        steps_at_item.append(pusher.env_steps)
        shapes.append(tuple(samples.observations.shape))
    # two phases (after steps 10 and 20) of 5 batches each, yielded 2 + 2 + 1
    assert shapes == [(2, 3, 4), (2, 3, 4), (1, 3, 4)] * 2
    assert steps_at_item == [10, 10, 10, 20, 20, 20]  # no environment step within a phase


def test_truncated_transitions_keep_their_real_next_state_and_bootstrap() -> None:
    buffer = _collect(max_episode_steps=3, steps=6)  # two episodes cut by the time limit at step 3
    assert len(buffer) == 6
    assert buffer.terminated.tolist()[:6] == [0.0] * 6  # a time limit is not a terminal state
    obs, nxt = buffer.observations[:6], buffer.next_observations[:6]
    for i in (0, 1, 3, 4):  # within an episode, s' is the next stored s
        assert np.array_equal(nxt[i], obs[i + 1])
    # at the cut, s' is the state the cart really reached (it continues the motion), not the reset state
    assert not np.array_equal(nxt[2], obs[3])
    assert nxt[2][3] > nxt[1][3]  # pushing left keeps increasing the pole's angular velocity
    assert np.abs(obs[3]).max() < 0.05  # the next episode starts near upright


def test_terminated_transitions_are_marked_and_keep_the_terminal_state() -> None:
    buffer = _collect(max_episode_steps=500, steps=30)
    ends = np.flatnonzero(buffer.terminated[:30])
    assert len(ends) >= 2  # the pole falls every ~10 steps when always pushed one way
    for i in ends:
        angle, x = buffer.next_observations[i][2], buffer.next_observations[i][0]
        assert abs(angle) > 0.2095 or abs(x) > 2.4  # CartPole's termination condition
        assert np.abs(buffer.observations[i + 1]).max() < 0.05  # the stored next s is a fresh episode


# --- environments ---


def test_random_play_observations_are_real_and_repeat_with_their_seed() -> None:
    from dltoolkit.rl.envs import random_play_observations

    obs = random_play_observations("CartPole-v1", 40, seed=3)
    assert obs.shape == (40, 4) and obs.dtype == np.float32
    assert np.array_equal(obs, random_play_observations("CartPole-v1", 40, seed=3))
    # random pushes end a CartPole episode within ~40 steps: a reset starts near upright again
    restarts = [i for i in range(1, 40) if np.abs(obs[i]).max() < 0.05 and np.abs(obs[i - 1]).max() > 0.1]
    assert restarts, "40 steps of random play span more than one episode"


def test_agents_train_on_the_cpu_by_default_wherever_they_are_launched() -> None:
    from dltoolkit.catalog import describe_catalog, resolve
    from dltoolkit.runs.run import _run_config

    described = {m["name"]: m for m in describe_catalog()["models"]}
    for name in RL_MODELS:
        assert resolve(name, None).trainer_defaults == {"accelerator": "cpu"}, name
        assert described[name]["trainer"] == {"accelerator": "cpu"}  # the launch form's default
    assert described["mlp"]["trainer"] == {}
    config, _ = _run_config("dqn", None, {}, {}, {"max_epochs": 2}, seed=0)
    assert config["trainer"]["accelerator"] == "cpu" and config["trainer"]["max_epochs"] == 2
    config, _ = _run_config("dqn", None, {}, {}, {"accelerator": "gpu"}, seed=0)
    assert config["trainer"]["accelerator"] == "gpu"  # what the launch asks for wins


def test_an_agent_warns_when_it_would_train_on_a_gpu() -> None:
    from types import SimpleNamespace

    agent = create_model("ppo")
    for device, warns in (("cpu", False), ("cuda", True)):
        agent._trainer = SimpleNamespace(
            datamodule=create_data("cartpole"), strategy=SimpleNamespace(root_device=torch.device(device))
        )  # type: ignore[assignment]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            agent.setup("fit")
            agent.teardown("fit")
        said = [str(w.message) for w in caught if "--trainer.accelerator cpu" in str(w.message)]
        assert bool(said) == warns, (device, said)


def test_unknown_environment_lists_the_registered_ones() -> None:
    with pytest.raises(
        UnknownNameError, match=r"unknown environment 'CartPol-v1'; did you mean 'CartPole-v1'"
    ):
        make_env("CartPol-v1")
    with pytest.raises(ValueError, match=r"Known: .*Acrobot-v1.*MountainCar-v0"):
        EnvDataModule("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="unknown environment"):
        make_vector_env("NoSuchEnv-v0", 2, 0)
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        EnvDataModule("CartPole-v1", num_envs=0)


@pytest.mark.parametrize(
    ("name", "env_id", "obs_shape", "num_actions", "action_dim", "low", "high"),
    [
        ("cartpole", "CartPole-v1", (4,), 2, None, None, None),
        ("acrobot", "Acrobot-v1", (6,), 3, None, None, None),
        ("mountaincar", "MountainCar-v0", (2,), 3, None, None, None),
        ("pendulum", "Pendulum-v1", (3,), None, 1, [-2.0], [2.0]),
    ],
)
def test_env_data_module_spaces(
    name: str, env_id: str, obs_shape: tuple[int, ...], num_actions: Any, action_dim: Any, low: Any, high: Any
) -> None:
    dm = create_data(name)
    assert isinstance(dm, EnvDataModule) and dm.env_id == env_id and env_id in ENVS
    assert dm.observation_shape == obs_shape
    assert (dm.num_actions, dm.action_dim, dm.action_low, dm.action_high) == (
        num_actions,
        action_dim,
        low,
        high,
    )
    env = create_data(name, num_envs=3, seed=5).make_vector_env()
    obs, _ = env.reset()
    assert obs.shape == (3, *obs_shape)


def test_seeded_environments_repeat_and_copies_differ() -> None:
    a, b = make_vector_env("CartPole-v1", 2, seed=3), make_vector_env("CartPole-v1", 2, seed=3)
    obs_a, obs_b = a.reset()[0], b.reset()[0]
    assert np.array_equal(obs_a, obs_b)
    assert not np.array_equal(obs_a[0], obs_a[1])  # copy i is seeded seed + i
    assert np.array_equal(
        make_env("Acrobot-v1", seed=1).reset()[0], make_env("Acrobot-v1", seed=1).reset()[0]
    )


# --- DQN ---


def _linear_dqn(**kwargs: Any) -> DQN:
    """A DQN whose Q-network is one linear layer (no hidden layers), for hand-computed values."""
    return DQN(observation_shape=(2,), num_actions=2, hidden_sizes=(), gamma=0.5, **kwargs)


def _set_linear(layer: torch.nn.Linear, weight: list[list[float]], bias: list[float]) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))


def test_double_dqn_rates_the_online_networks_choice_with_the_target_network() -> None:
    sample = ReplaySample(
        observations=torch.zeros(2, 2),
        actions=torch.zeros(2, dtype=torch.long),
        rewards=torch.tensor([1.0, 1.0]),
        next_observations=torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
        terminated=torch.tensor([0.0, 1.0]),
    )
    targets = {}
    for double in (False, True):
        agent = _linear_dqn(double_dqn=double)
        _set_linear(agent.q_net.advantage, [[1.0, 0.0], [2.0, 0.0]], [0.0, 0.0])  # Q(s', ·; θ) = [1, 2]
        _set_linear(
            agent.target_net.advantage, [[3.0, 0.0], [0.5, 0.0]], [0.0, 0.0]
        )  # Q(s', ·; θ⁻) = [3, .5]
        targets[double] = agent.td_target(sample).tolist()
    # DQN: 1 + .5 · max(3, .5) = 2.5; Double: θ picks action 1, θ⁻ rates it .5: 1 + .5 · .5 = 1.25;
    # a terminal s' has no future in either: y = r = 1
    assert targets[False] == [2.5, 1.0]
    assert targets[True] == [1.25, 1.0]


def test_dueling_head_combines_value_and_mean_centred_advantages() -> None:
    agent = _linear_dqn(dueling=True)
    _set_linear(agent.q_net.advantage, [[1.0, 0.0], [3.0, 0.0]], [0.0, 0.0])  # A(s, ·) = [1, 3]
    assert agent.q_net.value is not None
    _set_linear(agent.q_net.value, [[5.0, 0.0]], [0.0])  # V(s) = 5
    s = torch.tensor([[1.0, 0.0]])
    assert agent(s).tolist() == [[4.0, 6.0]]  # V + A - mean(A) = 5 + [1, 3] - 2
    plain = _linear_dqn()
    _set_linear(plain.q_net.advantage, [[1.0, 0.0], [3.0, 0.0]], [0.0, 0.0])
    assert plain(s).tolist() == [[1.0, 3.0]]


def test_soft_and_hard_target_updates() -> None:
    for tau, expected in ((1.0, 4.0), (0.25, 1.75)):
        agent = _linear_dqn(tau=tau)
        _set_linear(agent.q_net.advantage, [[4.0, 4.0], [4.0, 4.0]], [4.0, 4.0])
        _set_linear(agent.target_net.advantage, [[1.0, 1.0], [1.0, 1.0]], [1.0, 1.0])
        agent.update_target()  # θ⁻ ← τ θ + (1 - τ) θ⁻
        assert torch.allclose(agent.target_net.advantage.weight, torch.full((2, 2), expected))


def test_epsilon_schedule() -> None:
    assert linear_schedule(1.0, 0.04, 8000, 0) == 1.0
    assert linear_schedule(1.0, 0.04, 8000, 4000) == pytest.approx(0.52)
    assert linear_schedule(1.0, 0.04, 8000, 8000) == pytest.approx(0.04)
    assert linear_schedule(1.0, 0.04, 8000, 50_000) == pytest.approx(0.04)
    agent = _linear_dqn(total_env_steps=10_000, exploration_fraction=0.5, exploration_final_eps=0.1)
    values = []
    for steps in (0, 2500, 5000, 9000):
        agent.env_steps = steps
        values.append(agent.epsilon)
    assert values == pytest.approx([1.0, 0.55, 0.1, 0.1])
    with pytest.raises(ValueError, match=r"set --trainer\.max_epochs or --model\.total_env_steps"):
        _ = _linear_dqn().epsilon  # no trainer, no total: the schedule has no length


def test_act_is_greedy_when_deterministic_and_explores_otherwise() -> None:
    torch.manual_seed(0)
    agent = DQN(hidden_sizes=(8,), total_env_steps=1000)  # ε = 1 at step 0
    obs = np.random.default_rng(0).normal(size=(2000, 4)).astype(np.float32)
    greedy = agent(torch.from_numpy(obs)).argmax(1).numpy()
    assert np.array_equal(agent.act(obs, deterministic=True), greedy)
    assert np.array_equal(agent.act(obs, deterministic=True), agent.act(obs, deterministic=True))
    differs = (agent.act(obs) != greedy).mean()
    assert 0.4 < differs < 0.6  # ε = 1: uniform over 2 actions, half of them not the greedy one
    agent.env_steps = 1000  # ε = 0.04 after the fall
    assert (agent.act(obs) != greedy).mean() < 0.05
    with pytest.raises(ValueError, match=r"expects observations of shape \(N, 4\), got \(4,\)"):
        agent.act(obs[0])


def test_create_model_links_the_environments_spaces() -> None:
    agent = create_model("dqn", data=create_data("acrobot"))
    assert agent.observation_shape == (6,) and agent.num_actions == 3
    assert agent(torch.zeros(5, 6)).shape == (5, 3)
    assert create_model("dqn").observation_shape == (4,)  # the spec's own data: CartPole
    # Pendulum's num_actions is None (continuous) and must arrive as None, not fall back to a default
    with pytest.raises(ValueError, match="DQN needs discrete actions"):
        create_model("dqn", data=create_data("pendulum"))
    schema = hparam_schema("dqn")["properties"]
    assert schema["observation_shape"]["default"] == [4] and schema["observation_shape"]["readOnly"]
    assert schema["action_dim"]["default"] is None and schema["action_dim"]["readOnly"]


def test_evaluate_repeats_with_its_seed_and_needs_an_environment() -> None:
    torch.manual_seed(0)
    agent = DQN(hidden_sizes=(8,))
    with pytest.raises(RuntimeError, match="no environment"):
        agent.evaluate()
    agent.env_id = "CartPole-v1"
    first = agent.evaluate(episodes=3, seed=1)
    assert set(first) == {"return_mean", "return_std", "length_mean"}
    assert first == agent.evaluate(episodes=3, seed=1)
    assert first["return_mean"] == first["length_mean"]  # CartPole pays 1 per step


def test_two_epoch_fit_logs_the_shared_metric_names(fast_trainer: Any) -> None:
    torch.manual_seed(0)
    dm = create_data("cartpole", num_envs=2)
    agent = create_model(
        "dqn", data=dm, hidden_sizes=[16], steps_per_epoch=300, learning_starts=100, train_freq=10,
        gradient_steps=2, eval_episodes=2,
    )  # fmt: skip
    trainer = fast_trainer(max_epochs=2, log_every_n_steps=1)
    trainer.fit(agent, dm)
    assert agent.env_steps == 600  # an epoch is steps_per_epoch environment steps (2 copies x 150)
    metrics = trainer.callback_metrics
    expected = {"eval/return", "eval/return_std", "eval/length", "rollout/episode_return"}
    expected |= {"rollout/episode_length", "rollout/env_steps", "losses/td_loss", "charts/epsilon"}
    assert expected <= set(metrics)
    assert metrics["charts/epsilon"].item() == pytest.approx(0.04)  # 0.16 of 600 steps: fallen long ago
    assert float(metrics["eval/return"]) >= 8  # CartPole lasts at least 8 steps


def test_dqn_acts_with_the_network_its_last_phase_left(fast_trainer: Any) -> None:
    """Lightning prefetches a batch ahead; DQN pulls its own, so the steps after a phase of updates are
    taken by the updated network (as in SB3), not by one a batch of updates older."""
    torch.manual_seed(0)
    dm = create_data("cartpole")
    agent = create_model(
        "dqn", data=dm, hidden_sizes=[8], steps_per_epoch=120, learning_starts=20, train_freq=20,
        gradient_steps=40, eval_episodes=1,
    )  # fmt: skip
    updates_when_acting: list[int] = []
    act = agent.act

    def spy(observation: np.ndarray, deterministic: bool = False) -> np.ndarray:
        if not deterministic:
            updates_when_acting.append(agent.global_step)
        return act(observation, deterministic)

    agent.act = spy  # type: ignore[method-assign]
    fast_trainer(max_epochs=1, num_sanity_val_steps=0).fit(agent, dm)
    assert agent.global_step == 6 * 40  # a phase after each of steps 20, 40, ..., 120
    # the 21st step follows the first phase: all of its 40 updates are done by then
    assert updates_when_acting[20] == 40 and updates_when_acting[40] == 80


@pytest.mark.parametrize("name", RL_MODELS)
def test_rl_model_fast_dev_run_and_exact_checkpoint_round_trip(
    name: str, fast_trainer: Any, tmp_path: Path
) -> None:
    agent = create_model(name)
    dm = create_data(agent_data(name))
    trainer = fast_trainer(fast_dev_run=2)
    before = [p.detach().clone() for p in agent.parameters()]
    trainer.fit(agent, dm)
    changed = any(not torch.equal(a, b) for a, b in zip(before, agent.parameters(), strict=True))
    assert changed, "a training step must update the weights"
    assert agent.env_steps > 0 and agent.env_id == dm.env_id
    ckpt = tmp_path / "agent.ckpt"
    trainer.save_checkpoint(ckpt)
    restored = type(agent).load_from_checkpoint(ckpt, map_location="cpu")
    assert dict(restored.hparams) == dict(agent.hparams)
    assert (restored.env_id, restored.env_steps) == (agent.env_id, agent.env_steps)
    obs = np.stack([dm.observation_space.sample() for _ in range(5)])
    assert np.array_equal(agent.act(obs, deterministic=True), restored.act(obs, deterministic=True))
    with pytest.raises(ValueError, match="expects observations of shape"):
        agent.act(np.zeros((2, dm.observation_shape[0] + 1), dtype=np.float32))


def agent_data(name: str) -> str:
    from dltoolkit.catalog import get_spec

    return get_spec(name).data


def test_cli_fits_dqn_by_name_and_writes_the_metric_names(tmp_path: Path) -> None:
    args = ["fit", "--model", "dqn", "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false"]
    args += [
        "--model.hidden_sizes",
        "[16]",
        "--model.steps_per_epoch",
        "200",
        "--model.learning_starts",
        "100",
    ]
    args += ["--model.train_freq", "20", "--model.eval_episodes", "1"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    res = subprocess.run(
        [sys.executable, "-m", "dltoolkit.cli", *args],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "lightning_logs" / "version_0"
    config = (run / "config.yaml").read_text()
    assert "class_path: dltoolkit.rl.dqn.DQN" in config and "env_id: CartPole-v1" in config
    assert "num_actions: 2" in config  # linked from the data module
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"eval/return", "rollout/episode_return", "rollout/env_steps"} <= set(header)

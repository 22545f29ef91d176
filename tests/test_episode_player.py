"""EpisodePlayer: CartPole frames as small data URLs with their rewards and returns, a recorded episode of
an agent or a function, frame seeking from both sides, and clear errors for bad input."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from dltoolkit.catalog import UnknownNameError
from dltoolkit.dashboards import EpisodePlayer


def balance(obs: np.ndarray) -> int:
    """A fixed CartPole policy: push towards where the pole falls (lasts hundreds of steps)."""
    return int(obs[2] + obs[3] > 0)


def cartpole_episode(steps: int, policy: Any = balance) -> tuple[list[np.ndarray], list[float]]:
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    frames: list[np.ndarray] = [np.asarray(env.render())]
    rewards: list[float] = []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        frames.append(np.asarray(env.render()))
        rewards.append(float(reward))
        if terminated or truncated:
            break
    env.close()
    return frames, rewards


@pytest.fixture(scope="module")
def episode() -> tuple[list[np.ndarray], list[float]]:
    return cartpole_episode(40)


def decode(url: str) -> Image.Image:
    header, data = url.split(",", 1)
    assert header in ("data:image/png;base64", "data:image/jpeg;base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def front_end_update(widget: Any, **state: Any) -> None:
    """What a front end's ``model.set(...); model.save_changes()`` delivers to the kernel."""
    data = {"method": "update", "state": state, "buffer_paths": []}
    widget._handle_msg({"content": {"data": data}, "buffers": []})


def test_importing_the_player_imports_no_torch() -> None:
    code = (
        "import sys; from dltoolkit.dashboards import EpisodePlayer\n"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_frames_are_downscaled_pngs_with_rewards_and_returns(episode: Any) -> None:
    frames, rewards = episode
    assert frames[0].shape == (400, 600, 3) and len(frames) == len(rewards) + 1 == 41
    player = EpisodePlayer(frames, rewards, fps=20)
    assert len(player.frames) == 41 and player.frame_step == 1 and player.steps == list(range(41))
    first = decode(player.frames[0])
    assert first.format == "PNG" and first.size == (300, 200)  # 600 x 400 scaled to 300 wide
    # lossless: the decoded frame is the scaled render
    expected = np.asarray(Image.fromarray(frames[5]).resize((300, 200), Image.Resampling.BILINEAR))
    assert np.array_equal(np.asarray(decode(player.frames[5]).convert("RGB")), expected)
    # frame i shows the state after i steps: reward 0 for the initial state, then the step's reward
    assert player.rewards == [0.0, *rewards]
    assert player.returns == list(np.cumsum([0.0, *rewards]))
    assert player.total_return == sum(rewards) == 40.0 and player.length == 40
    assert player.fps == 20.0
    assert 1_000 < player.size_bytes / 41 < 4_000  # ~1.7 KB a CartPole frame


def test_one_reward_per_frame_and_none(episode: Any) -> None:
    frames, _ = episode
    per_frame = [float(i) for i in range(len(frames))]
    assert EpisodePlayer(frames, per_frame).rewards == per_frame
    player = EpisodePlayer(np.stack(frames[:3]))  # one (T, H, W, 3) array, no rewards
    assert player.rewards == [0.0, 0.0, 0.0] and player.total_return == 0.0


def test_long_episodes_send_every_kth_frame_and_keep_the_rewards(episode: Any) -> None:
    frames, rewards = episode  # 41 frames
    player = EpisodePlayer(frames, rewards, max_frames=10, max_width=60, image_format="jpeg")
    assert player.frame_step == 5
    assert player.steps == [0, 5, 10, 15, 20, 25, 30, 35, 40]
    # a sent frame's reward sums the skipped steps since the previous one; returns are the episode's
    assert player.rewards == [0.0] + [5.0] * 8
    assert player.returns == [float(s) for s in player.steps]
    image = decode(player.frames[-1])
    assert image.format == "JPEG" and image.size == (60, 40)
    # the last frame is always sent
    assert EpisodePlayer(frames[:12], rewards[:11], max_frames=5).steps == [0, 3, 6, 9, 11]


def test_frame_is_clamped_and_written_by_the_front_end(episode: Any) -> None:
    frames, rewards = episode
    player = EpisodePlayer(frames[:5], rewards[:4])
    front_end_update(player, frame=3)  # a view paused on frame 3
    assert player.frame == 3
    player.frame = 99
    assert player.frame == 4
    player.frame = -2
    assert player.frame == 0
    front_end_update(player, fps=60)
    assert player.fps == 60.0


def test_record_runs_a_function_and_an_agent_like_object() -> None:
    player = EpisodePlayer.record(balance, "CartPole-v1", seed=3, max_steps=30)
    frames, rewards = cartpole_episode(30)  # same policy, seed 0: a different start
    assert player.length == 30 and player.total_return == 30.0 and len(player.frames) == 31
    assert "CartPole-v1" in player.title and "balance" in player.title
    again = EpisodePlayer.record(balance, "CartPole-v1", seed=3, max_steps=30)
    assert again.frames == player.frames  # seeded: the same episode
    assert (
        EpisodePlayer.record(balance, "CartPole-v1", seed=0, max_steps=30).frames
        == EpisodePlayer(frames, rewards).frames
    )

    class Agent:
        """Duck-typed like dltoolkit.rl.Agent: a batch of observations to a batch of actions."""

        def __init__(self) -> None:
            self.calls: list[tuple[tuple[int, ...], bool]] = []

        def act(self, observation: np.ndarray, deterministic: bool = False) -> np.ndarray:
            self.calls.append((observation.shape, deterministic))
            return np.zeros(len(observation), dtype=np.int64)  # always push left: falls within ~10 steps

    agent = Agent()
    player = EpisodePlayer.record(agent, "CartPole-v1", max_steps=500, fps=10)
    assert agent.calls[0] == ((1, 4), True) and len(agent.calls) == player.length < 20
    assert player.fps == 10.0 and "Agent" in player.title


def test_record_a_continuous_environment() -> None:
    player = EpisodePlayer.record(lambda obs: np.array([2.0 * np.sign(obs[2])]), "Pendulum-v1", max_steps=5)
    assert player.length == 5 and player.total_return < 0  # Pendulum's rewards are costs


def test_bad_input_errors(episode: Any) -> None:
    frames, rewards = episode
    with pytest.raises(ValueError, match="frames is empty"):
        EpisodePlayer([])
    with pytest.raises(ValueError, match=r"rewards has 3 values for 41 frames: expected 40 .* or 41"):
        EpisodePlayer(frames, rewards[:3])
    with pytest.raises(ValueError, match=r"frame 1 must be an image shaped \(H, W, 3\)"):
        EpisodePlayer([frames[0], np.zeros((4, 4, 2), np.uint8)])
    with pytest.raises(ValueError, match=r"frame 1 is shaped \(200, 300, 3\), frame 0 \(400, 600, 3\)"):
        EpisodePlayer([frames[0], frames[1][::2, ::2]])
    with pytest.raises(ValueError, match=r"float image.*\[0, 1\]"):
        EpisodePlayer([np.full((4, 4, 3), 2.0)])
    with pytest.raises(TypeError, match="uint8"):
        EpisodePlayer([np.zeros((4, 4, 3), np.int64)])
    with pytest.raises(TypeError, match="list of"):
        EpisodePlayer("frames.png")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fps must be"):
        EpisodePlayer(frames[:2], fps=0)
    with pytest.raises(ValueError, match="image_format must be one of png, jpeg"):
        EpisodePlayer(frames[:2], image_format="gif")  # type: ignore[arg-type]
    player = EpisodePlayer(frames[:2])
    with pytest.raises(Exception, match="fps must be"):
        player.fps = -1
    with pytest.raises(UnknownNameError, match="CartPole-v1"):
        EpisodePlayer.record(balance, "CartPole-v2")
    with pytest.raises(TypeError, match="callable observation -> action"):
        EpisodePlayer.record(42, "CartPole-v1")
    with pytest.raises(ValueError, match="max_steps must be"):
        EpisodePlayer.record(balance, "CartPole-v1", max_steps=0)


def test_record_a_dltoolkit_agent() -> None:
    import torch

    from dltoolkit.rl.policy_gradient import PPO

    torch.manual_seed(0)
    agent = PPO(observation_shape=(4,), num_actions=2)
    player = EpisodePlayer.record(agent, "CartPole-v1", seed=1, max_steps=20)
    assert 1 <= player.length <= 20 and len(player.frames) == player.length + 1
    assert player.title == "CartPole-v1 · seed 1 · PPO"
    # deterministic: the same episode again
    assert EpisodePlayer.record(agent, "CartPole-v1", seed=1, max_steps=20).frames == player.frames

"""``EpisodePlayer``: plays an episode of a gymnasium environment in a notebook, frame by frame.

    from dltoolkit.dashboards import EpisodePlayer

    EpisodePlayer(frames, rewards)                        # frames: (H, W, 3) arrays from env.render()
    player = EpisodePlayer.record(agent, "CartPole-v1")   # one deterministic episode of a trained agent
    player                                                # Play/Pause, a frame slider, fps, reward, return
    player.total_return, player.length                    # the episode's return and number of steps

The frames go to the front end once, as PNG (or JPEG) data URLs in one synced list (``frames``), scaled
down to at most ``max_width`` pixels wide; an episode longer than ``max_frames`` frames sends every k-th
frame (``frame_step`` = k), so the widget stays small: a 500-step CartPole episode at 300 px is about
0.85 MB of PNG (1.7 KB a frame). Playing is the front end's alone (a timer in the browser, no kernel
round trip per frame); the front end writes the frame it stops on back to ``frame``, and setting
``frame`` from Python seeks every view.

Frame ``i`` shows the state after ``steps[i]`` steps; ``rewards[i]`` is the reward of the step that led
to it (0 for the initial state) and ``returns[i]`` the undiscounted return so far.

No torch here: ``record`` imports gymnasium (and calls the agent, which brings its own torch).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any, Literal

import anywidget
import numpy as np
import traitlets as t

from dltoolkit.dashboards._assets import asset

#: Image formats a frame can be sent in.
FORMATS = ("png", "jpeg")


def _frame_url(frame: np.ndarray, max_width: int, image_format: str) -> str:
    """A ``data:image/...;base64`` URL of one uint8 frame, scaled down to at most ``max_width`` wide."""
    from PIL import Image

    image = Image.fromarray(frame)
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    if image_format == "jpeg":
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
    else:
        image.save(buffer, format="PNG")
    return f"data:image/{image_format};base64," + base64.b64encode(buffer.getvalue()).decode()


def _as_frames(frames: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """The frames as uint8 arrays of one shape, ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``; else an error."""
    if isinstance(frames, np.ndarray) and frames.ndim in (3, 4):
        frames = list(frames)
    if not isinstance(frames, Sequence) or isinstance(frames, str | bytes):
        raise TypeError(f"frames must be a list of (H, W, 3) arrays, got {type(frames).__name__}")
    if len(frames) == 0:
        raise ValueError("frames is empty: an episode needs at least one frame")
    out: list[np.ndarray] = []
    shape: tuple[int, ...] | None = None
    for i, frame in enumerate(frames):
        array = np.asarray(frame)
        valid = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
        if not valid or 0 in array.shape:
            raise ValueError(
                f"frame {i} must be an image shaped (H, W, 3), (H, W, 4) or (H, W), got {array.shape}"
            )
        if shape is not None and array.shape != shape:
            raise ValueError(f"frame {i} is shaped {array.shape}, frame 0 {shape}: all must be one shape")
        shape = array.shape
        if array.dtype == np.uint8:
            out.append(array)
        elif np.issubdtype(array.dtype, np.floating):
            if not (np.isfinite(array).all() and array.min() >= 0.0 and array.max() <= 1.0):
                raise ValueError(f"frame {i} is a float image, so its values must be in [0, 1]")
            out.append((array * 255).round().astype(np.uint8))
        else:
            raise TypeError(f"frame {i} must be uint8 (0-255) or float in [0, 1], got dtype {array.dtype}")
    return out


def _as_rewards(rewards: Sequence[float] | np.ndarray | None, frames: int) -> list[float]:
    """One reward per frame: ``frames`` rewards as given, or ``frames - 1`` after a 0 for the first frame."""
    if rewards is None:
        return [0.0] * frames
    values = np.asarray(rewards, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"rewards must be one number per step, shaped (T,), got {values.shape}")
    if len(values) == frames - 1:  # env.render() after reset, then after each step: T + 1 frames
        values = np.concatenate([[0.0], values])
    if len(values) != frames:
        raise ValueError(
            f"rewards has {len(values)} values for {frames} frames: expected {frames - 1} (one per step "
            f"after the initial frame) or {frames} (one per frame)"
        )
    if not np.isfinite(values).all():
        raise ValueError("rewards must be finite numbers")
    return [float(v) for v in values]


class EpisodePlayer(anywidget.AnyWidget):
    """Play an episode's frames with its rewards: ``EpisodePlayer(frames, rewards=None, fps=30)``.

    Args:
        frames: the episode's images, ``(H, W, 3)`` uint8 arrays (``env.render()`` with
            ``render_mode="rgb_array"``), or one ``(T, H, W, 3)`` array.
        rewards: one reward per step after the first frame (``len(frames) - 1``) or one per frame;
            None shows no rewards.
        fps: frames per second when playing.
        max_width: frames wider than this are scaled down to it (pixels).
        max_frames: longer episodes send every k-th frame, ``k = ceil(T / max_frames)`` (and the last).
        image_format: ``"png"`` (exact, small for rendered scenes) or ``"jpeg"`` (smaller for photographs).
        title: shown above the frames.
    """

    _esm = asset("episode_player.js")
    _css = asset("episode_player.css")

    #: the frames sent, as data URLs
    frames: t.List[str] = t.List().tag(sync=True)
    #: for each frame sent, the number of steps before it in the episode
    steps: t.List[int] = t.List().tag(sync=True)
    #: for each frame sent, the reward of the step that led to it (0 for the initial frame)
    rewards: t.List[float] = t.List().tag(sync=True)
    #: for each frame sent, the undiscounted return up to it
    returns: t.List[float] = t.List().tag(sync=True)
    #: the index (in ``frames``) shown; the front end writes it when playback stops or the slider moves
    frame = t.Int(0).tag(sync=True)
    fps = t.Float(30.0).tag(sync=True)
    #: every k-th frame of the episode is sent
    frame_step = t.Int(1).tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    #: start playing when shown
    autoplay = t.Bool(False).tag(sync=True)

    def __init__(
        self,
        frames: Sequence[np.ndarray] | np.ndarray,
        rewards: Sequence[float] | np.ndarray | None = None,
        fps: float = 30,
        *,
        max_width: int = 300,
        max_frames: int = 500,
        image_format: Literal["png", "jpeg"] = "png",
        title: str = "",
        autoplay: bool = False,
        **kwargs: Any,
    ) -> None:
        if not (isinstance(fps, int | float) and math.isfinite(fps) and 0 < fps <= 120):
            raise ValueError(f"fps must be a number in (0, 120], got {fps!r}")
        if not (isinstance(max_width, int) and max_width >= 8):
            raise ValueError(f"max_width must be an integer >= 8 pixels, got {max_width!r}")
        if not (isinstance(max_frames, int) and max_frames >= 2):
            raise ValueError(f"max_frames must be an integer >= 2, got {max_frames!r}")
        if image_format not in FORMATS:
            raise ValueError(f"image_format must be one of {', '.join(FORMATS)}, got {image_format!r}")
        images = _as_frames(frames)
        per_frame = _as_rewards(rewards, len(images))
        cumulative = np.cumsum(per_frame).tolist()
        step = math.ceil(len(images) / max_frames)
        kept = list(range(0, len(images), step))
        if kept[-1] != len(images) - 1:  # the end of the episode is always shown
            kept.append(len(images) - 1)
        # a skipped step's reward still counts: a sent frame's reward is the sum since the previous one
        before = [cumulative[j] if j >= 0 else 0.0 for j in [-1, *kept[:-1]]]
        sent_rewards = [cumulative[i] - b for i, b in zip(kept, before, strict=True)]
        super().__init__(
            frames=[_frame_url(images[i], max_width, image_format) for i in kept],
            steps=kept,
            rewards=sent_rewards,
            returns=[cumulative[i] for i in kept],
            fps=float(fps),
            frame_step=step,
            title=title,
            autoplay=autoplay,
            **kwargs,
        )
        #: the episode's undiscounted return and number of steps (of every frame given, not only those sent)
        self.total_return = float(cumulative[-1])
        self.length = len(images) - 1

    @t.validate("frame")
    def _valid_frame(self, proposal: dict[str, Any]) -> int:
        # clamped, so a stale index from a front end (or a slider past the end) never shows nothing
        return int(min(max(proposal["value"], 0), max(len(self.frames) - 1, 0)))

    @t.validate("fps")
    def _valid_fps(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not (math.isfinite(value) and 0 < value <= 120):
            raise t.TraitError(f"fps must be a number in (0, 120], got {value!r}")
        return value

    @property
    def size_bytes(self) -> int:
        """How many bytes the frames take on the wire (their data URLs)."""
        return sum(len(url) for url in self.frames)

    @classmethod
    def record(
        cls,
        agent_or_policy: Any,
        env_id: str,
        seed: int = 0,
        max_steps: int = 500,
        **kwargs: Any,
    ) -> EpisodePlayer:
        """Run one episode of ``env_id`` with ``render_mode="rgb_array"`` and play it.

        ``agent_or_policy`` is a ``dltoolkit.rl.Agent`` (anything with ``act``), called as
        ``agent.act(obs[None], deterministic=True)[0]``, or any callable ``observation -> action``::

            EpisodePlayer.record(model, "CartPole-v1", seed=1)
            EpisodePlayer.record(lambda obs: int(obs[2] > 0), "CartPole-v1", fps=50)

        Args:
            agent_or_policy: the agent, or a function of one observation returning one action.
            env_id: a gymnasium environment id (``dltoolkit.rl.ENVS`` are the offline ones).
            seed: seeds the environment's reset, so the episode is reproducible.
            max_steps: the episode is cut after this many steps (if it has not ended before).
            kwargs: passed to ``EpisodePlayer`` (``fps``, ``max_width``, ``title`` ...).
        """
        from dltoolkit.rl.envs import make_env

        if not (isinstance(max_steps, int) and max_steps >= 1):
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        act = getattr(agent_or_policy, "act", None)
        if callable(act):

            def policy(observation: np.ndarray) -> Any:
                return np.asarray(act(observation[None], deterministic=True))[0]

        elif callable(agent_or_policy):
            policy = agent_or_policy
        else:
            raise TypeError(
                "agent_or_policy must be an Agent (with .act) or a callable observation -> action, "
                f"got {type(agent_or_policy).__name__}"
            )
        env = make_env(env_id, seed=seed, render_mode="rgb_array")
        try:
            observation, _ = env.reset(seed=seed)
            frames: list[np.ndarray] = [np.asarray(env.render())]
            rewards: list[float] = []
            for _ in range(max_steps):
                observation, reward, terminated, truncated, _ = env.step(_to_action(policy(observation)))
                frames.append(np.asarray(env.render()))
                rewards.append(float(reward))
                if terminated or truncated:
                    break
        finally:
            env.close()
        name = type(agent_or_policy).__name__ if callable(act) else getattr(policy, "__name__", "policy")
        kwargs.setdefault("title", f"{env_id} · seed {seed} · {name}")
        return cls(frames, rewards, **kwargs)


def _to_action(action: Any) -> Any:
    """A policy's action as the environment takes it: a plain int for a discrete action."""
    array = np.asarray(action)
    if array.ndim == 0 and np.issubdtype(array.dtype, np.integer):
        return int(array)
    return array


__all__ = ["EpisodePlayer"]

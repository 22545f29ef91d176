"""Returns and advantages of a rollout: discounted returns and GAE (Schulman et al. 2016).

    from dltoolkit.rl.returns import discounted_returns, gae

    returns = discounted_returns(rewards, dones, gamma=0.99)                       # (T,) or (T, N)
    advantages, returns = gae(rewards, values, dones, last_value, gamma=0.99, lam=0.95)

Tensors are time first: ``(T,)`` for one environment, ``(T, N)`` for ``N`` environments stepped together.
``dones[t]`` is 1 when the transition of step ``t`` ended its episode (the environment reset after it), so
nothing after ``t`` is credited to step ``t``; ``last_value`` is the value of the state after the last step
(``V(s_T)``, shape ``()`` or ``(N,)``), which bootstraps a rollout cut off mid-episode. A time-limit
truncation is not an end of the MDP: add ``gamma * V(final observation)`` to that step's reward and pass
``done=1`` (Pardo et al. 2018, "Time limits in reinforcement learning"; SB3 does the same).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(rewards: Tensor, dones: Tensor, last_value: Tensor | float, gamma: float) -> Tensor:
    """Validate the common arguments; ``last_value`` as a tensor of ``rewards[0]``'s shape."""
    if not isinstance(rewards, Tensor) or not isinstance(dones, Tensor):
        raise TypeError("rewards and dones must be torch tensors, shaped (T,) or (T, N)")
    if rewards.dim() not in (1, 2) or rewards.shape[0] == 0:
        raise ValueError(f"rewards must be shaped (T,) or (T, N) with T >= 1, got {tuple(rewards.shape)}")
    if dones.shape != rewards.shape:
        raise ValueError(
            f"dones must have the shape of rewards {tuple(rewards.shape)}, got {tuple(dones.shape)}"
        )
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    last = torch.as_tensor(last_value, dtype=rewards.dtype, device=rewards.device)
    if last.numel() == 1:
        return last.reshape(()).expand(rewards.shape[1:])
    if last.shape != rewards.shape[1:]:
        raise ValueError(
            f"last_value must be a number or shaped {tuple(rewards.shape[1:])}, got {tuple(last.shape)}"
        )
    return last


def discounted_returns(
    rewards: Tensor, dones: Tensor, gamma: float, last_value: Tensor | float = 0.0
) -> Tensor:
    """Discounted returns of a rollout, cut at episode ends and bootstrapped from ``last_value``.

    G_t = r_t + gamma (1 - d_t) G_{t+1},   G_T = last_value

    >>> discounted_returns(torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.0, 1.0, 0.0]), gamma=0.5)
    tensor([1.5000, 1.0000, 1.0000])

    Args:
        rewards: ``(T,)`` or ``(T, N)`` rewards.
        dones: same shape; 1 where the step ended its episode.
        gamma: discount factor in [0, 1].
        last_value: ``V(s_T)`` of the state after the rollout (0 when the rollout ends whole episodes).
    """
    running = _check(rewards, dones, last_value, gamma)
    not_done = 1.0 - dones.to(rewards.dtype)
    returns = torch.empty_like(rewards)
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * not_done[t] * running
        returns[t] = running
    return returns


def gae(
    rewards: Tensor,
    values: Tensor,
    dones: Tensor,
    last_value: Tensor | float,
    gamma: float,
    lam: float,
) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016, eq. 16): ``(advantages, returns)``.

    δ_t = r_t + gamma (1 - d_t) V(s_{t+1}) - V(s_t)        (TD error; V(s_T) = last_value)
    A_t = δ_t + gamma lam (1 - d_t) A_{t+1}                (= Σ_l (gamma lam)^l δ_{t+l} within the episode)
    R_t = A_t + V(s_t)                                     (the value function's target, the TD(λ) return)

    lam = 1 gives the Monte-Carlo advantage ``G_t - V(s_t)``, lam = 0 the one-step TD error δ_t.

    >>> adv, ret = gae(torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.5]), torch.tensor([0.0, 1.0]),
    ...                last_value=0.0, gamma=1.0, lam=1.0)
    >>> adv, ret
    (tensor([1.5000, 0.5000]), tensor([2., 1.]))

    Args:
        rewards: ``(T,)`` or ``(T, N)`` rewards.
        values: ``V(s_t)`` for each step, same shape (detached: the targets carry no gradient).
        dones: same shape; 1 where the step ended its episode.
        last_value: ``V(s_T)``, a number or ``(N,)``.
        gamma: discount factor in [0, 1].
        lam: GAE's λ in [0, 1] (bias-variance trade-off).
    """
    next_value = _check(rewards, dones, last_value, gamma)
    if values.shape != rewards.shape:
        raise ValueError(
            f"values must have the shape of rewards {tuple(rewards.shape)}, got {tuple(values.shape)}"
        )
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam!r}")
    values = values.detach()
    not_done = 1.0 - dones.to(rewards.dtype)
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(next_value)
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * not_done[t] * next_value - values[t]
        running = delta + gamma * lam * not_done[t] * running
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + values

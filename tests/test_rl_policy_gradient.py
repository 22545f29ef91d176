"""Policy-gradient agents: returns and GAE against hand-computed values, the losses, fast fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from dltoolkit.rl.returns import discounted_returns, gae

# One rollout of 5 steps whose episode ends at step 2 (gamma = 0.9, λ = 0.8), worked by hand:
REWARDS = torch.tensor([1.0, 0.0, 2.0, 1.0, 1.0])
VALUES = torch.tensor([0.5, 1.0, 1.5, 0.5, 1.0])
DONES = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
LAST_VALUE = 2.0
# G4 = 1 + .9·2 = 2.8; G3 = 1 + .9·2.8 = 3.52; G2 = 2 (done); G1 = 0 + .9·2 = 1.8; G0 = 1 + .9·1.8 = 2.62
EXPECTED_RETURNS = torch.tensor([2.62, 1.8, 2.0, 3.52, 2.8])
# δ4 = 1 + .9·2 - 1 = 1.8;  δ3 = 1 + .9·1 - .5 = 1.4;  δ2 = 2 - 1.5 = .5 (done: no bootstrap);
# δ1 = 0 + .9·1.5 - 1 = .35;  δ0 = 1 + .9·1 - .5 = 1.4;  A_t = δ_t + .72·A_{t+1} within an episode:
# A4 = 1.8; A3 = 1.4 + .72·1.8 = 2.696; A2 = .5; A1 = .35 + .72·.5 = .71; A0 = 1.4 + .72·.71 = 1.9112
EXPECTED_ADVANTAGES = torch.tensor([1.9112, 0.71, 0.5, 2.696, 1.8])
# a second environment: one reward at the end of an episode that ends at the last step (last value unused)
REWARDS_2 = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
DONES_2 = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
EXPECTED_RETURNS_2 = torch.tensor([0.6561, 0.729, 0.81, 0.9, 1.0])  # 0.9^(4 - t)
EXPECTED_ADVANTAGES_2 = torch.tensor([0.26873856, 0.373248, 0.5184, 0.72, 1.0])  # V = 0: 0.72^(4 - t)


def test_discounted_returns_by_hand() -> None:
    got = discounted_returns(REWARDS, DONES, gamma=0.9, last_value=LAST_VALUE)
    assert torch.allclose(got, EXPECTED_RETURNS)
    # without a bootstrap only the unfinished episode's returns change (G4 = 1, G3 = 1 + .9·1)
    got = discounted_returns(REWARDS, DONES, gamma=0.9)
    assert torch.allclose(got, torch.tensor([2.62, 1.8, 2.0, 1.9, 1.0]))


def test_gae_by_hand() -> None:
    advantages, returns = gae(REWARDS, VALUES, DONES, LAST_VALUE, gamma=0.9, lam=0.8)
    assert torch.allclose(advantages, EXPECTED_ADVANTAGES)
    assert torch.allclose(returns, EXPECTED_ADVANTAGES + VALUES)


def test_batched_columns_are_independent_environments() -> None:
    rewards = torch.stack([REWARDS, REWARDS_2], dim=1)  # (T, N) = (5, 2)
    dones = torch.stack([DONES, DONES_2], dim=1)
    values = torch.stack([VALUES, torch.zeros(5)], dim=1)
    last_value = torch.tensor([LAST_VALUE, 5.0])
    returns = discounted_returns(rewards, dones, gamma=0.9, last_value=last_value)
    assert returns.shape == (5, 2)
    assert torch.allclose(returns, torch.stack([EXPECTED_RETURNS, EXPECTED_RETURNS_2], dim=1))
    advantages, targets = gae(rewards, values, dones, last_value, gamma=0.9, lam=0.8)
    assert torch.allclose(advantages, torch.stack([EXPECTED_ADVANTAGES, EXPECTED_ADVANTAGES_2], dim=1))
    assert torch.allclose(targets, advantages + values)


def test_gae_limits_are_monte_carlo_and_td() -> None:
    advantages, _ = gae(REWARDS, VALUES, DONES, LAST_VALUE, gamma=0.9, lam=1.0)
    assert torch.allclose(advantages, EXPECTED_RETURNS - VALUES)  # λ = 1: G_t - V(s_t)
    advantages, _ = gae(REWARDS, VALUES, DONES, LAST_VALUE, gamma=0.9, lam=0.0)
    assert torch.allclose(advantages, torch.tensor([1.4, 0.35, 0.5, 1.4, 1.8]))  # λ = 0: δ_t


def test_returns_bad_input() -> None:
    with pytest.raises(ValueError, match="dones must have the shape"):
        discounted_returns(REWARDS, DONES[:4], gamma=0.9)
    with pytest.raises(ValueError, match="gamma must be in"):
        discounted_returns(REWARDS, DONES, gamma=1.5)
    with pytest.raises(ValueError, match=r"\(T,\) or \(T, N\)"):
        discounted_returns(torch.zeros(2, 2, 2), torch.zeros(2, 2, 2), gamma=0.9)
    with pytest.raises(ValueError, match="last_value must be"):
        discounted_returns(REWARDS[:, None].repeat(1, 2), DONES[:, None].repeat(1, 2), 0.9, torch.zeros(3))
    with pytest.raises(ValueError, match="values must have the shape"):
        gae(REWARDS, VALUES[:3], DONES, 0.0, gamma=0.9, lam=0.8)
    with pytest.raises(ValueError, match="lam must be in"):
        gae(REWARDS, VALUES, DONES, 0.0, gamma=0.9, lam=-0.1)
    with pytest.raises(TypeError, match="torch tensors"):
        discounted_returns([1.0, 2.0], DONES, gamma=0.9)  # type: ignore[arg-type]


# --- the agents ---------------------------------------------------------------------------------------


def test_ppo_clipped_loss_by_hand() -> None:
    from dltoolkit.rl.policy_gradient import ppo_clip_loss

    # ratios 1.5, 0.5, 1.1, 0.7 with ε = 0.2 and advantages +1, +1, -2, -1:
    # min(1.5·1, 1.2·1) = 1.2 (clipped);  min(0.5·1, 0.8·1) = 0.5;  min(1.1·-2, 1.1·-2) = -2.2;
    # min(0.7·-1, 0.8·-1) = -0.8 (clipped): the objective is the pessimistic bound
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.7])
    advantage = torch.tensor([1.0, 1.0, -2.0, -1.0])
    old = torch.tensor([-1.0, -2.0, -0.5, -3.0])
    loss = ppo_clip_loss(old + ratio.log(), old, advantage, clip_range=0.2)
    assert torch.allclose(loss, -torch.tensor([1.2, 0.5, -2.2, -0.8]).mean())
    # a clipped term has no gradient: only the steps where the unclipped term is the minimum move
    log_prob = (old + ratio.log()).requires_grad_()
    ppo_clip_loss(log_prob, old, advantage, clip_range=0.2).backward()
    assert log_prob.grad is not None
    assert torch.allclose(log_prob.grad, torch.tensor([0.0, -0.5 / 4, 2.2 / 4, 0.0]))


def test_normal_policy_actions_stay_within_bounds() -> None:
    from dltoolkit.rl.policy_gradient import PPO

    agent = PPO(
        observation_shape=(3,),
        num_actions=None,
        action_dim=1,
        action_low=[-2.0],
        action_high=[2.0],
        log_std_init=2.0,
    )  # std e² ≈ 7.4: most samples fall outside [-2, 2] before clipping
    obs = np.random.default_rng(0).normal(size=(2000, 3)).astype(np.float32)
    actions = agent.act(obs)
    assert actions.shape == (2000, 1) and actions.dtype == np.float32
    assert actions.min() == -2.0 and actions.max() == 2.0  # clipped, and clipping happened
    assert np.abs(agent.act(obs, deterministic=True)).max() < 2.0  # the mean, small at initialisation
    with pytest.raises(ValueError, match="action_low and action_high need 1 values"):
        PPO(
            observation_shape=(3,),
            num_actions=None,
            action_dim=1,
            action_low=[-2.0, 0.0],
            action_high=[2.0, 1.0],
        )
    with pytest.raises(ValueError, match="must not exceed"):
        PPO(observation_shape=(3,), num_actions=None, action_dim=1, action_low=[2.0], action_high=[-2.0])
    with pytest.raises(ValueError, match=r"expects observations of shape \(N, 3\)"):
        agent.act(np.zeros((2, 4), np.float32))


def test_discrete_policy_acts_and_its_log_probs_sum_to_one() -> None:
    from dltoolkit.rl.policy_gradient import A2C

    agent = A2C(observation_shape=(4,), num_actions=3)
    obs = torch.randn(5, 4)
    actions = agent.act(obs.numpy())
    assert actions.shape == (5,) and actions.dtype == np.int64 and set(actions.tolist()) <= {0, 1, 2}
    log_probs = torch.stack(
        [agent.policy.log_prob_entropy(obs, torch.full((5,), a))[0] for a in range(3)], dim=1
    )  # (5, 3)
    assert torch.allclose(log_probs.exp().sum(1), torch.ones(5))
    assert agent(obs).shape == (5, 3)


@pytest.mark.parametrize(
    ("name", "data", "overrides"),
    [
        ("reinforce", "cartpole", {"n_steps": 64}),
        ("a2c", "cartpole", {}),
        ("ppo", "cartpole", {"n_steps": 16, "batch_size": 32, "n_epochs": 2}),
        ("reinforce", "pendulum", {"n_steps": 200}),  # Pendulum's episodes end at 200 steps
        ("a2c", "pendulum", {}),
        ("ppo_pendulum", "pendulum", {"n_steps": 16, "batch_size": 32, "n_epochs": 2}),
    ],
)
def test_each_algorithm_fits(name: str, data: str, overrides: dict[str, Any], fast_trainer: Any) -> None:
    import lightning.pytorch as pl

    import dltoolkit.rl.policy_gradient  # noqa: F401  (registers the models)
    from dltoolkit.catalog import create_data, create_model

    pl.seed_everything(0, verbose=False)
    dm = create_data(data, num_envs=2)
    agent = create_model(name, data=dm, eval_episodes=1, **overrides)
    before = [p.detach().clone() for p in agent.parameters()]
    trainer = fast_trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1)
    trainer.fit(agent, dm)
    assert trainer.global_step >= 1 and agent.env_steps > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.parameters(), strict=True))
    assert "eval/return" in trainer.callback_metrics
    obs = np.zeros((2, *dm.observation_shape), np.float32)
    actions = agent.act(obs, deterministic=True)
    if dm.num_actions is None:
        assert actions.shape == (2, 1) and np.all(np.abs(actions) <= 2.0)
    else:
        assert actions.shape == (2,)

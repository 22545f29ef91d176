"""Policy-gradient agents: REINFORCE with a baseline, A2C and PPO, for discrete and continuous actions.

All three learn a stochastic policy π_θ(a|s) and a value function V_φ(s) (one ``ActorCritic``) from
rollouts of the current policy in a vector environment (``RolloutDataset``), and differ only in how a
rollout becomes a loss:

    REINFORCE (Williams 1992):  L = -E[log π(a_t|s_t) (G_t - V(s_t))] + c_v E[(G_t - V(s_t))²]
        G_t the Monte-Carlo return of the rest of the episode (``discounted_returns``); the value is a
        baseline only (it lowers the variance, the gradient stays unbiased). Steps after a rollout's
        last episode end have no complete return and are left out.
    A2C (Mnih et al. 2016):     L = -E[log π(a_t|s_t) Â_t] + c_v E[(R_t - V(s_t))²] - c_e E[H(π(·|s_t))]
        Â_t from GAE over n-step rollouts (``gae``), bootstrapped from V(s_T); one gradient step each.
    PPO (Schulman et al. 2017): L = -E[min(r_t(θ) Â_t, clip(r_t(θ), 1 - ε, 1 + ε) Â_t)] + c_v L_V - c_e E[H]
        r_t(θ) = π_θ(a_t|s_t) / π_θ_old(a_t|s_t); several epochs of minibatches over each rollout.

Discrete actions are a Categorical over logits; continuous actions a Normal with a state-independent
learned log-std, sampled unbounded (so log-probabilities stay exact) and clipped to the action bounds
only when sent to the environment (as SB3 does). A time limit is not a terminal state: the value of the
last observation of a truncated episode is added to its last reward (see ``dltoolkit.rl.returns``)::

    dm = create_data("cartpole", num_envs=8)
    agent = create_model("ppo", data=dm)                # rl-zoo3's tuned CartPole-v1 settings
    pl.Trainer(max_epochs=10).fit(agent, dm)            # 10 x 10,240 environment steps
    agent.act(obs[None], deterministic=True)            # the most likely action (the mean, if continuous)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Normal
from torch.utils.data import IterableDataset

from dltoolkit.catalog import QualityTarget, register_model
from dltoolkit.rl.agent import ON_CPU, Agent
from dltoolkit.rl.returns import discounted_returns, gae

if TYPE_CHECKING:
    from dltoolkit.rl.envs import EnvDataModule


# --- the networks ------------------------------------------------------------------------------------


def _layer(n_in: int, n_out: int, gain: float) -> nn.Linear:
    # orthogonal weights, zero biases: as the PPO implementations initialise (Andrychowicz et al. 2021)
    layer = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def _mlp(n_in: int, hidden_sizes: Sequence[int], n_out: int, out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden_sizes:
        layers += [_layer(n_in, width, math.sqrt(2)), nn.Tanh()]
        n_in = width
    layers.append(_layer(n_in, n_out, out_gain))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate policy and value MLPs: ``distribution(obs)`` is π(·|s), ``value(obs)`` is V(s) ``(B,)``.

    ``num_actions`` set: a Categorical over ``num_actions`` logits; ``action_dim`` set: a Normal with mean
    ``actor(obs)`` and a learned, state-independent ``log_std`` (one per action dimension).
    """

    def __init__(
        self,
        obs_size: int,
        num_actions: int | None,
        action_dim: int | None,
        hidden_sizes: Sequence[int],
        log_std_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.continuous = action_dim is not None
        n_out = action_dim if action_dim is not None else num_actions
        assert n_out is not None
        # small last-layer gains: the first policy is near uniform, the first values near 0
        self.actor = _mlp(obs_size, hidden_sizes, n_out, out_gain=0.01)
        self.critic = _mlp(obs_size, hidden_sizes, 1, out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((n_out,), log_std_init)) if self.continuous else None

    def distribution(self, obs: Tensor) -> Distribution:
        out = self.actor(obs.flatten(1))  # (B, num_actions) logits or (B, action_dim) means
        if self.log_std is None:
            return Categorical(logits=out)
        return Normal(out, self.log_std.exp().expand_as(out))

    def value(self, obs: Tensor) -> Tensor:
        return self.critic(obs.flatten(1)).squeeze(-1)  # (B,)

    def log_prob_entropy(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """log π(a|s) and H(π(·|s)), both ``(B,)`` (summed over the dimensions of a continuous action)."""
        dist = self.distribution(obs)
        log_prob, entropy = dist.log_prob(actions), dist.entropy()
        if self.continuous:
            log_prob, entropy = log_prob.sum(-1), entropy.sum(-1)
        return log_prob, entropy


# --- the experience: rollouts of the current policy ----------------------------------------------------


class Rollout(NamedTuple):
    """``n_steps`` steps of ``N`` environments (time first) with their advantages and value targets."""

    observations: Tensor  # (T, N, *obs_shape)
    actions: Tensor  # (T, N) discrete, (T, N, action_dim) continuous
    log_probs: Tensor  # (T, N): log π_θ_old(a_t|s_t) when acting
    values: Tensor  # (T, N): V(s_t) when acting
    advantages: Tensor  # (T, N): Â_t
    returns: Tensor  # (T, N): the value targets R_t
    mask: Tensor  # (T, N): 1 for steps that count (REINFORCE leaves out unfinished episodes)

    def flat(self) -> Rollout:
        """The same steps as one batch of ``T·N`` (time and environment merged)."""
        return Rollout(*(x.flatten(0, 1) for x in self))

    def select(self, idx: Tensor) -> Rollout:
        return Rollout(*(x[idx] for x in self))


class RolloutDataset(IterableDataset):
    """One epoch of experience: rollouts of ``n_steps`` vector-env steps, each turned into training batches.

    After each rollout the agent's ``batches(rollout)`` says what ``training_step`` gets: the whole rollout
    once (REINFORCE, A2C) or shuffled minibatches for several epochs (PPO). An epoch ends after the
    rollout that reaches ``steps_per_epoch`` environment steps. Items are ``(batch, episodes)``, with the
    ``RecordEpisodeStatistics`` infos of the episodes that ended in the rollout (for ``log_episodes``).
    """

    def __init__(self, agent: PolicyGradientAgent, env: gym.vector.VectorEnv, steps_per_epoch: int) -> None:
        self.agent, self.env, self.steps_per_epoch = agent, env, steps_per_epoch
        self.observations, _ = env.reset()  # make_vector_env seeded it: this continues that stream

    @torch.no_grad()
    def collect(self) -> tuple[Rollout, list[dict[str, Any]]]:
        agent, env = self.agent, self.env
        hp: Any = agent.hparams
        steps: dict[str, list[Tensor]] = {k: [] for k in ("obs", "actions", "log_probs", "values", "rewards")}
        dones: list[Tensor] = []
        episodes: list[dict[str, Any]] = []
        was_training = agent.training
        agent.eval()
        for _ in range(hp.n_steps):
            obs = torch.as_tensor(self.observations, dtype=torch.float32, device=agent.device)
            dist = agent.policy.distribution(obs)
            actions = dist.sample()  # (N,) or (N, action_dim), unbounded
            log_prob = dist.log_prob(actions)
            log_prob = log_prob.sum(-1) if agent.policy.continuous else log_prob
            next_obs, rewards, terminated, truncated, infos = env.step(agent.to_env(actions))
            rewards = torch.as_tensor(rewards, dtype=torch.float32, device=agent.device)
            # a time limit cut the episode: bootstrap with the value of its real last state
            for i in np.flatnonzero(truncated & ~terminated):
                final = torch.as_tensor(infos["final_obs"][i], dtype=torch.float32, device=agent.device)
                rewards[i] += hp.gamma * agent.policy.value(final[None])[0]
            steps["obs"].append(obs)
            steps["actions"].append(actions)
            steps["log_probs"].append(log_prob)
            steps["values"].append(agent.policy.value(obs))
            steps["rewards"].append(rewards)
            dones.append(torch.as_tensor(terminated | truncated, dtype=torch.float32, device=agent.device))
            if "episode" in infos:
                episodes.append({"episode": dict(infos["episode"]), "_episode": infos["_episode"]})
            self.observations = next_obs
            agent.env_steps += env.num_envs
        last_value = agent.policy.value(
            torch.as_tensor(self.observations, dtype=torch.float32, device=agent.device)
        )
        agent.train(was_training)
        obs, actions, log_probs, values, rewards = (torch.stack(steps[k]) for k in steps)  # (T, N, ...)
        done = torch.stack(dones)  # (T, N)
        advantages, returns, mask = agent.targets(rewards, values, done, last_value)
        return Rollout(obs, actions, log_probs, values, advantages, returns, mask), episodes

    def __iter__(self) -> Iterator[tuple[Rollout, list[dict[str, Any]]]]:
        epoch_end = self.agent.env_steps + self.steps_per_epoch
        while self.agent.env_steps < epoch_end:
            rollout, episodes = self.collect()
            for i, batch in enumerate(self.agent.batches(rollout)):
                yield batch, episodes if i == 0 else []


# --- the shared agent ----------------------------------------------------------------------------------


class PolicyGradientAgent(Agent):
    """What REINFORCE, A2C and PPO share: the actor-critic, acting, rollouts and the annealed lr.

    Args:
        hidden_sizes: width of each hidden layer of the policy and of the value network (tanh).
        lr: learning rate (Adam; RMSprop for A2C).
        anneal_lr: fall linearly from ``lr`` to 0 over the training steps (rl-zoo3's ``lin_``).
        gamma: discount factor gamma.
        n_steps: steps of each environment per rollout.
        vf_coef: weight c_v of the value loss.
        ent_coef: weight c_e of the entropy bonus.
        max_grad_norm: clip the gradient norm to this (0: no clipping); ``--trainer.gradient_clip_val`` wins.
        log_std_init: initial log standard deviation of continuous actions.
        action_low: lower bounds of continuous actions (from the data module); actions are clipped to them.
        action_high: upper bounds of continuous actions (from the data module).
        steps_per_epoch: environment steps (all copies) per epoch, rounded up to whole rollouts.
        total_env_steps: the steps the lr schedule spans; ``None``: ``max_epochs x steps_per_epoch``.
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (64, 64),
        lr: float = 3e-4,
        anneal_lr: bool = False,
        gamma: float = 0.99,
        n_steps: int = 128,
        vf_coef: float = 0.5,
        ent_coef: float = 0.0,
        max_grad_norm: float = 0.5,
        log_std_init: float = 0.0,
        action_low: Sequence[float] | None = None,
        action_high: Sequence[float] | None = None,
        steps_per_epoch: int = 10_000,
        total_env_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        for name, value in (("n_steps", n_steps), ("steps_per_epoch", steps_per_epoch)):
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        self.policy = ActorCritic(
            int(np.prod(self.observation_shape)),
            self.num_actions,
            self.action_dim,
            hidden_sizes,
            log_std_init,
        )
        low, high = action_low, action_high
        if self.action_dim is not None and (low is None) != (high is None):
            raise ValueError("give both action_low and action_high, or neither (unbounded actions)")
        if self.action_dim is not None and low is not None and high is not None:
            if len(low) != self.action_dim or len(high) != self.action_dim:
                raise ValueError(
                    f"action_low and action_high need {self.action_dim} values each, "
                    f"got {len(low)} and {len(high)}"
                )
            if any(lo > hi for lo, hi in zip(low, high, strict=True)):
                raise ValueError(f"action_low {list(low)} must not exceed action_high {list(high)}")
        bounded = self.action_dim is not None and low is not None and high is not None
        # buffers: they follow the module to its device
        self._low: Tensor | None
        self._high: Tensor | None
        self.register_buffer("_low", torch.tensor(low, dtype=torch.float32) if bounded else None)
        self.register_buffer("_high", torch.tensor(high, dtype=torch.float32) if bounded else None)
        self.example_input_array = torch.zeros(2, *self.observation_shape)

    # --- acting ---
    def forward(self, obs: Tensor) -> Tensor:
        """The policy's logits ``(B, num_actions)`` or action means ``(B, action_dim)``."""
        self._check_batch_shape(tuple(obs.shape))
        return self.policy.actor(obs.flatten(1))

    def to_env(self, actions: Tensor) -> np.ndarray:
        """Actions as the environment takes them: ints, or floats clipped to the action bounds."""
        if self.action_dim is None:
            return actions.cpu().numpy().astype(np.int64)
        if self._low is not None and self._high is not None:
            actions = torch.clamp(actions, self._low, self._high)
        return actions.cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def act(self, observation: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions ``(N,)`` or ``(N, action_dim)``: sampled, or the mode (argmax or mean) if deterministic."""
        obs = torch.as_tensor(self._check_observation(observation), device=self.device)
        if not deterministic:
            return self.to_env(self.policy.distribution(obs).sample())
        out = self.policy.actor(obs.flatten(1))  # logits or means: the mode is their argmax or themselves
        return self.to_env(out.argmax(dim=-1) if self.action_dim is None else out)

    # --- experience ---
    def experience(self, env_data: EnvDataModule) -> RolloutDataset:
        if (
            env_data.observation_shape != self.observation_shape
            or env_data.num_actions != self.num_actions
            or env_data.action_dim != self.action_dim
        ):
            raise ValueError(
                f"{env_data.env_id} has observations {env_data.observation_shape}, num_actions "
                f"{env_data.num_actions} and action_dim {env_data.action_dim}, but this agent was built for "
                f"{self.observation_shape}, {self.num_actions} and {self.action_dim}"
            )
        return RolloutDataset(self, env_data.make_vector_env(), self.hparams["steps_per_epoch"])

    def targets(
        self, rewards: Tensor, values: Tensor, dones: Tensor, last_value: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(advantages, returns, mask)`` of a rollout, each ``(T, N)``. GAE here; REINFORCE overrides it."""
        hp: Any = self.hparams
        advantages, returns = gae(rewards, values, dones, last_value, hp.gamma, hp.gae_lambda)
        return advantages, returns, torch.ones_like(rewards)

    def batches(self, rollout: Rollout) -> Iterator[Rollout]:
        """The training batches of one rollout: the whole of it, once (REINFORCE, A2C; PPO overrides it)."""
        yield rollout.flat()

    # --- learning ---
    def progress_remaining(self) -> float:
        """1 at the start of training, 0 at its end (for linear schedules)."""
        hp: Any = self.hparams
        total = hp.total_env_steps
        if total is None:
            max_epochs = self._trainer.max_epochs if self._trainer is not None else None
            if max_epochs is None or max_epochs < 1:
                return 1.0  # no known end: no annealing
            total = max_epochs * hp.steps_per_epoch
        return max(0.0, 1.0 - self.env_steps / total)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        hp: Any = self.hparams
        if hp.anneal_lr:
            lr = hp.lr * self.progress_remaining()
            for group in self.trainer.optimizers[0].param_groups:
                group["lr"] = lr

    def log_losses(self, **losses: Tensor) -> None:
        every: int = getattr(self.trainer, "log_every_n_steps", 50)
        if (self.global_step + 1) % max(1, every) == 0:  # self.log costs ~1 ms: only where the logger writes
            for name, value in losses.items():
                self.log(f"losses/{name}", value, prog_bar=name == "policy_loss")

    def configure_optimizers(self) -> Any:
        # eps 1e-5 instead of Adam's 1e-8: the PPO implementations' choice (Andrychowicz et al. 2021)
        return torch.optim.Adam(self.parameters(), lr=self.hparams["lr"], eps=1e-5)

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: int | float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        clip = gradient_clip_val if gradient_clip_val is not None else self.hparams["max_grad_norm"]
        if clip:
            self.clip_gradients(
                optimizer, gradient_clip_val=clip, gradient_clip_algorithm=gradient_clip_algorithm or "norm"
            )


# --- REINFORCE -----------------------------------------------------------------------------------------


@register_model(
    "reinforce",
    topic="rl",
    data="cartpole",
    data_hparams={"num_envs": 8},
    trainer=ON_CPU,
    # measured (seeds 0, 1, 2; 60 epochs = 491,520 steps, ~40 s each on this 2-core CPU): 300, 400, 366
    target=QualityTarget("eval/return", 250.0, max_epochs=60, max_seconds=120.0),
)
class Reinforce(PolicyGradientAgent):
    """REINFORCE with a learned value baseline (Williams 1992; Sutton & Barto 2018, §13.4).

    Monte-Carlo returns G_t of whole episodes: rollouts are long (``n_steps`` per environment) and the
    steps after each environment's last episode end in a rollout are masked out (no complete return).

    Args:
        normalize_advantage: scale G_t - V(s_t) to mean 0 and std 1 over the batch.
    """

    def __init__(
        self,
        normalize_advantage: bool = True,
        lr: float = 1e-3,
        gamma: float = 0.99,
        n_steps: int = 512,
        steps_per_epoch: int = 8192,
        **kwargs: Any,
    ) -> None:
        super().__init__(lr=lr, gamma=gamma, n_steps=n_steps, steps_per_epoch=steps_per_epoch, **kwargs)

    def targets(
        self, rewards: Tensor, values: Tensor, dones: Tensor, last_value: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        returns = discounted_returns(rewards, dones, self.hparams["gamma"])  # G_t, no bootstrap
        # steps after the last episode end of each environment have no complete return yet
        t = torch.arange(len(dones), device=dones.device)[:, None]  # (T, 1)
        last_end = torch.where(dones > 0, t, -1).max(dim=0).values  # (N,)
        mask = (t <= last_end).float()  # (T, N)
        return returns - values, returns, mask

    def training_step(self, batch: tuple[Rollout, list[dict[str, Any]]], batch_idx: int) -> Tensor | None:
        rollout, episodes = batch
        if episodes:
            self.log_episodes(episodes)
        keep = rollout.mask > 0
        if not keep.any():  # no episode ended in this rollout: nothing to learn from
            return None
        b = rollout.select(keep)
        log_prob, entropy = self.policy.log_prob_entropy(b.observations, b.actions)
        advantage = b.advantages  # G_t - V(s_t), the baseline detached
        if self.hparams["normalize_advantage"] and len(advantage) > 1:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        policy_loss = -(log_prob * advantage).mean()  # -E[log π(a|s) (G - b(s))]
        value_loss = (b.returns - self.policy.value(b.observations)).pow(2).mean()  # E[(G_t - V(s_t))²]
        loss = policy_loss + self.hparams["vf_coef"] * value_loss - self.hparams["ent_coef"] * entropy.mean()
        self.log_losses(policy_loss=policy_loss, value_loss=value_loss, entropy=entropy.mean())
        return loss


# --- A2C -----------------------------------------------------------------------------------------------


@register_model(
    "a2c",
    topic="rl",
    data="cartpole",
    data_hparams={"num_envs": 8},
    trainer=ON_CPU,
    # measured (seeds 0, 1, 2; 30 epochs = 300,000 steps, 46-51 s each on this 2-core CPU): 500, 500, 500;
    # 10 epochs were not enough (488, 96, 500)
    target=QualityTarget("eval/return", 475.0, max_epochs=30, max_seconds=120.0),
)
class A2C(PolicyGradientAgent):
    """Advantage actor-critic (Mnih et al. 2016, synchronous): one gradient step per short rollout.

    Defaults are SB3's A2C (rl-zoo3's CartPole-v1 uses them): 8 environments, 5 steps, RMSprop 7e-4.

    Args:
        gae_lambda: GAE's λ (1: the n-step return minus the value).
        normalize_advantage: scale Â to mean 0 and std 1 over the batch.
        rms_prop: RMSprop (alpha 0.99, ε 1e-5) as the A3C paper and SB3; Adam otherwise.
    """

    def __init__(
        self,
        gae_lambda: float = 1.0,
        normalize_advantage: bool = False,
        rms_prop: bool = True,
        lr: float = 7e-4,
        n_steps: int = 5,
        steps_per_epoch: int = 10_000,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda must be in [0, 1], got {gae_lambda}")
        super().__init__(lr=lr, n_steps=n_steps, steps_per_epoch=steps_per_epoch, **kwargs)

    def training_step(self, batch: tuple[Rollout, list[dict[str, Any]]], batch_idx: int) -> Tensor:
        b, episodes = batch
        if episodes:
            self.log_episodes(episodes)
        log_prob, entropy = self.policy.log_prob_entropy(b.observations, b.actions)
        advantage = b.advantages
        if self.hparams["normalize_advantage"] and len(advantage) > 1:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        policy_loss = -(log_prob * advantage).mean()  # -E[log π(a|s) Â]
        value_loss = (b.returns - self.policy.value(b.observations)).pow(2).mean()  # E[(R_t - V(s_t))²]
        loss = policy_loss + self.hparams["vf_coef"] * value_loss - self.hparams["ent_coef"] * entropy.mean()
        self.log_losses(policy_loss=policy_loss, value_loss=value_loss, entropy=entropy.mean())
        return loss

    def configure_optimizers(self) -> Any:
        if self.hparams["rms_prop"]:
            return torch.optim.RMSprop(self.parameters(), lr=self.hparams["lr"], alpha=0.99, eps=1e-5)
        return super().configure_optimizers()


# --- PPO -----------------------------------------------------------------------------------------------


def ppo_clip_loss(log_prob: Tensor, old_log_prob: Tensor, advantage: Tensor, clip_range: float) -> Tensor:
    """PPO's clipped surrogate (Schulman et al. 2017, eq. 7), as a loss to minimise.

    L = -E[min(r_t(θ) Â, clip(r_t(θ), 1 - ε, 1 + ε) Â)],  r_t(θ) = exp(log π_θ(a|s) - log π_θ_old(a|s))

    >>> ppo_clip_loss(torch.log(torch.tensor([1.5])), torch.zeros(1), torch.ones(1), 0.2)
    tensor(-1.2000)
    """
    ratio = (log_prob - old_log_prob).exp()  # r_t(θ)
    unclipped = ratio * advantage
    clipped = torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range) * advantage
    return -torch.min(unclipped, clipped).mean()


@register_model(
    "ppo_pendulum",
    topic="rl",
    data="pendulum",
    data_hparams={"num_envs": 4},
    trainer=ON_CPU,
    # measured (seeds 0, 1, 2; 13 epochs = 106,496 steps, one CPU thread each, ~55 s on a 16-core
    # machine): -160, -140, -133 over 20 episodes (random play scores about -1,200)
    target=QualityTarget("eval/return", -200.0, max_epochs=13, max_seconds=180.0),
    gae_lambda=0.95,
    gamma=0.9,
    n_steps=1024,
    n_epochs=10,
    batch_size=64,
    anneal_lr=False,
    anneal_clip=False,
    steps_per_epoch=8192,
)
@register_model(
    "ppo",
    topic="rl",
    data="cartpole",
    data_hparams={"num_envs": 8},
    trainer=ON_CPU,
    target=QualityTarget("eval/return", 475.0, max_epochs=10, max_seconds=120.0),
)
class PPO(PolicyGradientAgent):
    """Proximal policy optimisation with the clipped objective (Schulman et al. 2017), GAE and minibatches.

    Defaults are rl-zoo3's tuned CartPole-v1 settings: 8 environments x 32 steps, minibatches of 256,
    20 epochs per rollout, gamma 0.98, λ 0.8, lr and clip range both falling linearly from 1e-3 and 0.2.

    Args:
        gae_lambda: GAE's λ.
        n_epochs: passes over each rollout.
        batch_size: steps per minibatch.
        clip_range: ε of the clipped ratio.
        anneal_clip: let ε fall linearly to 0 with training progress (rl-zoo3's ``lin_0.2``).
        clip_range_vf: clip the value change per update to this (the PPO2 value clipping); None: off.
        normalize_advantage: scale Â to mean 0 and std 1 in each minibatch.
        target_kl: stop a rollout's epochs early once the approximate KL exceeds this; None: never.
    """

    def __init__(
        self,
        gae_lambda: float = 0.8,
        n_epochs: int = 20,
        batch_size: int = 256,
        clip_range: float = 0.2,
        anneal_clip: bool = True,
        clip_range_vf: float | None = None,
        normalize_advantage: bool = True,
        target_kl: float | None = None,
        lr: float = 1e-3,
        anneal_lr: bool = True,
        gamma: float = 0.98,
        n_steps: int = 32,
        steps_per_epoch: int = 10_240,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda must be in [0, 1], got {gae_lambda}")
        if not 0.0 < clip_range < 1.0:
            raise ValueError(f"clip_range must be in (0, 1), got {clip_range}")
        for name, value in (("n_epochs", n_epochs), ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        super().__init__(
            lr=lr,
            anneal_lr=anneal_lr,
            gamma=gamma,
            n_steps=n_steps,
            steps_per_epoch=steps_per_epoch,
            **kwargs,
        )
        self._stop_rollout = False  # set by training_step when target_kl is exceeded

    @property
    def clip(self) -> float:
        """ε now: ``clip_range``, falling linearly to 0 over training if ``anneal_clip``."""
        hp: Any = self.hparams
        return hp.clip_range * (self.progress_remaining() if hp.anneal_clip else 1.0)

    def batches(self, rollout: Rollout) -> Iterator[Rollout]:
        hp: Any = self.hparams
        flat = rollout.flat()  # (T·N, ...)
        size = len(flat.advantages)
        self._stop_rollout = False
        for _ in range(hp.n_epochs):
            order = torch.randperm(size, device=flat.advantages.device)
            for start in range(0, size, hp.batch_size):
                if self._stop_rollout:
                    return
                yield flat.select(order[start : start + hp.batch_size])

    def training_step(self, batch: tuple[Rollout, list[dict[str, Any]]], batch_idx: int) -> Tensor:
        hp: Any = self.hparams
        b, episodes = batch
        if episodes:
            self.log_episodes(episodes)
        log_prob, entropy = self.policy.log_prob_entropy(b.observations, b.actions)
        advantage = b.advantages
        if hp.normalize_advantage and len(advantage) > 1:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        clip = self.clip
        policy_loss = ppo_clip_loss(log_prob, b.log_probs, advantage, clip)
        # value loss: E[(V(s) - R)²], optionally clipped around the rollout's values (PPO2)
        value = self.policy.value(b.observations)
        if hp.clip_range_vf is not None:
            value = b.values + torch.clamp(value - b.values, -hp.clip_range_vf, hp.clip_range_vf)
        value_loss = (b.returns - value).pow(2).mean()
        loss = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy.mean()
        with torch.no_grad():
            log_ratio = log_prob - b.log_probs
            approx_kl = ((log_ratio.exp() - 1) - log_ratio).mean()  # Schulman's unbiased KL estimator k3
            clip_fraction = ((log_ratio.exp() - 1).abs() > clip).float().mean()
        if hp.target_kl is not None and approx_kl > 1.5 * hp.target_kl:
            self._stop_rollout = True  # the rest of this rollout's minibatches are skipped
        self.log_losses(
            policy_loss=policy_loss,
            value_loss=value_loss,
            entropy=entropy.mean(),
            approx_kl=approx_kl,
            clip_fraction=clip_fraction,
        )
        return loss

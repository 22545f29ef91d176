"""Deep Q-Network (Mnih et al. 2015), with Double DQN (van Hasselt et al. 2016) and Dueling (Wang et al.
2016).

One algorithm, top to bottom. The agent acts ε-greedily on Q(s, ·), stores transitions in a replay
buffer, and regresses Q(s, a) onto the one-step TD target computed with a slowly-moving copy of itself
(the target network θ⁻)::

    y = r + gamma (1 - terminated) max_a' Q(s', a'; θ⁻)                      (DQN)
    y = r + gamma (1 - terminated) Q(s', argmax_a' Q(s', a'; θ); θ⁻)        (Double DQN: θ picks, θ⁻ rates)
    loss = Huber(Q(s, a; θ) - y)

Dueling splits the head: Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a'). An epoch is ``steps_per_epoch``
environment steps (so ``--trainer.max_epochs`` budgets experience); ε falls linearly from
``exploration_initial_eps`` to ``exploration_final_eps`` over ``exploration_fraction`` of all the steps.

Training alternates as SB3's DQN does: ``train_freq`` environment steps, then a phase of
``gradient_steps`` updates, during which θ⁻ stays fixed. One ``training_step`` takes several of a phase's
updates (manual optimisation), because Lightning's per-step machinery costs about as much as one update
of this small network; it pulls its batches itself (``dataloader_iter``), so the next phase's experience
comes from the network as this phase leaves it rather than from one prefetched a batch earlier::

    dm = create_data("cartpole")
    agent = create_model("dqn", data=dm)               # rl-zoo3's tuned CartPole-v1 settings
    pl.Trainer(max_epochs=10).fit(agent, dm)           # 50,000 steps; eval/return 500 (3 seeds of 3)
    agent.act(obs[None], deterministic=True)           # greedy action
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dltoolkit.catalog import QualityTarget, register_model
from dltoolkit.rl.agent import ON_CPU, Agent
from dltoolkit.rl.buffers import ReplayBuffer, ReplayDataset, ReplaySample

if TYPE_CHECKING:
    from dltoolkit.rl.envs import EnvDataModule

# Lightning calls training_step(dataloader_iter) experimental; DQN relies on it on purpose (see above)
warnings.filterwarnings("ignore", message="Found `dataloader_iter` argument in the `training_step`")
warnings.filterwarnings("ignore", message="You are using the `dataloader_iter` step flavor")


def linear_schedule(start: float, end: float, duration: float, t: float) -> float:
    """``start`` at ``t = 0``, linearly to ``end`` at ``t = duration``, then ``end``.

    >>> linear_schedule(1.0, 0.1, 100, 50)
    0.55
    """
    if duration <= 0:
        return end
    return start + (end - start) * min(1.0, t / duration)


class QNetwork(nn.Module):
    """An MLP from observations ``(B, *obs_shape)`` to Q-values ``(B, num_actions)``, optionally dueling."""

    def __init__(
        self, observation_size: int, num_actions: int, hidden_sizes: Sequence[int], dueling: bool
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = observation_size
        for h in hidden_sizes:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.trunk = nn.Sequential(*layers)
        self.dueling = dueling
        self.advantage = nn.Linear(width, num_actions)  # plain DQN: this head is Q itself
        self.value = nn.Linear(width, 1) if dueling else None

    def forward(self, obs: Tensor) -> Tensor:
        h = self.trunk(obs)  # (B, width)
        a = self.advantage(h)  # (B, A)
        if self.value is None:
            return a
        # Wang et al. (2016), eq. 9: subtracting the mean advantage makes V and A identifiable
        return self.value(h) + a - a.mean(dim=1, keepdim=True)  # (B, 1) + (B, A) -> (B, A)


@register_model(
    "dqn",
    topic="rl",
    data="cartpole",
    trainer=ON_CPU,
    # measured (seeds 0, 1, 2; 50k steps, ~56 s each on this 2-core CPU): 500, 500, 500 over 20 episodes
    target=QualityTarget("eval/return", 475.0, max_epochs=10, max_seconds=120.0),
)
class DQN(Agent):
    """Deep Q-Network for discrete actions, with Double DQN and Dueling heads as options.

    Defaults are rl-zoo3's tuned CartPole-v1 hyperparameters.

    Args:
        hidden_sizes: width of each hidden layer of the Q-network.
        lr: Adam learning rate.
        gamma: discount factor gamma.
        batch_size: transitions per gradient step.
        buffer_size: transitions the replay buffer keeps.
        learning_starts: environment steps of experience before the first gradient step.
        train_freq: environment steps between training phases.
        gradient_steps: gradient steps per training phase.
        target_update_interval: environment steps between target-network updates.
        tau: target update rate: 1 copies θ into θ⁻ (hard update), less is Polyak averaging θ⁻ ← τθ + (1-τ)θ⁻.
        exploration_fraction: share of all the training steps over which ε falls.
        exploration_initial_eps: ε at the start.
        exploration_final_eps: ε at the end of the fall, kept afterwards.
        double_dqn: choose the next action with the online network and rate it with the target (Double DQN).
        dueling: split the Q head into a state value and action advantages (Dueling DQN).
        loss: ``huber`` (smooth L1, as Mnih et al. clip the TD error) or ``mse``.
        max_grad_norm: clip the gradient norm to this (0: no clipping). The Trainer's ``gradient_clip_val``
            does not apply: DQN optimises manually, and Lightning refuses it there.
        steps_per_epoch: environment steps in one epoch; the total is ``max_epochs x steps_per_epoch``.
        total_env_steps: the total the ε schedule spans; ``None``: ``max_epochs x steps_per_epoch``.
    """

    #: updates per ``training_step``: few enough that Lightning's ``log_every_n_steps`` (counted in
    #: training steps) still writes the curves often, enough that its per-step cost is spread thin
    updates_per_step = 16

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (256, 256),
        lr: float = 2.3e-3,
        gamma: float = 0.99,
        batch_size: int = 64,
        buffer_size: int = 100_000,
        learning_starts: int = 1000,
        train_freq: int = 256,
        gradient_steps: int = 128,
        target_update_interval: int = 10,
        tau: float = 1.0,
        exploration_fraction: float = 0.16,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.04,
        double_dqn: bool = False,
        dueling: bool = False,
        loss: Literal["huber", "mse"] = "huber",
        max_grad_norm: float = 10.0,
        steps_per_epoch: int = 5000,
        total_env_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if self.num_actions is None:
            raise ValueError(
                "DQN needs discrete actions (num_actions); use a policy-gradient agent for continuous ones"
            )
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {tau}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        for name, eps in (
            ("exploration_initial_eps", exploration_initial_eps),
            ("exploration_final_eps", exploration_final_eps),
        ):
            if not 0.0 <= eps <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {eps}")
        if not 0.0 <= exploration_fraction <= 1.0:
            raise ValueError(f"exploration_fraction must be in [0, 1], got {exploration_fraction}")
        if loss not in ("huber", "mse"):
            raise ValueError(f"loss must be 'huber' or 'mse', got {loss!r}")
        for name, value in (
            ("target_update_interval", target_update_interval),
            ("steps_per_epoch", steps_per_epoch),
        ):
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        size = int(np.prod(self.observation_shape))
        self.q_net = QNetwork(size, self.num_actions, hidden_sizes, dueling)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)  # θ⁻, trained only by copying
        self._target_syncs = -1  # the env_steps // target_update_interval of the last update
        self.automatic_optimization = False  # several updates per training_step (see the module docstring)
        self.example_input_array = torch.zeros(2, *self.observation_shape)

    # --- acting ---
    def forward(self, obs: Tensor) -> Tensor:
        """Q-values ``(B, num_actions)`` of observations ``(B, *observation_shape)``."""
        self._check_batch_shape(tuple(obs.shape))
        return self.q_net(obs)

    @property
    def epsilon(self) -> float:
        """The exploration rate at the current ``env_steps``."""
        hp: Any = self.hparams
        return linear_schedule(
            hp.exploration_initial_eps,
            hp.exploration_final_eps,
            hp.exploration_fraction * self.total_steps(),
            self.env_steps,
        )

    def total_steps(self) -> int:
        """All the training's environment steps: ``total_env_steps`` or ``max_epochs x steps_per_epoch``."""
        hp: Any = self.hparams
        if hp.total_env_steps is not None:
            return int(hp.total_env_steps)
        max_epochs = self._trainer.max_epochs if self._trainer is not None else None
        if max_epochs is None or max_epochs < 1:
            raise ValueError(
                "set --trainer.max_epochs or --model.total_env_steps: the ε schedule spans the run"
            )
        return int(max_epochs * hp.steps_per_epoch)

    @torch.no_grad()
    def act(self, observation: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Greedy actions ``(N,)`` for observations ``(N, *obs_shape)``; ε-greedy unless ``deterministic``."""
        obs = torch.as_tensor(self._check_observation(observation), device=self.device)
        actions = self.q_net(obs).argmax(dim=1)  # (N,)
        if not deterministic:
            assert self.num_actions is not None
            explore = torch.rand(len(actions), device=self.device) < self.epsilon
            random = torch.randint(self.num_actions, actions.shape, device=self.device)
            actions = torch.where(explore, random, actions)
        return actions.cpu().numpy()

    def experience(self, env_data: EnvDataModule) -> ReplayDataset:
        hp: Any = self.hparams
        if env_data.num_actions != self.num_actions or env_data.observation_shape != self.observation_shape:
            raise ValueError(
                f"{env_data.env_id} has observations {env_data.observation_shape} and {env_data.num_actions} "
                f"actions, but this DQN was built for {self.observation_shape} and {self.num_actions}"
            )
        # the sampling seed comes from torch's generator, so pl.seed_everything decides it too
        seed = int(torch.randint(2**31 - 1, ()).item())
        buffer = ReplayBuffer(hp.buffer_size, self.observation_shape, seed=seed)
        return ReplayDataset(
            self,
            env_data.make_vector_env(),
            buffer,
            batch_size=hp.batch_size,
            steps_per_epoch=hp.steps_per_epoch,
            learning_starts=hp.learning_starts,
            train_freq=hp.train_freq,
            gradient_steps=hp.gradient_steps,
            batches_per_item=self.updates_per_step,
        )

    # --- learning ---
    @torch.no_grad()
    def td_target(self, sample: ReplaySample) -> Tensor:
        """The one-step TD targets ``y`` ``(B,)`` of a batch (see the module docstring)."""
        hp: Any = self.hparams
        next_q = self.target_net(sample.next_observations)  # (B, A): Q(s', ·; θ⁻)
        if hp.double_dqn:
            best = self.q_net(sample.next_observations).argmax(dim=1, keepdim=True)  # (B, 1): θ picks …
            next_value = next_q.gather(1, best).squeeze(1)  # … θ⁻ rates
        else:
            next_value = next_q.max(dim=1).values  # (B,)
        return sample.rewards + hp.gamma * (1.0 - sample.terminated) * next_value

    def update_target(self) -> None:
        """θ⁻ ← τθ + (1 - τ)θ⁻ (a copy when τ = 1)."""
        tau: float = self.hparams["tau"]
        with torch.no_grad():
            for target, online in zip(self.target_net.parameters(), self.q_net.parameters(), strict=True):
                target.lerp_(online, tau)

    def td_loss(self, sample: ReplaySample) -> tuple[Tensor, Tensor]:
        """The loss between Q(s, a; θ) and the TD targets of one batch, and Q(s, a; θ) ``(B,)``."""
        q = self.q_net(sample.observations).gather(1, sample.actions.long().unsqueeze(1)).squeeze(1)  # (B,)
        y = self.td_target(sample)
        loss = F.smooth_l1_loss(q, y) if self.hparams["loss"] == "huber" else F.mse_loss(q, y)
        return loss, q

    def training_step(self, dataloader_iter: Iterator[Any]) -> None:
        hp: Any = self.hparams
        # pulled here, not prefetched: the environment steps before a phase use the latest network
        (samples, episodes), _, _ = next(dataloader_iter)  # samples: (k, B, ...), k <= updates_per_step
        samples = ReplaySample(*(t.to(self.device, non_blocking=True) for t in samples))
        if episodes:
            self.log_episodes(episodes)
        # the target network follows the online one every target_update_interval environment steps;
        # env_steps stands still within a phase, so θ⁻ is fixed for all of a phase's updates
        syncs = self.env_steps // hp.target_update_interval
        if syncs != self._target_syncs:
            self.update_target()
            self._target_syncs = syncs
        optimizer: Any = self.optimizers()
        for i in range(len(samples.rewards)):
            loss, q = self.td_loss(ReplaySample(*(t[i] for t in samples)))  # (B, ...) batch i
            optimizer.zero_grad()
            self.manual_backward(loss)
            if hp.max_grad_norm:  # SB3's DQN clips the norm at 10
                self.clip_gradients(
                    optimizer, gradient_clip_val=hp.max_grad_norm, gradient_clip_algorithm="norm"
                )
            optimizer.step()
        # self.log costs ~1 ms: only where the logger writes, which Lightning counts in training steps
        # (with manual optimisation global_step counts updates, so it cannot tell)
        if self.trainer._logger_connector.should_update_logs:
            self.log("losses/td_loss", loss, prog_bar=True, batch_size=1)
            self.log("losses/q_values", q.mean(), batch_size=1)
            self.log("charts/epsilon", self.epsilon, batch_size=1)

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.q_net.parameters(), lr=self.hparams["lr"])

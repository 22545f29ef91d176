"""Deep RL vs Stable-Baselines3: environment steps and wall time to solve CartPole-v1.

"Solved" = a mean return >= 475 over 20 deterministic evaluation episodes, checked after every epoch of
dltoolkit (DQN: 5,000 env steps; PPO: 10,240) and at the same env-step interval for SB3 (its
EvalCallback). Both sides use rl-baselines3-zoo's tuned CartPole-v1 hyperparameters (read from the
installed rl_zoo3 package's YAML files) and the zoo's step budget; each run uses one torch thread, and
runs may go in parallel processes (``--jobs``): give each its own core for fair wall times.

    python -m benchmarks.rl                          # = dltoolkit bench rl; seeds 0 1 2, one at a time
    python -m benchmarks.rl --jobs 12 --seeds 0 1 2  # on a machine with 12+ free cores
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import quiet_lightning, write_json

ENV_ID = "CartPole-v1"
THRESHOLD = 475.0
EVAL_EPISODES = 20
#: dltoolkit's catalog name -> its env steps per epoch (the evaluation interval, on both sides)
ALGOS = {"dqn": 5_000, "ppo": 10_240}


def zoo_hyperparams(algo: str) -> dict[str, Any]:
    """rl-zoo3's tuned CartPole-v1 hyperparameters for ``algo`` (its hyperparams/<algo>.yml)."""
    import yaml

    spec = importlib.util.find_spec("rl_zoo3")
    if spec is None or spec.origin is None:
        raise RuntimeError("rl_zoo3 is not installed: make installs it (pip install --no-deps rl-zoo3)")
    path = Path(spec.origin).parent / "hyperparams" / f"{algo}.yml"
    params: dict[str, Any] = dict(yaml.safe_load(path.read_text())[ENV_ID])
    return params


def sb3_arguments(params: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    """``(n_envs, n_timesteps, constructor kwargs)`` for SB3 from the zoo's entries, as the zoo reads
    them: ``lin_X`` is a schedule falling linearly from X to 0, ``policy_kwargs`` a ``dict(...)``."""
    kwargs = {k: v for k, v in params.items() if k not in ("n_envs", "n_timesteps", "policy", "normalize")}
    for key, value in list(kwargs.items()):
        if isinstance(value, str) and value.startswith("lin_"):
            start = float(value[4:])
            kwargs[key] = lambda progress_remaining, start=start: progress_remaining * start
    if "policy_kwargs" in kwargs:
        arch = re.fullmatch(r"dict\(net_arch=\[([\d, ]+)\]\)", str(kwargs["policy_kwargs"]).strip())
        if arch is None:
            raise ValueError(f"unexpected policy_kwargs {kwargs['policy_kwargs']!r}")
        kwargs["policy_kwargs"] = {"net_arch": [int(n) for n in arch.group(1).split(",")]}
    return int(params.get("n_envs", 1)), int(float(params["n_timesteps"])), kwargs


def record(
    library: str, algo: str, seed: int, steps: int, seconds: float, best: float, budget: int
) -> dict[str, Any]:
    """One run's result: solved or not within the zoo's budget, and what it took."""
    return {"library": library, "algo": algo, "seed": seed, "solved": best >= THRESHOLD, "env_steps": steps,
            "seconds": seconds, "best_return": best, "budget": budget}  # fmt: skip


def run_sb3(algo: str, seed: int) -> dict[str, Any]:
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    n_envs, budget, kwargs = sb3_arguments(zoo_hyperparams(algo))
    env = make_vec_env(ENV_ID, n_envs=n_envs, seed=seed)
    evaluation = EvalCallback(
        make_vec_env(ENV_ID, n_envs=1, seed=seed + 10_000),
        callback_on_new_best=StopTrainingOnRewardThreshold(reward_threshold=THRESHOLD, verbose=0),
        n_eval_episodes=EVAL_EPISODES, eval_freq=max(1, ALGOS[algo] // n_envs), deterministic=True, verbose=0,
    )  # fmt: skip
    cls = {"dqn": DQN, "ppo": PPO}[algo]
    model = cls("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    start = time.perf_counter()
    model.learn(total_timesteps=budget, callback=evaluation)
    seconds = time.perf_counter() - start
    best = float(evaluation.best_mean_reward)
    return record("sb3", algo, seed, int(model.num_timesteps), seconds, best, budget)


def run_dltoolkit(algo: str, seed: int) -> dict[str, Any]:
    import lightning.pytorch as pl

    from dltoolkit.catalog import create_data, create_model, get_spec

    quiet_lightning()
    budget = int(float(zoo_hyperparams(algo)["n_timesteps"]))
    best = {"return": -math.inf}

    class StopWhenSolved(pl.Callback):
        def on_validation_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
            if trainer.sanity_checking:  # the untrained policy (SB3 does not evaluate it either)
                return
            value = float(trainer.callback_metrics.get("eval/return", -math.inf))
            best["return"] = max(best["return"], value)
            if value >= THRESHOLD:
                trainer.should_stop = True

    spec = get_spec(algo)
    pl.seed_everything(seed, verbose=False)
    data = create_data(spec.data, seed=seed, **spec.data_hparams)
    model = create_model(algo, data=data, eval_episodes=EVAL_EPISODES, steps_per_epoch=ALGOS[algo])
    trainer = pl.Trainer(
        max_epochs=math.ceil(budget / ALGOS[algo]), accelerator="cpu", logger=False,
        callbacks=[StopWhenSolved()], enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(model, data)
    seconds = time.perf_counter() - start
    return record("dltoolkit", algo, seed, int(model.env_steps), seconds, best["return"], budget)


def _run(job: tuple[str, str, int]) -> dict[str, Any]:
    library, algo, seed = job
    return (run_sb3 if library == "sb3" else run_dltoolkit)(algo, seed)


def _spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def main(argv: list[str] | None = None) -> int:
    from dltoolkit.cli import print_table

    ap = argparse.ArgumentParser(prog="dltoolkit bench rl", description=__doc__.split("\n")[0])
    ap.add_argument("--algos", nargs="*", default=list(ALGOS), choices=list(ALGOS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--libraries", nargs="*", default=["dltoolkit", "sb3"], choices=["dltoolkit", "sb3"])
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (one core each)")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/rl.json)")
    args = ap.parse_args(argv)
    if args.jobs < 1 or not args.seeds:
        ap.error("--jobs must be positive and --seeds not empty")
    jobs = [(lib, algo, seed) for algo in args.algos for seed in args.seeds for lib in args.libraries]
    start = time.monotonic()
    if args.jobs == 1:
        records = [_run(job) for job in jobs]
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            records = list(pool.map(_run, jobs))
    rows = []
    for algo in args.algos:
        for lib in args.libraries:
            mine = [r for r in records if r["algo"] == algo and r["library"] == lib]
            solved = [r for r in mine if r["solved"]]
            rows.append({
                "algo": algo, "library": lib, "solved": f"{len(solved)}/{len(mine)}",
                "env steps to solve, median (min-max)": _spread([r["env_steps"] for r in solved], ",.0f"),
                "seconds, median (min-max)": _spread([r["seconds"] for r in solved], ".0f"),
                "best eval return per seed": " / ".join(f"{r['best_return']:.0f}" for r in mine),
            })  # fmt: skip
    print(f"{ENV_ID}: solved = mean return >= {THRESHOLD:.0f} over {EVAL_EPISODES} deterministic episodes; "
          "rl-zoo3 hyperparameters and budgets on both sides; 1 torch thread per run")  # fmt: skip
    print_table(rows, list(rows[0]))
    path = write_json(
        "rl", {"records": records, "seconds": time.monotonic() - start, "args": vars(args)}, args.out
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""DDP on the CPU (gloo), two processes: the same result as one process with the same global batch, and
the CLI's `--trainer.strategy ddp --trainer.devices 2` (DDP starts its second process by re-running the
command line, which the CLI must leave as typed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Lightning gives DDP's training loader a DistributedSampler(shuffle=True, seed=PL_GLOBAL_SEED): rank r
# takes every other index of one seeded permutation, so the two processes' batches of 32 together are the
# same 64 samples as one process reading that permutation in batches of 64 (1,294 training digits: even,
# so no index is padded). The reference run reads it through the same sampler with one replica.
SCRIPT = """
import sys
import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler
from dltoolkit import create_data, create_model

devices, batch, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pl.seed_everything(0, verbose=False)
data = create_data("digits", batch_size=batch)
# no batch norm, no dropout: nothing that depends on the per-process batch or on a process's random stream
model = create_model("mlp", data=data, hidden_sizes=[32], batch_norm=False, dropout=0.0, lr=0.01)
if devices == 1:
    data.setup("fit")
    sampler = DistributedSampler(data.train_set, num_replicas=1, rank=0, shuffle=True, seed=0)
    data.train_dataloader = lambda: DataLoader(data.train_set, batch_size=batch, sampler=sampler)
trainer = pl.Trainer(
    accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", max_epochs=2,
    logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
)
trainer.fit(model, data)
if trainer.global_rank == 0:
    torch.save({"steps": trainer.global_step, "world": trainer.world_size, "state": model.state_dict()}, out)
"""


def train(tmp_path: Path, devices: int, batch: int) -> dict:  # type: ignore[type-arg]
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"weights-{devices}.pt"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    res = subprocess.run(
        [sys.executable, str(script), str(devices), str(batch), str(out)],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    saved: dict = torch.load(out, weights_only=False)  # type: ignore[type-arg]
    return saved


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path: Path) -> None:
    single = train(tmp_path, devices=1, batch=64)
    ddp = train(tmp_path, devices=2, batch=32)  # 2 processes x 32 = the same global batch of 64
    assert ddp["world"] == 2 and single["world"] == 1
    # one process with batch 32 would take twice the steps: equal steps say the two shared each batch
    assert ddp["steps"] == single["steps"] == 2 * 21
    for key, value in single["state"].items():
        gap = float((value - ddp["state"][key]).abs().max())
        assert torch.allclose(value, ddp["state"][key], atol=1e-5, rtol=1e-4), (key, gap)


@pytest.mark.slow
def test_the_cli_runs_ddp_with_two_processes(tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "dltoolkit.cli", "fit", "--model", "mlp", "--model.hidden_sizes", "[16]",
        "--trainer.max_steps", "3", "--trainer.accelerator", "cpu", "--trainer.strategy", "ddp",
        "--trainer.devices", "2", "--trainer.enable_progress_bar", "false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "MEMBER: 2/2" in res.stderr + res.stdout  # the second process joined
    (checkpoint,) = (tmp_path / "lightning_logs" / "version_0" / "checkpoints").glob("*.ckpt")
    assert torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"] == 3

"""Eight real runs launched at once into one runs root: all finish, all are listed, and every run's
``metrics.csv`` holds exactly the rows its config implies (none lost, none duplicated)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from dltoolkit.runs import FINAL_STATES, launch, list_runs

N_RUNS = 8
EPOCHS, TRAIN_BATCHES, VAL_BATCHES = 2, 5, 2
TRAINER = {
    "max_epochs": EPOCHS,
    "limit_train_batches": TRAIN_BATCHES,
    "limit_val_batches": VAL_BATCHES,
    "log_every_n_steps": 1,
}
# eight Python processes importing torch and Lightning on a loaded 2-core machine
DEADLINE_S = 240.0


def expected_rows() -> Counter[tuple[int, int, str]]:
    """``(epoch, step, metric)`` -> count, from the config: ``train/loss`` at every step, and at each
    epoch's last step one ``val/*`` row and one ``train/acc`` + ``train/loss_epoch`` row."""
    rows: Counter[tuple[int, int, str]] = Counter()
    for epoch in range(EPOCHS):
        for step in range(epoch * TRAIN_BATCHES, (epoch + 1) * TRAIN_BATCHES):
            rows[(epoch, step, "train/loss")] += 1
        last = (epoch + 1) * TRAIN_BATCHES - 1
        for name in ("val/loss", "val/acc", "train/loss_epoch", "train/acc"):
            rows[(epoch, last, name)] += 1
    return rows


@pytest.mark.slow
def test_eight_runs_at_once_all_finish_with_every_metric_row_once(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    runs = [
        launch("mlp", model_args={"hidden_sizes": [8]}, trainer_args=TRAINER, seed=i, runs_root=root)
        for i in range(N_RUNS)
    ]
    try:
        assert len({r.run_id for r in runs}) == N_RUNS
        deadline = time.monotonic() + DEADLINE_S
        pending = list(runs)
        while pending and time.monotonic() < deadline:
            # a reader polling all of them while they write, as a dashboard would
            for run in list(pending):
                run.metrics()
                if run.status()["state"] in FINAL_STATES and not run.is_alive():
                    pending.remove(run)
            time.sleep(0.2)
        assert not pending, {r.run_id: (r.status()["state"], r.logs(20)) for r in pending}

        for run in runs:
            status = run.status()
            assert status["state"] == "finished", run.logs(40)
            assert (status["epoch"], status["step"]) == (EPOCHS, EPOCHS * TRAIN_BATCHES)

        listed = list_runs(root)
        assert sorted(r.run_id for r in listed) == sorted(r.run_id for r in runs)
        assert all(r.status()["state"] == "finished" for r in listed)

        want = expected_rows()
        for run in runs:
            rows = run.metrics()
            got: Counter[tuple[int, int, str]] = Counter(
                (int(row["epoch"]), int(row["step"]), name)
                for row in rows
                for name in row
                if name not in ("epoch", "step", "time")  # a wall-clock column is no metric
            )
            assert got == want, (run.run_id, got - want, want - got)
            # one CSV row per logging call: the train/loss rows, a val row and a train-epoch row per epoch
            assert len(rows) == EPOCHS * (TRAIN_BATCHES + 2)
            losses = [row["step"] for row in rows if "train/loss" in row]
            assert losses == list(range(EPOCHS * TRAIN_BATCHES))
            assert run.last_checkpoint.is_file()
    finally:
        for run in runs:  # never leave a trainer behind
            if run.is_alive() and run.pid:
                os.killpg(run.pid, signal.SIGKILL)


def test_expected_rows_match_the_config() -> None:
    want = expected_rows()
    assert sum(want.values()) == EPOCHS * (TRAIN_BATCHES + 4)
    assert want[(1, 9, "val/loss")] == 1 and want[(0, 0, "train/loss")] == 1

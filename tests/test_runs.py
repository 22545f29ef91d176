"""Run folders with real training processes: launch, watch, stop, resume, kill, crash.

The runs are launched together by one module fixture (they train in parallel), then each test drives one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dltoolkit.runs import Run, launch, list_runs, make_run_id, resolve_runs_root, validate_run_id
from dltoolkit.runs.metrics import MetricsTail

TINY = {"hidden_sizes": [16]}
SHORT = {"max_epochs": 2, "limit_train_batches": 5, "limit_val_batches": 2}
AGENT = {"hidden_sizes": [8], "n_steps": 16, "steps_per_epoch": 256, "eval_episodes": 2}
# runs until stopped: many short epochs
LONG = {"max_epochs": 1000, "limit_train_batches": 5, "limit_val_batches": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    root = tmp_path_factory.mktemp("runs")
    missing = tmp_path_factory.mktemp("data") / "not-there"
    launched = {
        "short": launch("mlp", model_args=TINY, trainer_args=SHORT, runs_root=root),
        "stop": launch("mlp", "digits", model_args=TINY, trainer_args=LONG, seed=1, runs_root=root),
        "kill": launch("mlp", model_args=TINY, trainer_args=LONG, seed=2, runs_root=root),
        "loggers": launch(
            "mlp",
            model_args=TINY,
            trainer_args=SHORT,
            loggers=["tensorboard", "mlflow"],
            seed=3,
            runs_root=root,
        ),
        "crash": launch("mlp", "mnist", data_args={"root": str(missing)}, trainer_args=SHORT, runs_root=root),
        # an agent, launched as the sidebar launches it
        "agent": launch("ppo", model_args=AGENT, trainer_args={"max_epochs": 2}, runs_root=root),
    }
    yield launched
    for run in launched.values():  # never leave a trainer behind
        if run.is_alive() and run.pid:
            os.killpg(run.pid, signal.SIGKILL)


def test_run_ids_are_validated(tmp_path: Path) -> None:
    run_id = make_run_id("dltoolkit.models.mlp.MLP", "digits", 3)
    assert run_id.startswith("MLP__digits__3__") and validate_run_id(run_id) == run_id
    for bad in ["..", "../x", "/etc", "a/b", "a\\b", "", ".hidden", "x" * 161, "a b", "a..b"]:
        with pytest.raises(ValueError):
            validate_run_id(bad)
        with pytest.raises(ValueError):
            Run(bad, tmp_path)
    with pytest.raises(FileNotFoundError):
        Run("nothing_here", tmp_path).status()


def test_runs_root_from_argument_env_or_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLTOOLKIT_RUNS", str(tmp_path / "env"))
    assert resolve_runs_root() == tmp_path / "env"
    assert resolve_runs_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("DLTOOLKIT_RUNS")
    monkeypatch.chdir(tmp_path)
    assert resolve_runs_root() == tmp_path / "dltoolkit-runs"


def test_launch_runs_to_finished_while_status_is_read(runs: dict[str, Run]) -> None:
    run = runs["short"]
    assert run.status()["state"] in ("queued", "running", "finished")
    reads, states = 0, set()
    while run.is_alive():  # status.json is replaced atomically: every read parses
        text = run.status_path.read_text()
        states.add(json.loads(text)["state"])
        reads += 1
    status = run.wait(timeout=90)
    assert reads > 10 and "running" in states | {status["state"]}
    assert status["state"] == "finished", run.logs(40)
    assert (status["epoch"], status["max_epochs"], status["step"], status["total_steps"]) == (2, 2, 10, 10)
    assert status["best"]["metric"] == "val/loss" and status["pid"] == run.pid
    rows = run.metrics()
    assert [r["epoch"] for r in rows if "val/acc" in r] == [0, 1]
    assert {"train/loss_epoch", "train/acc"} <= set(rows[-1]) | set(rows[-2])
    assert run.metrics(since=len(rows) - 1) == rows[-1:]
    assert (run.path / "checkpoints" / "last.ckpt").is_file()
    assert "class_path: dltoolkit.models.mlp.MLP" in run.config_path.read_text()
    assert "max_epochs=2` reached" in run.logs(tail=5)


def test_an_agent_run_finishes_with_its_return_and_a_loadable_checkpoint(runs: dict[str, Run]) -> None:
    run = runs["agent"]
    status = run.wait(timeout=120)
    assert status["state"] == "finished", run.logs(40)
    assert status["best"]["metric"] == "eval/return" and status["best"]["value"] >= 8  # CartPole: >= 8 steps
    assert [r["epoch"] for r in run.metrics() if "eval/return" in r] == [0, 1]
    agent, data = run.load()
    assert type(agent).__name__ == "PPO" and agent.env_id == "CartPole-v1" == data.env_id
    assert agent.env_steps == 512  # restored from the checkpoint: 2 epochs x 256 steps
    assert agent.evaluate(episodes=2)["return_mean"] >= 8


def test_metrics_skip_a_partly_written_last_line(tmp_path: Path) -> None:
    run = Run("m__d__0__20260101-000000-abcd", tmp_path)
    run.path.mkdir()
    run.metrics_path.write_text("epoch,step,val/acc\n0,4,0.5\n1,9,0.")
    assert run.metrics() == [{"epoch": 0, "step": 4, "val/acc": 0.5}]


def test_stop_writes_last_checkpoint_and_resume_continues(
    runs: dict[str, Run], poll: Callable[..., Any]
) -> None:
    run = runs["stop"]
    poll(lambda: run.status().get("epoch", 0) >= 1)
    with pytest.raises(RuntimeError):
        run.delete()
    with pytest.raises(RuntimeError):
        run.resume()
    status = run.stop(timeout=60)
    assert status["state"] == "stopped", run.logs(40)
    import torch

    # the stop itself wrote last.ckpt (trusted file of our own: a full Lightning checkpoint)
    ckpt = torch.load(run.last_checkpoint, map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == status["step"] > 0
    seen = len(run.metrics())
    run.resume(trainer_args={"max_epochs": status["epoch"] + 2})
    status = run.wait(timeout=90)
    assert status["state"] == "finished", run.logs(40)
    new_rows = run.metrics(since=seen)
    assert new_rows and min(r["epoch"] for r in new_rows) >= ckpt["epoch"]  # continued, not restarted
    assert min(r["step"] for r in new_rows) >= ckpt["global_step"]
    assert "Restoring states from the checkpoint" in run.logs(tail=None)


def test_sigkill_is_interrupted_and_resumes_past_a_partial_checkpoint(
    runs: dict[str, Run], poll: Callable[..., Any]
) -> None:
    run = runs["kill"]
    poll(lambda: run.last_checkpoint.is_file() and run.status().get("epoch", 0) >= 1)
    assert run.pid is not None
    os.killpg(run.pid, signal.SIGKILL)
    poll(lambda: run.status()["state"] == "interrupted")
    # what a kill during a checkpoint save leaves: a partial temporary file, never a *.ckpt
    partial = run.path / "checkpoints" / ".last.ckpt.12345.part"
    partial.write_bytes(b"PK\x03\x04 truncated")
    epoch = run.status()["epoch"]
    run.resume(trainer_args={"max_epochs": epoch + 2})
    status = run.wait(timeout=90)
    assert status["state"] == "finished", run.logs(40)
    assert not partial.exists()


def test_a_crash_is_failed_with_the_error(runs: dict[str, Run]) -> None:
    run = runs["crash"]
    status = run.wait(timeout=90)
    assert status["state"] == "failed"
    assert "not-there" in status["error"] or "FileNotFoundError" in status["error"], status


def test_list_runs_newest_first_and_delete(runs: dict[str, Run]) -> None:
    listed = list_runs(runs["short"].runs_root)
    assert set(listed) == set(runs.values())
    stamps = [r.run_id.rsplit("__", 1)[1].rsplit("-", 1)[0] for r in listed]  # YYYYmmdd-HHMMSS
    assert stamps == sorted(stamps, reverse=True)
    runs["crash"].wait(timeout=90)
    runs["crash"].delete()
    assert not runs["crash"].path.exists()
    assert runs["crash"] not in list_runs(runs["short"].runs_root)


def test_atomic_checkpoint_keeps_the_previous_file_when_a_save_dies(tmp_path: Path) -> None:
    from dltoolkit.runs.callbacks import AtomicModelCheckpoint

    last = tmp_path / "last.ckpt"
    last.write_bytes(b"the previous, complete checkpoint")

    class DyingTrainer:
        is_global_zero = True
        global_step = 7
        loggers: list[Any] = []

        def save_checkpoint(self, path: str, weights_only: bool = False) -> None:
            Path(path).write_bytes(b"half of a")
            raise KeyboardInterrupt  # killed mid-write

    cb = AtomicModelCheckpoint(dirpath=tmp_path, save_last=True)
    with pytest.raises(KeyboardInterrupt):
        cb._save_checkpoint(DyingTrainer(), str(last))  # type: ignore[arg-type]
    assert last.read_bytes() == b"the previous, complete checkpoint"
    assert [p.name for p in tmp_path.glob("*.ckpt")] == ["last.ckpt"]


def test_stopping_a_run_that_is_still_starting(tmp_path: Path) -> None:
    run = launch("mlp", model_args=TINY, trainer_args=SHORT, runs_root=tmp_path)
    assert run.stop(timeout=60)["state"] == "stopped"
    assert not run.is_alive() and not run.last_checkpoint.exists()
    # nothing trained, nothing to continue from: resume starts it again in the same folder
    status = run.resume().wait(timeout=90)
    assert status["state"] == "finished" and status["step"] == 10, run.logs(40)
    assert [r["epoch"] for r in run.metrics() if "val/acc" in r] == [0, 1]


def test_tensorboard_and_mlflow_loggers_when_asked(runs: dict[str, Run]) -> None:
    run = runs["loggers"]
    assert run.wait(timeout=120)["state"] == "finished", run.logs(40)
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    csv_val = [r["val/acc"] for r in run.metrics() if "val/acc" in r]
    events = EventAccumulator(str(run.path / "tensorboard")).Reload()
    assert [e.value for e in events.Scalars("val/acc")] == pytest.approx(csv_val)
    client = MlflowClient(f"sqlite:///{run.path / 'mlflow.db'}")
    (mlflow_run,) = client.search_runs([client.get_experiment_by_name("dltoolkit").experiment_id])
    assert mlflow_run.info.run_name == run.run_id and "hidden_sizes" in mlflow_run.data.params
    history = client.get_metric_history(mlflow_run.info.run_id, "val/acc")
    assert [m.value for m in history] == pytest.approx(csv_val)
    before = sorted(p.name for p in run.runs_root.iterdir())
    with pytest.raises(ValueError, match="unknown logger"):
        launch("mlp", loggers=["wandb"], runs_root=run.runs_root)
    assert sorted(p.name for p in run.runs_root.iterdir()) == before  # the refused launch left nothing


def test_status_is_written_once_per_change_at_epoch_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning.pytorch as pl

    from dltoolkit import catalog
    from dltoolkit.runs import callbacks

    written: list[dict[str, Any]] = []
    monkeypatch.setattr(callbacks, "write_json_atomic", lambda path, status: written.append(status))
    data = catalog.create_data("digits")
    model = catalog.create_model("mlp", data=data, hidden_sizes=[8])
    status_cb = callbacks.RunStatusCallback(tmp_path, min_interval=1e9)  # only the forced writes
    trainer = pl.Trainer(
        max_epochs=3, limit_train_batches=2, limit_val_batches=1, callbacks=[status_cb],
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, data)
    # setup, train start (total known), then one write per epoch (validation and epoch end merged), final
    assert [(s["state"], s["epoch"], s["step"]) for s in written] == [
        ("running", 0, 0), ("running", 0, 0), ("running", 0, 2), ("running", 1, 4), ("running", 2, 6),
        ("finished", 3, 6),
    ]  # fmt: skip
    assert written[0]["total_steps"] is None and written[1]["total_steps"] == 6


def test_an_agent_run_reports_its_evaluation_return(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lightning.pytorch as pl

    from dltoolkit import catalog
    from dltoolkit.runs import callbacks

    written: list[dict[str, Any]] = []
    monkeypatch.setattr(callbacks, "write_json_atomic", lambda path, status: written.append(status))
    data = catalog.create_data("cartpole", num_envs=2)
    agent = catalog.create_model(
        "ppo", data=data, hidden_sizes=[8], n_steps=16, steps_per_epoch=64, eval_episodes=2
    )
    trainer = pl.Trainer(
        max_epochs=2, callbacks=[callbacks.RunStatusCallback(tmp_path, min_interval=1e9)], logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(agent, data)
    best = written[-1]["best"]  # no val/ metric: the sidebar shows the evaluation return instead
    assert best["metric"] == "eval/return" and best["value"] == float(trainer.callback_metrics["eval/return"])


def whole_file(run: Run) -> list[dict[str, float]]:
    """metrics.csv parsed with csv.DictReader, all of it, as a reference (complete lines only)."""
    text = run.metrics_path.read_text() if run.metrics_path.exists() else ""
    rows = []
    for raw in csv.DictReader(io.StringIO(text[: text.rfind("\n") + 1])):
        rows.append({k: int(float(v)) if k in ("epoch", "step") else float(v) for k, v in raw.items() if v})
    return rows


def test_metrics_tail_reads_only_what_was_appended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read parses the lines appended since the last one (not the whole metrics.csv), and still gives
    the rows of a plain csv parse of the whole file, through CSVLogger's rewrites (a new column; one
    read half-written), a line being written, and a resume that restarted (the file deleted, then
    written anew: rows start over)."""
    from dltoolkit.runs.callbacks import RunCSVLogger

    run = Run("mlp__digits__0__20250101-000000-abcd", tmp_path)
    run.path.mkdir(parents=True)
    tail = MetricsTail(run.metrics_path)
    parsed: list[int] = []  # rows parsed by each read
    parse = tail._parse
    monkeypatch.setattr(
        tail, "_parse", lambda data, cols: parsed.append(data.count(b"\n")) or parse(data, cols)
    )
    assert tail.read() is None  # no file yet
    logger = RunCSVLogger(run.path)
    for step in range(2000):
        logger.log_metrics({"train/loss": 1 / (step + 1), "epoch": step // 20}, step=step)
    assert tail.read() == (whole_file(run), False) and parsed == [2000]
    assert tail.read() is None  # unchanged: nothing read
    logger.log_metrics({"train/loss": 0.5, "epoch": 100}, step=2000)
    assert tail.read() == (whole_file(run)[-1:], False) and parsed[-1] == 1  # one line, not 2001
    logger.log_metrics({"val/acc": 0.9, "epoch": 100}, step=2000)  # a new column: the file is rewritten
    assert tail.read() == (whole_file(run)[-1:], False) and "val/acc" in tail.rows[-1]
    assert tail.rows == whole_file(run)
    # a rewrite read while under way (a new header, not all the rows yet): nothing until it is complete
    known, text = whole_file(run), run.metrics_path.read_bytes()
    header, body = text.split(b"\n", 1)
    rewritten = header.replace(b"\r", b",test/acc\r\n") + body.replace(b"\r\n", b",\r\n")
    with run.metrics_path.open("r+b") as f:  # its rows but the last, and a long line being written
        f.write(rewritten[: rewritten.rfind(b"\n", 0, -1) + 1] + b"0," * 50_000)
    assert tail.read() is None and tail.rows == known
    run.metrics_path.write_bytes(rewritten)
    assert tail.read() == ([], False) and tail.rows == whole_file(run) == known
    with run.metrics_path.open("a") as f:  # a line being written is read once it is complete
        f.write("101,2001,")
        f.flush()
        assert tail.read() == ([], False)
        f.write("1.5,,\r\n")
    assert tail.read() == (whole_file(run)[-1:], False) and tail.rows == whole_file(run)
    run.metrics_path.unlink()  # a resume that restarted: no rows, then new ones from step 0
    assert tail.read() == ([], True) and tail.rows == []
    RunCSVLogger(run.path).log_metrics({"train/loss": 2.0, "epoch": 0}, step=0)
    assert tail.read() == (whole_file(run), False) and len(tail.rows) == 1
    assert run.metrics() == whole_file(run) and run.metrics(since=1) == []

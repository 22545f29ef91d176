"""Notebook dashboards: what TrainingDashboard captures and sends (only new rows: a message costs the same
however long the history), RunsPanel on real run folders, and a Stop click reaching a real kernel while
the training cell runs.

The front-end messages are sent the way a front end's comm messages arrive (``widget._handle_msg`` with
the ipywidgets protocol), or, in the kernel test, as real ``comm_msg`` messages on the shell channel.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from dltoolkit.catalog import create_data, create_model
from dltoolkit.dashboards import RunsPanel, TrainingDashboard
from dltoolkit.runs import Run, launch

TINY = {"hidden_sizes": [16]}
SHORT = {"max_epochs": 2, "limit_train_batches": 5, "limit_val_batches": 2}
LONG = {"max_epochs": 1000, "limit_train_batches": 5, "limit_val_batches": 2}
QUIET = {"accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False}


def front_end_update(widget: Any, **state: Any) -> None:
    """What a front end's ``model.set(...); model.save_changes()`` delivers to the kernel."""
    data = {"method": "update", "state": state, "buffer_paths": []}
    widget._handle_msg({"content": {"data": data}, "buffers": []})


def front_end_send(widget: Any, content: dict[str, Any]) -> None:
    """What a front end's ``model.send(content)`` delivers to the kernel."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def record_sends(widget: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The custom messages ``widget`` sends to the front end from now on (``widget.send``), in order."""
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(widget, "send", lambda content, buffers=None: sent.append(content))
    return sent


def front_end_rows(messages: list[dict[str, Any]]) -> list[dict[str, float]]:
    """The rows a front end has after these messages (what training_dashboard.ts does with them); fails
    on a message that would leave a gap."""
    generation, rows = -1, []
    for m in messages:
        if m.get("type") not in ("rows", "snapshot") or m["generation"] < generation:
            continue
        if m["generation"] != generation:
            generation, rows = m["generation"], []
        if m["type"] == "snapshot":
            rows = list(m["rows"])
        else:
            assert m["offset"] <= len(rows), (m["offset"], len(rows))
            rows += m["rows"][len(rows) - m["offset"] :]
    return rows


@pytest.fixture(scope="module")
def digits() -> Any:
    dm = create_data("digits")
    dm.setup("fit")
    return dm


def tiny_model(dm: Any) -> pl.LightningModule:
    pl.seed_everything(0, verbose=False)
    return create_model("mlp", data=dm, **TINY)


# --- the package --------------------------------------------------------------------------------------


def test_dashboards_package_and_runs_panel_import_no_torch() -> None:
    code = (
        "import sys, dltoolkit.dashboards, dltoolkit.dashboards.runs\n"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_missing_front_end_says_how_to_build_it() -> None:
    from dltoolkit.dashboards._assets import asset

    assert asset("training_dashboard.js").is_file() and asset("runs_panel.css").is_file()
    with pytest.raises(FileNotFoundError, match=r"Run `make`.*npm run build"):
        asset("no_such_dashboard.js")


# --- TrainingDashboard --------------------------------------------------------------------------------


def read_csv_rows(path: Path) -> list[dict[str, float]]:
    with path.open() as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def test_rows_are_what_a_csv_logger_gets(
    digits: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dash = TrainingDashboard()
    sent = record_sends(dash.widget, monkeypatch)
    logger = CSVLogger(tmp_path)
    trainer = pl.Trainer(
        **SHORT, **QUIET, log_every_n_steps=1, logger=logger, callbacks=[dash], default_root_dir=tmp_path
    )
    trainer.fit(tiny_model(digits), digits)
    expected = read_csv_rows(Path(logger.log_dir) / "metrics.csv")
    rows = dash.rows
    assert all(isinstance(r.pop("time"), float) for r in rows)  # the wall-clock column, as run folders have
    assert rows == expected  # same rows, same steps, same values (CSV writes floats exactly)
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "train/loss_epoch"} <= set().union(*rows)
    assert [r["step"] for r in rows if "val/acc" in r] == [4, 9]
    # what the front end gets: the rows, each once, in messages of the new ones (not a trait: no history
    # re-sent), and all of them again when a view asks; the Trainer as it was: loggers, checkpoint folder
    assert "rows" not in dash.widget.keys
    pieces = [m for m in sent if m["type"] == "rows"]
    assert [m["offset"] for m in pieces] == [0, *itertools.accumulate(len(m["rows"]) for m in pieces[:-1])]
    assert front_end_rows(sent) == dash.rows and all(m["generation"] == 1 for m in pieces)
    front_end_send(dash.widget, {"type": "snapshot"})
    assert sent[-1] == {"type": "snapshot", "generation": 1, "rows": dash.rows}
    assert trainer.loggers == [logger]
    assert trainer.checkpoint_callback.dirpath == os.path.join(logger.log_dir, "checkpoints")
    assert dash.state == "finished" and dash.checkpoint and Path(dash.checkpoint).is_file()
    progress = dash.widget.progress
    assert (progress["step"], progress["total_steps"], progress["max_epochs"]) == (10, 10, 2)
    assert dash.widget.hparams["hidden_sizes"] == [16] and dash.widget.title == "MLP · DigitsDataModule"
    # a test run afterwards adds its metrics; its state returns to the fit's
    trainer.test(trainer.lightning_module, digits, verbose=False)
    assert "test/acc" in dash.rows[-1] and dash.state == "finished"
    assert trainer.loggers == [logger]


def test_without_a_logger_the_trainer_keeps_its_folders(digits: Any, tmp_path: Path) -> None:
    dash = TrainingDashboard()
    seen: dict[str, Any] = {}

    class Probe(pl.Callback):
        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            seen.update(log_dir=trainer.log_dir, loggers=list(trainer.loggers))

    trainer = pl.Trainer(**SHORT, **QUIET, logger=False, callbacks=[dash, Probe()], default_root_dir=tmp_path)
    trainer.fit(tiny_model(digits), digits)
    assert seen["log_dir"] == str(tmp_path)  # as without the dashboard's logger
    assert trainer.checkpoint_callback.dirpath == str(tmp_path / "checkpoints")
    assert trainer.loggers == []
    assert [r["step"] for r in dash.rows if "val/loss" in r] == [4, 9]


def test_a_message_costs_the_same_after_5000_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows logged 50 at a time, each batch followed by an update (what a tick does): every message holds
    the new rows only, so the last one is the size of the first (with the rows re-sent as a trait, the
    100th was 100 times the first: ~0.5 MB at 5,000 rows, ~4.5 MB at 46,000 in a real kernel)."""
    dash = TrainingDashboard()
    sent = record_sends(dash.widget, monkeypatch)
    trainer = pl.Trainer(**QUIET, logger=False)  # (not fitting: no progress, only rows are sent)
    for i in range(5000):
        loss = 2.0 / (i + 1) + 1e-4 * (i % 7)
        dash._logger.log_metrics({"train/loss": loss, "train/acc": 0.1 + i / 6000, "epoch": i // 23}, step=i)
        if i % 50 == 49:
            dash._sync(trainer, "now")
    sizes = [len(json.dumps(m)) for m in sent]
    assert len(sizes) == 100 and all(m["type"] == "rows" and len(m["rows"]) == 50 for m in sent)
    assert max(sizes[-10:]) < 1.1 * min(sizes[:10]), (sizes[:10], sizes[-10:])  # (longer step numbers)
    assert front_end_rows(sent) == dash.rows and len(dash.rows) == 5000
    # a view that opens (or a reloaded page) asks for every row; the next update sends only new ones
    front_end_send(dash.widget, {"type": "snapshot"})
    assert sent[-1]["type"] == "snapshot" and sent[-1]["rows"] == dash.rows
    dash._logger.log_metrics({"train/loss": 0.01}, step=5000)
    dash._sync(trainer, "now")
    assert sent[-1] == {"type": "rows", "generation": 0, "offset": 5000, "rows": dash.rows[-1:]}
    dash._sync(trainer, "now")  # nothing new: nothing sent
    assert len(sent) == 102


def test_stop_ends_the_epoch_validates_and_checkpoints(digits: Any, tmp_path: Path) -> None:
    dash = TrainingDashboard()

    class ClickStopAtStep7(pl.Callback):
        def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
            if trainer.global_step == 7:
                front_end_update(dash.widget, stop_requested=True)

    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    trainer = pl.Trainer(
        **LONG, **QUIET, logger=False, callbacks=[dash, ClickStopAtStep7(), checkpoint],
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(tiny_model(digits), digits)
    assert dash.state == "stopped" and dash.widget.state == "stopped"
    # the step ended, then the epoch (the second: 2 epochs done), 3 steps early
    assert trainer.global_step == 7 and trainer.current_epoch == 2
    assert [r["step"] for r in dash.rows if "val/loss" in r] == [4, 6]  # validation ran at the stop
    last = tmp_path / "ckpt" / "last.ckpt"
    assert dash.checkpoint == str(last)
    ckpt = torch.load(last, map_location="cpu", weights_only=False)  # our own file: a full checkpoint
    assert ckpt["global_step"] == 7


def test_fit_builds_a_trainer_and_a_new_fit_starts_new_curves(
    digits: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dash = TrainingDashboard(title="tiny mlp")
    sent = record_sends(dash.widget, monkeypatch)
    model = tiny_model(digits)
    kwargs = {**QUIET, "limit_train_batches": 3, "limit_val_batches": 1, "default_root_dir": tmp_path}
    trainer = dash.fit(model, digits, max_epochs=2, logger=False, **kwargs)
    assert isinstance(trainer, pl.Trainer) and dash in trainer.callbacks
    assert trainer.max_epochs == 2 and trainer.global_step == 6 and dash.state == "finished"
    assert dash.widget.title == "tiny mlp" and dash.widget.generation == 1
    steps = [r["step"] for r in dash.rows if "val/acc" in r]
    assert steps == [2, 5]
    first = len(sent)
    dash.fit(model, digits, max_steps=2, logger=False, **kwargs)  # max_epochs default not forced
    assert dash.widget.generation == 2 and all(r["step"] <= 2 for r in dash.rows)
    assert sent[first]["generation"] == 2 and sent[first]["offset"] == 0  # its rows start over
    assert front_end_rows(sent) == dash.rows


def test_a_failing_fit_shows_the_error(digits: Any, tmp_path: Path) -> None:
    dash = TrainingDashboard()

    class Boom(pl.Callback):
        def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
            raise ValueError("exploding gradient")

    with pytest.raises(ValueError, match="exploding"):
        dash.fit(tiny_model(digits), digits, logger=False, callbacks=[Boom()], default_root_dir=tmp_path)
    assert dash.state == "failed" and dash.widget.error == "ValueError: exploding gradient"


# --- RunsPanel ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Run, Run]]:
    root = tmp_path_factory.mktemp("panel-runs")
    short = launch("mlp", model_args=TINY, trainer_args=SHORT, runs_root=root)
    long = launch("mlp", model_args=TINY, trainer_args=LONG, seed=1, runs_root=root)
    yield root, short, long
    for run in (short, long):
        if run.path.exists() and run.is_alive() and run.pid:
            os.killpg(run.pid, signal.SIGKILL)


def test_runs_panel_follows_a_run_and_sends_only_new_rows(
    panel_runs: tuple[Path, Run, Run], monkeypatch: pytest.MonkeyPatch, poll: Callable[..., Any]
) -> None:
    root, short, _ = panel_runs
    sent: list[dict[str, Any]] = []  # what goes to the front end
    monkeypatch.setattr(RunsPanel, "send", lambda self, content, buffers=None: sent.append(content))
    panel = RunsPanel(root, poll=0.1)
    try:
        assert panel.runs_root == str(root)
        assert {r["run_id"] for r in panel.runs} == {short.run_id, panel_runs[2].run_id}

        def finished() -> dict[str, Any] | None:
            status = next(r for r in panel.runs if r["run_id"] == short.run_id)
            return status if status["state"] == "finished" and panel.rows(short.run_id) else None

        status = poll(finished)
        assert (status["model"], status["data"], status["seed"]) == ("mlp", "digits", "0")
        assert status["step"] == status["total_steps"] == 10 and "traceback" not in status
        assert status["command"] == short.command()
        poll(lambda: len(panel.rows(short.run_id)) == len(short.metrics()))
        assert panel.rows(short.run_id) == short.metrics()
        # the rows messages of this run, in order and without gaps, add up to the same rows
        pieces = [m for m in sent if m["type"] == "rows" and m["run_id"] == short.run_id]
        joined: list[dict[str, float]] = []
        for piece in pieces:
            if piece["reset"]:
                joined.clear()
            assert piece["offset"] == len(joined)
            joined += piece["rows"]
        assert joined[-len(short.metrics()) :] == short.metrics()
        # a view that opens asks for everything
        front_end_send(panel, {"action": "snapshot"})
        snapshot = sent[-1]
        assert snapshot["type"] == "snapshot" and snapshot["rows"][short.run_id] == short.metrics()
        front_end_send(panel, {"action": "logs", "run_id": short.run_id})
        logs = poll(lambda: next((m for m in sent if m["type"] == "logs"), None))
        assert logs["run_id"] == short.run_id and "dltoolkit.cli fit" in logs["text"]
    finally:
        panel.close()
    assert not panel._thread.is_alive()


def test_runs_panel_reports_bad_actions_in_the_widget(
    panel_runs: tuple[Path, Run, Run], poll: Callable[..., Any]
) -> None:
    root = panel_runs[0]
    with pytest.raises(ValueError, match="poll must be a positive"):
        RunsPanel(root, poll=0)
    panel = RunsPanel(root, poll=60)
    try:
        front_end_send(panel, {"action": "explode", "run_id": panel_runs[1].run_id})
        assert panel.message["level"] == "error" and "unknown action 'explode'" in panel.message["text"]
        front_end_send(panel, {"action": "stop", "run_id": "no_such_run"})
        poll(lambda: "no run 'no_such_run'" in panel.message.get("text", ""))
        assert panel.message["level"] == "error"
        front_end_send(panel, {"action": "delete", "run_id": "../etc"})
        poll(lambda: "invalid run id '../etc'" in panel.message.get("text", ""))
        front_end_send(panel, {"action": "resume"})
        assert panel.message["text"] == "resume: no run id given"
        poll(lambda: panel.pending == [])
    finally:
        panel.close()


def test_runs_panel_stops_resumes_and_deletes(
    panel_runs: tuple[Path, Run, Run], poll: Callable[..., Any]
) -> None:
    root, _, long = panel_runs
    panel = RunsPanel(root, poll=0.1)
    try:
        poll(lambda: long.status().get("epoch", 0) >= 1)
        front_end_send(panel, {"action": "delete", "run_id": long.run_id})  # refused while running
        poll(lambda: "is running; stop it first" in panel.message.get("text", ""))
        front_end_send(panel, {"action": "stop", "run_id": long.run_id})
        assert long.run_id in panel.pending  # buttons disabled while the worker stops it
        poll(lambda: panel.message.get("text") == f"{long.run_id}: stopped")
        assert panel.pending == [] and long.last_checkpoint.is_file()
        assert next(r for r in panel.runs if r["run_id"] == long.run_id)["state"] == "stopped"
        front_end_send(panel, {"action": "resume", "run_id": long.run_id})
        poll(lambda: panel.message.get("text") == f"{long.run_id}: resumed")
        poll(lambda: next(r for r in panel.runs if r["run_id"] == long.run_id)["state"] == "running")
        long.stop(timeout=60)
        front_end_send(panel, {"action": "delete", "run_id": long.run_id})
        poll(lambda: panel.message.get("text") == f"{long.run_id}: deleted")
        assert not long.path.exists()
        assert long.run_id not in {r["run_id"] for r in panel.runs}
    finally:
        panel.close()


# --- a real kernel ------------------------------------------------------------------------------------

SETUP_CELL = """
import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from dltoolkit.catalog import create_data, create_model
from dltoolkit.dashboards import TrainingDashboard
dm = create_data("digits")
model = create_model("mlp", data=dm, hidden_sizes=[16])
dash = TrainingDashboard()
display(dash)
print(dash.widget.model_id, end="")
"""

FIT_CELL = """
trainer = dash.fit(
    model, dm, max_epochs=300, limit_train_batches=5, limit_val_batches=2, logger=False,
    accelerator="cpu", enable_model_summary=False, default_root_dir={root!r},
    callbacks=[ModelCheckpoint(dirpath={ckpt!r}, save_last=True)],
)
"""

REPORT_CELL = """
import json, os
print(json.dumps({"state": dash.state, "epoch": trainer.current_epoch, "step": trainer.global_step,
                  "checkpoint": dash.checkpoint, "exists": os.path.isfile(dash.checkpoint or ""),
                  "rows": dash.rows}))
"""


def test_stop_click_reaches_a_kernel_while_the_fit_cell_runs(tmp_path: Path) -> None:
    """A real ipykernel runs ``dash.fit`` for up to 300 epochs; once training runs, a view asks for a
    snapshot of the rows (it opened) and a ``comm_msg`` like the Stop button's is sent: the snapshot comes
    while the cell runs, and the cell ends after the next epoch, stopped, with its checkpoint."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = tmp_path / "kernels" / "dltoolkit-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "t", "language": "python"}))
    km = KernelManager(
        kernel_name="dltoolkit-test", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)])
    )
    km.start_kernel(cwd=str(tmp_path), env={**os.environ, "PYTHONWARNINGS": "ignore"})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)

        def run(code: str, timeout: float = 120) -> str:
            reply = kc.execute_interactive(code, timeout=timeout, output_hook=outputs.append)
            assert reply["content"]["status"] == "ok", reply["content"]
            return "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")

        outputs: list[dict[str, Any]] = []
        model_id = run(SETUP_CELL).strip().splitlines()[-1]
        outputs.clear()
        fit_id = kc.execute(FIT_CELL.format(root=str(tmp_path), ckpt=str(tmp_path / "ckpt")))
        states: list[str] = []
        custom: list[dict[str, Any]] = []  # rows and snapshot messages, in order
        stop_sent_at_step = None
        snapshot_during_fit = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            msg = kc.get_iopub_msg(timeout=60)
            content = msg["content"]
            if msg["msg_type"] == "comm_msg" and content["comm_id"] == model_id:
                if content["data"].get("method") == "custom":
                    custom.append(content["data"]["content"])
                    if custom[-1]["type"] == "snapshot" and stop_sent_at_step is not None:
                        snapshot_during_fit = states[-1] != "stopped"
                state = content["data"].get("state", {})
                if "state" in state:
                    states.append(state["state"])
                step = state.get("progress", {}).get("step", 0)
                if stop_sent_at_step is None and step >= 12:  # training for a while: a view opens, Stop
                    for data in (
                        {"method": "custom", "content": {"type": "snapshot"}},
                        {"method": "update", "state": {"stop_requested": True}, "buffer_paths": []},
                    ):
                        kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": model_id, "data": data}))
                    stop_sent_at_step = step
            if (
                msg["parent_header"].get("msg_id") == fit_id
                and msg["msg_type"] == "status"
                and content["execution_state"] == "idle"
            ):
                break
        assert stop_sent_at_step is not None, states
        # the kernel saw the click while the cell ran: the fit ended at the next epoch's end ("stopping"
        # shows in between unless the click came between two epochs), hundreds of epochs early
        assert states[-1] == "stopped" and "finished" not in states, states
        report = json.loads(run(REPORT_CELL).strip().splitlines()[-1])
        assert report["state"] == "stopped" and report["exists"], report
        assert report["checkpoint"].endswith("last.ckpt")
        assert report["epoch"] < 20 and report["step"] < stop_sent_at_step + 10, (report, stop_sent_at_step)
        # the snapshot was answered while the cell ran; with the rows messages it makes up every row
        assert snapshot_during_fit, [m["type"] for m in custom]
        assert front_end_rows(custom) == report["rows"] and len(report["rows"]) >= 4
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_kernel_helpers_are_no_ops_outside_a_kernel() -> None:
    from dltoolkit.dashboards._kernel import UiEventPump, ipython_kernel, route_to_subshell

    assert ipython_kernel() is None
    dash = TrainingDashboard()
    assert route_to_subshell(dash.widget) is False and dash.widget.live_stop
    pump = UiEventPump()
    assert pump.start() is False and not pump.active
    pump.poll()
    pump.stop()

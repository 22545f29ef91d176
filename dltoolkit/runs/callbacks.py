"""The training process's side of a run folder: what the CLI adds to the Trainer when ``$DLTOOLKIT_RUN_DIR``
is set (see ``run_trainer_kwargs``).

* ``RunStatusCallback`` writes ``status.json`` atomically, at most ``1 / min_interval`` times a second,
  and always at epoch ends and final states; SIGTERM becomes a graceful stop (``trainer.should_stop``:
  the step ends, validation runs, ModelCheckpoint writes ``last.ckpt``, the state is ``stopped``).
* ``AtomicModelCheckpoint`` writes each checkpoint to a temporary file beside it, then ``os.replace``:
  Lightning's own save goes through an fsspec transaction whose temporary file is in the system temp
  folder, so its final move is a copy (not atomic) whenever that is another file system.
* ``RunCSVLogger`` is Lightning's CSVLogger writing ``<run>/metrics.csv`` and appending to it on resume
  (the stock one deletes an existing ``metrics.csv`` in a non-empty folder).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any
from weakref import proxy

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities.exceptions import SIGTERMException

from dltoolkit.runs.run import CHECKPOINT_DIR, write_json_atomic


class RunStatusCallback(Callback):
    """Keep ``<run_dir>/status.json`` current: state, epoch, step, total steps, ETA and best metric.

    trainer = pl.Trainer(callbacks=[RunStatusCallback("dltoolkit-runs/mlp__digits__0__...")])
    """

    def __init__(self, run_dir: str | os.PathLike[str], min_interval: float = 0.25) -> None:
        self.path = Path(run_dir) / "status.json"
        self.min_interval = min_interval
        self.stop_requested = False
        self._last_write = 0.0
        self._last_written: tuple[Any, ...] = ()
        self._t0 = time.monotonic()
        self._step0 = 0
        self._total: int | None = None
        self._previous_handler: Any = None
        self._trainer: pl.Trainer | None = None

    # --- SIGTERM: finish the step, validate, checkpoint, then stop ------------------------------

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.stop_requested = True
        if self._trainer is not None:
            self._trainer.should_stop = True  # the loop ends after this step; fit ends as usual

    def _install_sigterm_handler(self) -> None:
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, self._on_sigterm)
            if self._previous_handler is None:
                self._previous_handler = previous

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer
        if stage == "fit":
            self._install_sigterm_handler()
        self._write(trainer, "running", force=True)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous_handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None
        self._trainer = None

    # --- progress -------------------------------------------------------------------------------

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Replace the handler Lightning registered after `setup`: its `received_sigterm` flag aborts a
        # running validation with SIGTERMException, so the stop would write no checkpoint.
        # `should_stop` instead ends the epoch after this step, validates and checkpoints as usual.
        self._install_sigterm_handler()
        self._t0, self._step0 = time.monotonic(), trainer.global_step
        total = trainer.estimated_stepping_batches
        self._total = int(total) if total != float("inf") else None
        self._write(trainer, "running", force=True)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._write(trainer, "running")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, "running", force=True)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._write(trainer, "running", force=True)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._write(trainer, "stopped" if self.stop_requested else "finished", force=True)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if self.stop_requested or isinstance(exception, SIGTERMException | KeyboardInterrupt):
            self._write(trainer, "stopped", force=True)
            return
        tb = "".join(traceback.format_exception(exception))
        error = f"{type(exception).__name__}: {exception}"
        self._write(trainer, "failed", force=True, error=error, traceback=tb[-4000:])

    # --- the file -------------------------------------------------------------------------------

    def _best(self, trainer: pl.Trainer) -> dict[str, Any] | None:
        for cb in trainer.checkpoint_callbacks:
            if isinstance(cb, ModelCheckpoint) and cb.monitor and cb.best_model_score is not None:
                return {"metric": cb.monitor, "value": float(cb.best_model_score)}
        metrics = trainer.callback_metrics
        val = sorted(k for k in metrics if k.startswith("val"))
        if not val:  # an RL agent's evaluation instead, if any
            if "eval/return" not in metrics:
                return None
            return {"metric": "eval/return", "value": float(metrics["eval/return"])}
        name = "val/loss" if "val/loss" in val else val[0]
        return {"metric": name, "value": float(trainer.callback_metrics[name])}

    def _write(self, trainer: pl.Trainer, state: str, force: bool = False, **extra: Any) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self.min_interval:
            return
        step, best = trainer.global_step, self._best(trainer)
        # validation's end and the epoch's end follow each other: one write when nothing changed between
        written = (state, trainer.current_epoch, step, self._total, best, extra)
        if written == self._last_written:
            return
        self._last_write, self._last_written = now, written
        done = step - self._step0
        eta = None
        if self._total is not None and done > 0 and state == "running":
            eta = round((now - self._t0) / done * max(0, self._total - step), 1)
        status = {
            "state": state,
            "epoch": trainer.current_epoch,
            "max_epochs": trainer.max_epochs,
            "step": step,
            "total_steps": self._total,
            "eta_seconds": eta,
            "best": best,
            "updated_at": time.time(),
            "pid": os.getpid(),
            **extra,
        }
        write_json_atomic(self.path, status)


class AtomicModelCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose files appear whole or not at all: a kill while saving leaves the previous
    ``last.ckpt`` loadable, and the partial ``.NAME.PID.part`` file is never a ``*.ckpt``."""

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        # as ModelCheckpoint._save_checkpoint (Lightning 2.6), with the save going through a temporary file
        head, name = os.path.split(filepath)
        tmp = os.path.join(head, f".{name}.{os.getpid()}.part")
        trainer.save_checkpoint(tmp, self.save_weights_only)
        if trainer.is_global_zero:
            os.replace(tmp, filepath)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # leftovers of a process killed while saving
        if trainer.is_global_zero and self.dirpath and os.path.isdir(self.dirpath):
            for p in Path(self.dirpath).glob(".*.part"):
                p.unlink(missing_ok=True)


class _AppendingWriter(ExperimentWriter):
    """CSVLogger's writer that keeps an existing ``metrics.csv`` (and its columns) instead of deleting it."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r") as f:
                header = f.readline().strip()
            self.metrics_keys = [k for k in header.split(",") if k]

    def _check_log_dir_exists(self) -> None:
        pass  # the run folder is never empty: it holds config.yaml and status.json already

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        # a wall-clock column: readers get throughput and latency without their own clock
        super().log_metrics({**metrics_dict, "time": time.time()}, step)


class RunCSVLogger(CSVLogger):
    """CSVLogger writing ``<run_dir>/metrics.csv`` and ``hparams.yaml`` (``name=""``, ``version=""``: no
    ``lightning_logs/version_N``), flushing every logged row, appending on resume; each row carries the
    wall-clock ``time`` (seconds since the epoch) it was logged at."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        super().__init__(save_dir=os.fspath(run_dir), name="", version="", flush_logs_every_n_steps=1)

    @property
    def experiment(self) -> Any:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def run_trainer_kwargs(run_dir: str | os.PathLike[str], trainer_config: dict[str, Any]) -> dict[str, Any]:
    """Trainer arguments that make a training process write the run folder ``run_dir``: the CLI passes
    them to ``LightningCLI.instantiate_trainer`` (the config's own callbacks are kept)."""
    callbacks = trainer_config.get("callbacks") or []
    callbacks = list(callbacks) if isinstance(callbacks, list | tuple) else [callbacks]
    # the run's CSV always; loggers the config asks for besides (TensorBoard, MLflow) are kept, while a
    # plain CSVLogger (the CLI's default, writing to ./lightning_logs) is replaced by the run's own
    asked = trainer_config.get("logger")
    asked = list(asked) if isinstance(asked, list | tuple) else [asked]
    loggers: list[Logger] = [RunCSVLogger(run_dir)]
    loggers += [lg for lg in asked if isinstance(lg, Logger) and type(lg) is not CSVLogger]
    checkpoint = AtomicModelCheckpoint(
        dirpath=os.path.join(run_dir, CHECKPOINT_DIR), save_last=True, enable_version_counter=False
    )
    return {
        "callbacks": [*callbacks, RunStatusCallback(run_dir), checkpoint],
        "logger": loggers,
    }

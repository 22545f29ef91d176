"""``TrainingDashboard``: a Lightning Callback that is also a notebook widget.

    dash = TrainingDashboard()
    dash                                            # shows it (last expression of a cell, or display(dash))
    trainer = pl.Trainer(max_epochs=20, callbacks=[dash])
    trainer.fit(model, dm)                          # or: dash.fit(model, dm, max_epochs=20)

It shows live curves of every metric the module logs (grouped: ``loss`` holds train/loss and val/loss),
progress with ETA, the hyperparameters and a **Stop** button that ends training gracefully:
``trainer.should_stop`` is set, so the epoch ends, validation runs and any ModelCheckpoint writes its
checkpoint; the state becomes ``stopped`` and the widget shows the checkpoint's path.

Metrics are captured exactly as loggers get them: while training, the Trainer has one more logger
(``_DashboardLogger``) whose rows are ``{"step", "epoch", "time", <metric>: value}`` like a
``metrics.csv`` row (the front end reads them with the same ``MetricTable`` as the run folders). The rows
stay here (``dash.rows``); the front end gets them as custom messages that carry only the rows it does not
have yet, so a message costs the same after 50,000 rows as after 50:

* ``{"type": "rows", "generation", "offset", "rows"}``: the rows logged since the last message (``offset``:
  how many came before them), at most ~4 times a second (at an epoch's end, else at a training step), and
  at the fit's end;
* ``{"type": "snapshot", "generation", "rows"}``: every row since the fit started, the answer to the front
  end's ``{"type": "snapshot"}``, which a view sends when it opens (a page reload too) or when it finds a
  gap in the offsets. ``generation`` counts fits: a new fit starts new curves.

Only small state is synced as traits (state, progress, hyperparameters, checkpoint, error, generation).
Per training step the callback does one clock read and one comparison. Front-end messages (a Stop click,
a snapshot request) reach the kernel while the cell runs through a kernel subshell (see ``_kernel.py``), or
through jupyter-ui-poll on ipykernel 6; on a kernel with neither, they are handled once the cell has
ended: a view opened during such a fit shows the curves only then.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import anywidget
import lightning.pytorch as pl
import traitlets as t
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from dltoolkit.dashboards._assets import asset
from dltoolkit.dashboards._kernel import UiEventPump, ipython_kernel, route_to_subshell

#: Seconds between two polls for front-end messages from the training loop (jupyter-ui-poll only).
UI_POLL_INTERVAL = 0.2
#: States shown by the dashboard, in the order they happen.
STATES = ("idle", "starting", "running", "stopping", "testing", "finished", "stopped", "failed")


class TrainingDashboardWidget(anywidget.AnyWidget):
    """The widget of a ``TrainingDashboard`` (front end: ``widgets/src/training_dashboard.ts``)."""

    _esm = asset("training_dashboard.js")
    _css = asset("training_dashboard.css")

    # metric rows are not a trait: they go as custom messages, only the new ones (see the module's doc)
    #: increases at every fit: the front end starts new curves
    generation = t.Int(0).tag(sync=True)
    state = t.Unicode("idle").tag(sync=True)
    #: epoch, max_epochs, step, total_steps, batch, batches, elapsed, eta (seconds; None if unknown)
    progress = t.Dict().tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    hparams = t.Dict().tag(sync=True)
    data_hparams = t.Dict().tag(sync=True)
    checkpoint = t.Unicode("").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    #: set by the Stop button (or ``TrainingDashboard.stop()``)
    stop_requested = t.Bool(False).tag(sync=True)
    #: whether a Stop click reaches the kernel while a cell runs (False: only after the cell)
    live_stop = t.Bool(True).tag(sync=True)


def _jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON (repr for anything else), so hyperparameters always serialise."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth < 4 and isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if depth < 4 and isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, depth + 1) for v in value]
    text = repr(value)
    return text if len(text) <= 200 else text[:199] + "…"


class _DashboardLogger(Logger):
    """The dashboard's ear on the Trainer: gets exactly what every logger gets (``log_metrics``)."""

    def __init__(self, dashboard: TrainingDashboard) -> None:
        super().__init__()
        self._dashboard = dashboard
        self.trainer: pl.Trainer | None = None

    def _other(self) -> Logger | None:
        loggers = self.trainer.loggers if self.trainer is not None else []
        return next((lg for lg in loggers if lg is not self), None)

    # name and version follow the Trainer's own logger, so the progress bar's v_num stays the same
    @property
    def name(self) -> str | None:
        other = self._other()
        return other.name if other is not None else None

    @property
    def version(self) -> int | str | None:
        other = self._other()
        return other.version if other is not None else None

    @property
    def save_dir(self) -> str | None:
        # `trainer.log_dir` reads the first logger's save_dir: the same folder as without a logger
        return self.trainer.default_root_dir if self.trainer is not None else None

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass  # read from the module itself (pl_module.hparams)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._dashboard._add_row(metrics, step)


class TrainingDashboard(Callback):
    """Live training dashboard for any Lightning Trainer: ``pl.Trainer(callbacks=[TrainingDashboard()])``.

    Args:
        title: shown at the top; default: the module's and data module's class names.
        sync_interval: least seconds between two updates of the widget while training (an epoch's end
            updates it at once if the last update is that old); the fit's end always updates it.
    """

    def __init__(self, title: str | None = None, sync_interval: float = 0.25) -> None:
        self.widget = TrainingDashboardWidget()
        self.sync_interval = sync_interval
        self._title = title
        self._logger = _DashboardLogger(self)
        self._rows: list[dict[str, float]] = []
        self._rows_sent = 0  # rows sent to the front end so far (a snapshot sends them all)
        # rows and what was sent of them: the training thread sends new rows, the subshell thread answers
        # snapshot requests; one at a time, so each message goes out in the order its rows were taken
        self._send_lock = threading.RLock()
        self._next_tick = 0.0  # monotonic time of the next look at the clock's work (sync, UI poll)
        self._last_sync = -math.inf
        self._sync_cost = 0.0  # seconds the last update of the widget took
        self._t0 = time.monotonic()
        self._step0 = 0
        self._total: int | None = None
        self._trainer: pl.Trainer | None = None
        self._stop_requested = False
        self._state_before_test = "idle"
        self._displayed = False
        # a Stop click must reach the kernel while `fit` runs in a cell: a subshell where the kernel has
        # them, else jupyter-ui-poll from the training loop, else (outside a kernel) no front end at all
        self._pump = UiEventPump()
        self._routed = route_to_subshell(self.widget)
        self.widget.live_stop = self._routed or ipython_kernel() is None or UiEventPump.available()
        self.widget.observe(self._on_stop_requested, names="stop_requested")
        self.widget.on_msg(self._on_msg)

    # --- display -------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        self._displayed = True
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self._displayed = True
        display(self.widget)

    def __repr__(self) -> str:
        return f"TrainingDashboard(state={self.state!r}, rows={len(self._rows)})"

    # --- Python API ----------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``idle``, ``starting``, ``running``, ``stopping``, ``testing``, ``finished``, ``stopped`` or
        ``failed``."""
        return str(self.widget.state)

    @property
    def rows(self) -> list[dict[str, float]]:
        """The metric rows captured so far (copies), as ``metrics.csv`` has them."""
        return [dict(r) for r in self._rows]

    @property
    def checkpoint(self) -> str | None:
        """The checkpoint written last by the Trainer's ModelCheckpoint, once the fit has ended."""
        return self.widget.checkpoint or None

    def stop(self) -> None:
        """What the Stop button does: end training after this step (validation and checkpoint run)."""
        self.widget.stop_requested = True

    def fit(
        self,
        model: pl.LightningModule,
        datamodule: Any = None,
        *,
        ckpt_path: str | None = None,
        **trainer_kwargs: Any,
    ) -> pl.Trainer:
        """Build a Trainer with this dashboard (and ``trainer_kwargs``), fit, return the Trainer.

        Defaults: ``max_epochs=10`` (unless ``max_epochs`` or ``max_steps`` is given) and no progress bar
        (the dashboard is the progress). In a notebook, the dashboard is displayed if it was not yet.
        ``datamodule`` may also be a training DataLoader.
        """
        kwargs: dict[str, Any] = {"enable_progress_bar": False, **trainer_kwargs}
        if "max_epochs" not in kwargs and "max_steps" not in kwargs:
            kwargs["max_epochs"] = 10
        callbacks = kwargs.pop("callbacks", None) or []
        callbacks = list(callbacks) if isinstance(callbacks, Iterable) else [callbacks]
        if self not in callbacks:
            callbacks.append(self)
        trainer = pl.Trainer(callbacks=callbacks, **kwargs)
        if not self._displayed and ipython_kernel() is not None:
            from IPython.display import display

            display(self)
        trainer.fit(model, datamodule, ckpt_path=ckpt_path)
        return trainer

    # --- Lightning hooks -----------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer
        self._logger.trainer = trainer
        if stage != "fit":
            return
        self._next_tick, self._last_sync, self._sync_cost = 0.0, -math.inf, 0.0
        self._stop_requested = False
        dm = getattr(trainer, "datamodule", None)
        title = self._title or type(pl_module).__name__ + (f" · {type(dm).__name__}" if dm else "")
        with self._send_lock, self.widget.hold_sync():
            self._rows = []
            self._rows_sent = 0
            self.widget.generation += 1
            self.widget.progress = {}
            self.widget.title = title
            self.widget.hparams = _jsonable(dict(pl_module.hparams))
            self.widget.data_hparams = _jsonable(dict(dm.hparams)) if dm is not None else {}
            self.widget.checkpoint = ""
            self.widget.error = ""
            self.widget.stop_requested = False
            self.widget.state = "starting"

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the logger joins here, after ModelCheckpoint resolved its folder from the Trainer's loggers
        # and after Lightning logged the hyperparameters: the Trainer behaves as without the dashboard
        self._attach(trainer)
        self._t0, self._step0 = time.monotonic(), trainer.global_step
        total = trainer.estimated_stepping_batches
        self._total = int(total) if math.isfinite(total) else None
        if not self._routed:
            self._pump.start()  # ipykernel 6: poll for UI events from the loop (no-op outside a kernel)
        self.widget.state = "stopping" if self._stop_requested else "running"
        self._sync(trainer, "now")

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        # every step: one clock read, one comparison; the rest at most every `sync_interval` s
        now = time.monotonic()
        if now < self._next_tick and not (self._stop_requested and self.widget.state == "running"):
            return
        self._next_tick = now + (UI_POLL_INTERVAL if self._pump.active else self.sync_interval)
        if self._pump.active:
            self._pump.poll()
        self._note_stop(trainer)
        self._sync(trainer)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._note_stop(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._note_stop(trainer)
        self._sync(trainer, "epoch")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._sync(trainer, "epoch")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pump.stop()

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(trainer, "stopped" if self._stop_requested else "finished")

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._pump.stop()
        if isinstance(exception, KeyboardInterrupt):  # the kernel interrupted: Lightning shuts down
            self._finish(trainer, "stopped")
        else:
            self._finish(trainer, "failed", error=f"{type(exception).__name__}: {exception}")

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._state_before_test = self.state
        self._attach(trainer)
        self.widget.state = "testing"

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._sync(trainer, "now")
        self.widget.state = self._state_before_test

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._pump.stop()
        trainer.loggers = [lg for lg in trainer.loggers if lg is not self._logger]
        self._sync(trainer, "now")
        self._trainer = None

    # --- internals -----------------------------------------------------------------------------

    def _attach(self, trainer: pl.Trainer) -> None:
        self._logger.trainer = trainer
        if self._logger not in trainer.loggers:
            trainer.loggers = [*trainer.loggers, self._logger]

    def _note_stop(self, trainer: pl.Trainer) -> None:
        # in the training thread: the state shows a requested stop until the fit has ended
        if self._stop_requested and self.widget.state == "running":
            trainer.should_stop = True
            self.widget.state = "stopping"

    def _on_stop_requested(self, change: dict[str, Any]) -> None:
        # may run in the kernel's subshell thread, while the main thread trains: only set flags here
        if not change["new"]:
            return
        self._stop_requested = True
        trainer = self._trainer
        if trainer is not None:
            trainer.should_stop = True

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # may run in the kernel's subshell thread, while the main thread trains (see _send_rows)
        if isinstance(content, dict) and content.get("type") == "snapshot":
            self._send_snapshot()

    def _send_snapshot(self) -> None:
        """Every row of this fit, to every view (one asked: it opened, or it missed rows)."""
        with self._send_lock:
            rows = self._rows[:]
            self.widget.send({"type": "snapshot", "generation": self.widget.generation, "rows": rows})
            self._rows_sent = len(rows)

    def _send_rows(self) -> None:
        """The rows logged since the last message (or snapshot): a message the size of what is new."""
        with self._send_lock:
            offset, rows = self._rows_sent, self._rows[self._rows_sent :]
            if not rows:
                return
            message = {"type": "rows", "generation": self.widget.generation, "offset": offset, "rows": rows}
            self.widget.send(message)
            self._rows_sent = offset + len(rows)

    def _add_row(self, metrics: Mapping[str, Any], step: int | None) -> None:
        row: dict[str, float] = {}
        for key, value in metrics.items():
            v = value.item() if hasattr(value, "item") else value
            if isinstance(v, bool | int):
                row[key] = int(v)
            elif isinstance(v, float) and math.isfinite(v):
                row[key] = v
        if step is not None:
            row["step"] = int(step)
        row["time"] = time.time()
        self._rows.append(row)

    def _progress(self, trainer: pl.Trainer, now: float) -> dict[str, Any]:
        step = trainer.global_step
        done = step - self._step0
        elapsed = now - self._t0
        eta = None
        if self._total is not None and done > 0:
            eta = round(elapsed / done * max(0, self._total - step), 1)
        batches = trainer.num_training_batches
        return {
            "epoch": trainer.current_epoch,
            "max_epochs": trainer.max_epochs if trainer.max_epochs not in (None, -1) else None,
            "step": step,
            "total_steps": self._total,
            "batch": trainer.fit_loop.epoch_loop.batch_progress.current.ready,
            "batches": int(batches) if math.isfinite(batches) else None,
            "elapsed": round(elapsed, 1),
            "eta": eta,
        }

    def _sync(self, trainer: pl.Trainer, when: str = "tick") -> None:
        """Send the progress and the new rows to the front end. ``when``: ``tick`` (a training step) or
        ``epoch`` (an epoch's end: its validation metrics), both at most every ``sync_interval`` s (each
        update costs the browser a redraw: tiny epochs must not multiply them), or ``now``. However often
        asked, updates never take more than ~2 % of the time: the gap between two is at least 50 times
        what the last one cost (a slow front-end link)."""
        now = time.monotonic()
        gap = self.sync_interval if when in ("tick", "epoch") else 0.0
        if gap and now - self._last_sync < max(gap, 50 * self._sync_cost):
            return
        start = time.perf_counter()
        self._send_rows()  # before the progress: a view shows the curve up to the step it reports
        if trainer.state.fn == "fit" and self.widget.state in ("running", "stopping"):
            self.widget.progress = self._progress(trainer, now)
        self._sync_cost = time.perf_counter() - start
        self._last_sync = now

    def _finish(self, trainer: pl.Trainer, state: str, error: str = "") -> None:
        checkpoint = ""
        for cb in trainer.checkpoint_callbacks:
            checkpoint = getattr(cb, "last_model_path", "") or getattr(cb, "best_model_path", "")
            if checkpoint:
                break
        self._sync(trainer, "now")
        with self.widget.hold_sync():
            self.widget.progress = {**self._progress(trainer, time.monotonic()), "eta": None}
            self.widget.checkpoint = checkpoint
            self.widget.error = error
            self.widget.state = state

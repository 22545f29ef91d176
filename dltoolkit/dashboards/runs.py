"""``RunsPanel``: the sidebar's runs view as a notebook widget (for VS Code and Notebook 7 users).

    from dltoolkit.dashboards import RunsPanel
    panel = RunsPanel()        # the runs under ./dltoolkit-runs (or $DLTOOLKIT_RUNS), newest first
    panel                      # status badges, progress and ETA, mini charts, Stop / Resume / Delete, logs
    panel.close()              # stops its polling thread

A daemon thread reads the run folders every ``poll`` seconds (``list_runs``, ``Run.status``, and only
the bytes appended to each ``metrics.csv`` since the last poll). Statuses are the ``runs`` trait; metric
rows go to the front end as custom messages (``{"type": "rows", "run_id", "offset", "reset", "rows"}``),
so each poll reads and sends only what is new, however long the runs; a view that (re)opens asks for a
``snapshot`` of every row. Buttons send
``{"action": "stop" | "resume" | "delete" | "logs", "run_id": ...}``; they are handled in a worker
thread and a failure is shown in the widget (the ``message`` trait), never raised into nowhere.

No torch here: the panel only reads and signals run folders.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anywidget
import traitlets as t

from dltoolkit.dashboards._assets import asset
from dltoolkit.dashboards._kernel import route_to_subshell
from dltoolkit.runs.metrics import MetricsTail
from dltoolkit.runs.run import Run, list_runs, resolve_runs_root

ACTIONS = ("stop", "resume", "delete", "logs", "snapshot")
#: status fields the panel shows (the traceback stays in the log)
_STATUS_KEYS = (
    "state", "epoch", "max_epochs", "step", "total_steps", "eta_seconds", "best", "error", "updated_at",
)  # fmt: skip
LOG_TAIL = 200


class RunsPanel(anywidget.AnyWidget):
    """Every run of a runs root, live: ``RunsPanel(runs_root=None, poll=1.0)``.

    Args:
        runs_root: the folder of run folders; default ``$DLTOOLKIT_RUNS``, else ``./dltoolkit-runs``.
        poll: seconds between two reads of the run folders.
    """

    _esm = asset("runs_panel.js")
    _css = asset("runs_panel.css")

    #: one status per run, newest first: run_id, model, data, seed, state, epoch, step, total_steps, ...
    runs: t.List[dict[str, Any]] = t.List().tag(sync=True)
    runs_root = t.Unicode("").tag(sync=True)
    #: run ids with an action under way (their buttons are disabled)
    pending: t.List[str] = t.List().tag(sync=True)
    #: the last outcome worth showing: {"text", "level": "info" | "error", "at": seconds since the epoch}
    message = t.Dict().tag(sync=True)

    def __init__(
        self, runs_root: str | os.PathLike[str] | None = None, poll: float = 1.0, **kwargs: Any
    ) -> None:
        if not poll > 0:
            raise ValueError(f"poll must be a positive number of seconds, got {poll!r}")
        super().__init__(**kwargs)
        self.root = resolve_runs_root(runs_root)
        self.runs_root = str(self.root)
        self.poll = poll
        self._tails: dict[str, MetricsTail] = {}  # each run's rows, read and sent so far
        self._lock = threading.RLock()  # the rows and what was sent of them
        self._refresh_lock = threading.Lock()
        self._closing = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dltoolkit-runs-action")
        self.on_msg(self._on_msg)
        route_to_subshell(self)  # buttons work while another cell trains
        self.refresh()
        self._thread = threading.Thread(target=self._poll_loop, name="dltoolkit-runs-panel", daemon=True)
        self._thread.start()

    # --- Python API ----------------------------------------------------------------------------

    def rows(self, run_id: str) -> list[dict[str, float]]:
        """The metric rows of ``run_id`` read so far (copies)."""
        with self._lock:
            tail = self._tails.get(run_id)
            return [dict(r) for r in tail.rows] if tail is not None else []

    def refresh(self) -> None:
        """Read the run folders now: statuses into ``runs``, new metric rows to the front end."""
        with self._refresh_lock:
            statuses, runs = [], []
            for run in list_runs(self.root):
                try:
                    status = run.status()
                except (OSError, ValueError):  # deleted or being replaced between listing and reading
                    continue
                statuses.append(self._describe(run, status))
                runs.append(run)
            if statuses != self.runs:
                self.runs = statuses  # before their rows: a view has the run's card when rows come
            for run in runs:
                self._read_metrics(run)
            with self._lock:
                for gone in set(self._tails) - {run.run_id for run in runs}:
                    del self._tails[gone]

    def close(self) -> None:
        """Stop polling and close the widget."""
        closing, thread = getattr(self, "_closing", None), getattr(self, "_thread", None)
        if closing is not None:  # (not set if __init__ failed; ipywidgets closes on __del__ too)
            closing.set()
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=5)
        if hasattr(self, "_executor"):
            self._executor.shutdown(wait=False, cancel_futures=True)
        super().close()

    # --- reading the folders -------------------------------------------------------------------

    @staticmethod
    def _describe(run: Run, status: dict[str, Any]) -> dict[str, Any]:
        parts = run.run_id.split("__")
        described: dict[str, Any] = {"run_id": run.run_id}
        if len(parts) >= 4:
            described.update(model=parts[0], data=parts[1], seed=parts[2])
        described.update({k: status.get(k) for k in _STATUS_KEYS})
        described["command"] = run.command()
        return described

    def _read_metrics(self, run: Run) -> None:
        with self._lock:
            tail = self._tails.get(run.run_id)
            if tail is None:
                tail = self._tails[run.run_id] = MetricsTail(run.metrics_path)
            read = tail.read()  # only what was appended since the last poll
            if read is None or read == ([], False):
                return
            new, reset = read
            offset = len(tail.rows) - len(new)
            self.send({"type": "rows", "run_id": run.run_id, "offset": offset, "reset": reset, "rows": new})

    def _poll_loop(self) -> None:
        last_error = ""
        while not self._closing.wait(self.poll):
            if self.comm is None:  # the widget was closed
                return
            try:
                self.refresh()
                last_error = ""
            except Exception as err:  # shown once, then retried every poll
                text = f"reading {self.root}: {type(err).__name__}: {err}"
                if text != last_error:
                    self._report(text, "error")
                last_error = text

    # --- front-end messages --------------------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        run_id = content.get("run_id") if isinstance(content, dict) else None
        if action == "snapshot":
            with self._lock:
                self.send({"type": "snapshot", "rows": {i: tail.rows for i, tail in self._tails.items()}})
            return
        if action not in ACTIONS:
            self._report(f"unknown action {action!r}; expected one of {', '.join(ACTIONS[:4])}", "error")
            return
        if not isinstance(run_id, str):
            self._report(f"{action}: no run id given", "error")
            return
        if action != "logs":
            self._set_pending(run_id, True)
        with contextlib.suppress(RuntimeError):  # closed: the action is dropped with the panel
            self._executor.submit(self._act, action, run_id)

    def _act(self, action: str, run_id: str) -> None:
        try:
            run = Run(run_id, self.root)
            if not run.exists():
                raise FileNotFoundError(f"no run {run_id!r} in {self.root}")
            if action == "logs":
                self.send({"type": "logs", "run_id": run_id, "text": run.logs(tail=LOG_TAIL)})
                return
            if action == "stop":
                text = f"{run_id}: {run.stop()['state']}"
            elif action == "resume":
                run.resume()
                text = f"{run_id}: resumed"
            else:
                run.delete()
                text = f"{run_id}: deleted"
            self._report(text, "info")
        except Exception as err:
            self._report(f"{action} {run_id}: {err}", "error")
        finally:
            if action != "logs":
                self._set_pending(run_id, False)
                with contextlib.suppress(Exception):
                    self.refresh()

    def _set_pending(self, run_id: str, pending: bool) -> None:
        with self._lock:
            ids = [r for r in self.pending if r != run_id]
            self.pending = [*ids, run_id] if pending else ids

    def _report(self, text: str, level: str) -> None:
        self.message = {"text": text, "level": level, "at": time.time()}

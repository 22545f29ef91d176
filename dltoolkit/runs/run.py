"""The run folder and the launcher: ``launch`` starts ``dltoolkit fit`` as its own process; ``Run`` reads
and controls it. No torch here: the training process writes the folder (see ``callbacks.py``), and any
number of readers (the sidebar, a dashboard, a script) read it at the same time.

    run = launch("mlp", model_args={"hidden_sizes": [16]}, trainer_args={"max_epochs": 3})
    run.status()        # {"state": "running", "epoch": 1, "step": 40, "total_steps": 69, "eta_seconds": ...}
    run.stop()          # SIGTERM: the epoch ends, last.ckpt is written, state "stopped"
    run.resume()        # same folder, from checkpoints/last.ckpt
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from dltoolkit.runs.metrics import read_metrics

#: Where runs go unless an argument or ``$DLTOOLKIT_RUNS`` says otherwise.
DEFAULT_RUNS_ROOT = "dltoolkit-runs"
RUNS_ENV = "DLTOOLKIT_RUNS"
#: Set in the training process's environment: the CLI then writes into this run folder.
RUN_DIR_ENV = "DLTOOLKIT_RUN_DIR"
#: Loggers a launch may add beside the run's own CSV (``launch(..., loggers=["tensorboard"])``).
EXTRA_LOGGERS = ("tensorboard", "mlflow")
#: A run id: letters, digits, ``_`` and ``-`` only (no dots, slashes or absolute paths), 1-160 long.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,159}")
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("finished", "failed", "stopped", "interrupted")
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
_TIMESTAMP = re.compile(r"__(\d{8}-\d{6})-[0-9a-f]{4}$")
# processes this Python process started: polled to reap them, so a finished child is not a live zombie
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a safe folder name, else raise ``ValueError``.

    >>> validate_run_id("mlp__digits__0__20260101-120000-ab12")
    'mlp__digits__0__20260101-120000-ab12'
    >>> validate_run_id("../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: invalid run id '../etc': ...
    """
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise ValueError(f"invalid run id {run_id!r}: only letters, digits, '_' and '-' (at most 160)")
    return run_id


def _safe_part(name: str) -> str:
    part = re.sub(r"[^A-Za-z0-9_-]+", "-", name.rsplit(".", 1)[-1]).strip("-_")
    return part[:40] or "x"


def make_run_id(model: str, data: str, seed: int, now: datetime | None = None) -> str:
    """CleanRL-style ``<model>__<data>__<seed>__<YYYYmmdd-HHMMSS>-<4 hex>``.

    >>> make_run_id("mlp", "digits", 0)  # doctest: +ELLIPSIS
    'mlp__digits__0__...'
    """
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return validate_run_id(
        f"{_safe_part(model)}__{_safe_part(data)}__{int(seed)}__{stamp}-{secrets.token_hex(2)}"
    )


def resolve_runs_root(runs_root: str | os.PathLike[str] | None = None) -> Path:
    """The absolute runs root: ``runs_root``, else ``$DLTOOLKIT_RUNS``, else ``./dltoolkit-runs``."""
    root = runs_root if runs_root is not None else os.environ.get(RUNS_ENV) or DEFAULT_RUNS_ROOT
    return Path(root).expanduser().resolve()


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` so that readers see the old file or the new one, never half.

    The temporary file is in the same folder (``os.replace`` is atomic only within one file system).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live (not zombie) dltoolkit process: ``pid_alive(os.getpid())``."""
    if not pid or pid <= 0:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if proc.exists():  # Linux: a zombie or a reused pid is not our run
        with contextlib.suppress(OSError):
            if (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                return False
            return b"dltoolkit" in (proc / "cmdline").read_bytes()
    return True


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples become lists, so the YAML is plain


def _run_config(
    model: str,
    data: str | None,
    model_args: Mapping[str, Any],
    data_args: Mapping[str, Any],
    trainer_args: Mapping[str, Any],
    seed: int,
) -> tuple[dict[str, Any], str]:
    """The LightningCLI config of a request, with the catalog's defaults filled in as the CLI does."""
    from dltoolkit import catalog

    config: dict[str, Any] = {"seed_everything": int(seed)}
    names = catalog.resolve(model, data)
    if names.data_path is None or names.data_name is None:
        raise ValueError("a model given by class path needs `data` (a catalog name or class path)")
    config["model"] = {"class_path": names.model_path, "init_args": {**names.model_defaults, **model_args}}
    config["data"] = {"class_path": names.data_path, "init_args": {**names.data_defaults, **data_args}}
    data = names.data_name
    # a progress bar is noise in process.log; the status file is the progress
    config["trainer"] = {"enable_progress_bar": False, **names.trainer_defaults, **trainer_args}
    return _jsonable(config), data


def launch(
    model: str,
    data: str | None = None,
    *,
    model_args: Mapping[str, Any] | None = None,
    data_args: Mapping[str, Any] | None = None,
    trainer_args: Mapping[str, Any] | None = None,
    seed: int = 0,
    loggers: Sequence[str] = (),
    runs_root: str | os.PathLike[str] | None = None,
) -> Run:
    """Start ``dltoolkit fit --config <run>/config.yaml`` as its own process and return its ``Run`` at once.

    ``model``/``data`` are catalog names or class paths (``data`` defaults to the model's own); the
    ``*_args`` dicts are the ``--model.*``, ``--data.*`` and ``--trainer.*`` options:

        run = launch("mlp", "digits", model_args={"lr": 3e-3}, trainer_args={"max_epochs": 5}, seed=1)
        run.status()["state"]   # "queued", then "running", then "finished"

    Metrics always go to ``<run>/metrics.csv``; ``loggers`` adds Lightning's TensorBoardLogger
    (``<run>/tensorboard``) and/or MLFlowLogger (``$MLFLOW_TRACKING_URI`` when set, else
    ``sqlite:///<run>/mlflow.db``; experiment ``dltoolkit``, MLflow run name = run id).
    """
    import yaml

    unknown = sorted(set(loggers) - set(EXTRA_LOGGERS))
    if unknown:
        raise ValueError(f"unknown logger(s) {unknown}; expected some of {list(EXTRA_LOGGERS)}")
    config, data_name = _run_config(model, data, model_args or {}, data_args or {}, trainer_args or {}, seed)
    root = resolve_runs_root(runs_root)
    root.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = make_run_id(model, data_name, seed)
        try:
            (root / run_id).mkdir()
            break
        except FileExistsError:  # same second, same 4 hex digits: draw again
            continue
    run = Run(run_id, root)
    if loggers:
        config["trainer"]["logger"] = _extra_loggers(loggers, run)
    tmp = run.path / ".config.yaml.tmp"
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    os.replace(tmp, run.config_path)
    run._start([])
    return run


def _extra_loggers(names: Sequence[str], run: Run) -> list[dict[str, Any]]:
    """LightningCLI entries for the loggers ``names`` (``EXTRA_LOGGERS``) writing for ``run``."""
    entries: list[dict[str, Any]] = []
    if "tensorboard" in names:
        args = {"save_dir": str(run.path), "name": "tensorboard", "version": ""}
        entries.append({"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": args})
    if "mlflow" in names:
        # MLflow 3 refuses its old file store: a SQLite file in the run unless a tracking server is set
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{run.path / 'mlflow.db'}"
        args = {"experiment_name": "dltoolkit", "run_name": run.run_id, "tracking_uri": uri}
        entries.append({"class_path": "lightning.pytorch.loggers.MLFlowLogger", "init_args": args})
    return entries


class Run:
    """One run folder: ``Run("mlp__digits__0__20260101-120000-ab12")`` or ``Run.open(path)``.

    Reading never blocks the training process: ``status()``, ``metrics()`` and ``logs()`` read files that
    the trainer replaces atomically (status) or appends to (metrics, log).
    """

    def __init__(self, run_id: str, runs_root: str | os.PathLike[str] | None = None) -> None:
        self.run_id = validate_run_id(run_id)
        self.runs_root = resolve_runs_root(runs_root)
        self.path = self.runs_root / self.run_id

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Run:
        """The run in folder ``path``: ``Run.open("dltoolkit-runs/mlp__digits__0__...")``."""
        p = Path(path).expanduser().resolve()
        return cls(p.name, p.parent)

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, runs_root={str(self.runs_root)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def log_path(self) -> Path:
        return self.path / "process.log"

    @property
    def last_checkpoint(self) -> Path:
        return self.path / CHECKPOINT_DIR / LAST_CHECKPOINT

    @property
    def pid(self) -> int | None:
        """The training process's pid (also its process group id), from the ``pid`` file."""
        try:
            return int((self.path / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def exists(self) -> bool:
        return self.config_path.is_file()

    def _require(self) -> None:
        if not self.exists():
            raise FileNotFoundError(f"no run {self.run_id!r} in {self.runs_root}")

    # --- reading -------------------------------------------------------------------------------

    def is_alive(self) -> bool:
        """Whether the training process is still running."""
        return pid_alive(self.pid)

    def status(self) -> dict[str, Any]:
        """The status file, plus ``run_id``; a non-final state whose process is gone is ``interrupted``
        (or ``failed``, with the log's tail as ``error``, if it died before training started)."""
        self._require()
        try:
            status: dict[str, Any] = json.loads(self.status_path.read_text())
        except FileNotFoundError:
            status = {"state": "queued"}
        status["run_id"] = self.run_id
        if status.get("state") in ACTIVE_STATES and (self.path / "pid").exists() and not self.is_alive():
            if status["state"] == "queued":
                status.update(state="failed", error=self.logs(tail=20))
            else:
                status["state"] = "interrupted"
        return status

    def metrics(self, since: int = 0) -> list[dict[str, float]]:
        """Rows of ``metrics.csv`` from row index ``since`` on (empty cells left out); a last line still
        being written is skipped. ``run.metrics(since=len(seen))`` gives only the new rows (a reader that
        polls should keep a :class:`dltoolkit.runs.metrics.MetricsTail`: it parses only new bytes)."""
        return read_metrics(self.metrics_path)[since:]

    def logs(self, tail: int | None = 200) -> str:
        """The last ``tail`` lines of ``process.log`` (all of it with ``tail=None``)."""
        try:
            with self.log_path.open("rb") as f:
                if tail is not None:
                    f.seek(max(0, f.seek(0, os.SEEK_END) - 256 * 1024))
                text = f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return text if tail is None else "\n".join(text.splitlines()[-tail:])

    def config(self) -> dict[str, Any]:
        """The run's LightningCLI config as a dict."""
        import yaml

        loaded: dict[str, Any] = yaml.safe_load(self.config_path.read_text())
        return loaded

    def command(self) -> str:
        """The shell command that reproduces this run: ``dltoolkit fit --config <run>/config.yaml``."""
        import shlex

        return f"dltoolkit fit --config {shlex.quote(str(self.config_path))}"

    def load(self) -> tuple[Any, Any]:
        """The trained model, from the run's last checkpoint, in eval mode on the CPU, and the run's data
        module, built from its config (not set up). Imports torch and Lightning.

            model, data = Run("mlp__digits__0__20260101-000000-beef").load()
        """
        import importlib

        self._require()
        if not self.last_checkpoint.is_file():
            state = self.status().get("state")
            raise FileNotFoundError(f"run {self.run_id!r} has no checkpoint yet (state: {state})")
        config = self.config()

        def resolve(section: str) -> tuple[Any, dict[str, Any]]:
            entry = config.get(section)
            if not isinstance(entry, dict) or not isinstance(entry.get("class_path"), str):
                raise ValueError(f"{self.config_path} has no {section}.class_path")
            module, _, name = entry["class_path"].rpartition(".")
            return getattr(importlib.import_module(module), name), dict(entry.get("init_args") or {})

        model_class, _ = resolve("model")  # its hyperparameters come from the checkpoint
        data_class, data_args = resolve("data")
        model = model_class.load_from_checkpoint(self.last_checkpoint, map_location="cpu")
        return model.eval(), data_class(**data_args)

    # --- controlling ---------------------------------------------------------------------------

    def _start(self, extra_args: list[str]) -> None:
        """Start the training process for this folder (the caller checked that none is running)."""
        (self.path / "pid").unlink(missing_ok=True)  # until the new pid is known, the run is "queued"
        write_json_atomic(self.status_path, {"state": "queued", "updated_at": time.time(), "pid": None})
        env = {**os.environ, RUN_DIR_ENV: str(self.path), "PYTHONUNBUFFERED": "1"}
        # several runs share the CPU: one thread each unless the user chose otherwise
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        cmd = [sys.executable, "-m", "dltoolkit.cli", "fit", "--config", str(self.config_path), *extra_args]
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,  # its own process group: stop() signals the trainer and its workers
            )  # fmt: skip
        _CHILDREN[proc.pid] = proc
        tmp = self.path / ".pid.tmp"
        tmp.write_text(f"{proc.pid}\n")
        os.replace(tmp, self.path / "pid")

    def wait(self, timeout: float | None = None, poll: float = 0.1) -> dict[str, Any]:
        """Block until the process has exited; return the final status (``TimeoutError`` past ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status()
            if status["state"] in FINAL_STATES and not self.is_alive():
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {self.run_id} still {status['state']} after {timeout} s")
            time.sleep(poll)

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        """Stop gracefully: SIGTERM to the trainer (it ends the epoch early, validates, writes
        ``last.ckpt`` and the state ``stopped``); SIGKILL to its process group if it has not exited
        after ``timeout`` s (the state is then ``interrupted``)."""
        self._require()
        pid = self.pid
        if pid is not None and self.is_alive():
            # the main process only: data-loader workers that die first would turn the stop into a crash
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            try:
                self.wait(timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                self.wait(10.0)
                return self.status()
            with contextlib.suppress(OSError, ValueError):
                # ended by our SIGTERM before the trainer's handler was set (still starting up)
                if json.loads(self.status_path.read_text()).get("state") in ACTIVE_STATES:
                    write_json_atomic(self.status_path, {"state": "stopped", "updated_at": time.time()})
        return self.status()

    def resume(self, trainer_args: Mapping[str, Any] | None = None) -> Run:
        """Continue from ``checkpoints/last.ckpt`` in this same folder (log and metrics are appended to).

        A run that ended before writing any checkpoint (stopped while starting, or failed before its
        first epoch, e.g. for a data folder since filled in) starts again from the beginning, in the
        same folder. ``trainer_args`` override the config for this continuation, e.g.
        ``{"max_epochs": 20}``. Raises ``RuntimeError`` while the run is alive.
        """
        self._require()
        if self.is_alive():
            raise RuntimeError(f"run {self.run_id} is still running")
        extra = [
            f"--trainer.{k}={v if isinstance(v, str) else json.dumps(v)}"
            for k, v in (trainer_args or {}).items()
        ]
        if self.last_checkpoint.is_file():
            extra += ["--ckpt_path", str(self.last_checkpoint)]
        else:
            self.metrics_path.unlink(missing_ok=True)  # rows of a start that trained nothing to keep
        self._start(extra)
        return self

    def delete(self) -> None:
        """Remove the run folder; ``RuntimeError`` while the run is alive."""
        self._require()
        if self.is_alive():
            raise RuntimeError(f"run {self.run_id} is running; stop it first")
        shutil.rmtree(self.path)


def list_runs(runs_root: str | os.PathLike[str] | None = None) -> list[Run]:
    """The runs under the runs root, newest first: ``[r.run_id for r in list_runs()]``."""
    root = resolve_runs_root(runs_root)
    if not root.is_dir():
        return []
    runs = [Run(p.name, root) for p in root.iterdir() if RUN_ID_PATTERN.fullmatch(p.name) and p.is_dir()]
    runs = [r for r in runs if r.exists()]

    def key(run: Run) -> tuple[str, float]:
        m = _TIMESTAMP.search(run.run_id)
        return (m.group(1) if m else "", run.config_path.stat().st_mtime)

    return sorted(runs, key=key, reverse=True)

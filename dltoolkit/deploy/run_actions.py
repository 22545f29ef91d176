"""Deploy a finished run: its ONNX export kept in the run folder, and a model server started for it.

The sidebar's "Export ONNX" and "Serve" buttons (``POST runs/{id}/onnx`` and ``POST runs/{id}/serve``)
call these; a script can too:

    info = export_run_onnx(run)                 # <run>/export/model.onnx, verified; info["max_abs_diff"]
    export_run_onnx(run)["reused"]              # True: the checkpoint has not changed since
    server = await RunServers.start(run)        # `dltoolkit serve <run>` as its own process
    server["predict_url"]                       # http://127.0.0.1:PORT/v1/models/mlp:predict
    RunServers.stop(run)                        # SIGTERM, then SIGKILL if it lingers

An export is written beside its final name and renamed into place (a download never reads half a
file), with a JSON of what was checked (``export/model.json``); it is redone only when the checkpoint
changed since (a resumed run). A server is ``python -m dltoolkit.cli serve`` on a free port, its output
in ``<run>/serve.log``: the process that starts it (the Jupyter server) never imports torch for it.

This module imports no torch: the export imports it when it runs.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dltoolkit.runs.run import write_json_atomic

if TYPE_CHECKING:
    from dltoolkit.runs import Run

EXPORT_DIR = "export"
ONNX_NAME = "model.onnx"
INFO_NAME = "model.json"
SERVE_LOG = "serve.log"
#: Test samples (or an agent's observations) the export is verified on (ONNX Runtime against PyTorch).
VERIFY_SAMPLES = 64
#: Seconds a new server has to answer ``GET /v2/health/ready``.
READY_TIMEOUT = 60.0


class ExportError(RuntimeError):
    """The run's model cannot be exported to ONNX (the message says why); nothing was written."""


class ServeError(RuntimeError):
    """A model server did not come up; the message ends with the tail of its log."""


# --- ONNX export ----------------------------------------------------------------------------------


def onnx_file(run: Run) -> Path:
    """Where the run's ONNX export goes: ``<run>/export/model.onnx``."""
    return run.path / EXPORT_DIR / ONNX_NAME


def onnx_export_info(run: Run) -> dict[str, Any] | None:
    """What the run's current export holds (``export_run_onnx``'s answer), or ``None`` when there is
    none or it is stale: the file is missing or changed, or the checkpoint changed since."""
    target, info_path = onnx_file(run), run.path / EXPORT_DIR / INFO_NAME
    try:
        info: dict[str, Any] = json.loads(info_path.read_text())
        size = target.stat().st_size
        stamp = run.last_checkpoint.stat().st_mtime_ns
    except (OSError, ValueError):
        return None
    if size != info.get("bytes") or stamp != info.get("checkpoint_mtime_ns"):
        return None
    return info


_export_locks: dict[Path, threading.Lock] = {}
_export_locks_guard = threading.Lock()


def export_run_onnx(run: Run, force: bool = False) -> dict[str, Any]:
    """Export the run's last checkpoint to ``<run>/export/model.onnx`` (``export_onnx``: dynamic batch,
    ``onnx.checker``, onnxruntime parity on up to 64 test images) and return what was written:

        {"file": "/…/export/model.onnx", "filename": "<run id>.onnx", "bytes": 9315, "opset": 18,
         "max_abs_diff": 4.7e-07, "tolerance": 0.0001, "verified_on": "64 test samples", …, "reused": False}

    The existing export is answered (``"reused": True``) unless the checkpoint changed since, or
    ``force``. Raises ``FileNotFoundError`` without a checkpoint, ``ExportError`` for a model that
    cannot be exported (nothing is written then), and what ``run.load()`` raises for one that cannot
    be loaded. Concurrent calls for one run export once.
    """
    from dltoolkit.deploy.onnx_export import TOLERANCE, export_onnx

    if not run.last_checkpoint.is_file():
        raise FileNotFoundError(f"run {run.run_id!r} has no checkpoint to export")
    with _export_locks_guard:
        lock = _export_locks.setdefault(run.path, threading.Lock())
    with lock:
        current = None if force else onnx_export_info(run)
        if current is not None:
            return {**current, "file": str(onnx_file(run)), "reused": True}  # (a runs root moved since)
        # the stamp read before loading: a checkpoint written meanwhile makes this export stale
        stamp = run.last_checkpoint.stat().st_mtime_ns
        model, data = run.load()
        inputs, verified_on = _verification_inputs(model, data)
        target = onnx_file(run)
        partial = target.with_name(f".{target.name}.partial")
        try:
            result = export_onnx(model, partial, inputs=inputs)
        except Exception as exc:  # torch.onnx raises many kinds; every one means "cannot be exported"
            partial.unlink(missing_ok=True)
            text = str(exc).strip()
            detail = text.splitlines()[0][:400] if text else type(exc).__name__  # its first line says why
            raise ExportError(f"{type(model).__name__} cannot be exported to ONNX: {detail}") from exc
        os.replace(partial, target)
        info = {
            "run_id": run.run_id,
            "file": str(target),
            "filename": f"{run.run_id}.onnx",
            "bytes": result.size_bytes,
            "opset": result.opset,
            "max_abs_diff": result.max_abs_diff,
            "tolerance": TOLERANCE,
            "verified_batch_sizes": list(result.verified_batch_sizes),
            "verified_on": verified_on,
            "input_shape": [int(d) for d in inputs.shape[1:]],
            "checkpoint_mtime_ns": stamp,
            "exported_at": time.time(),
        }
        write_json_atomic(target.with_name(INFO_NAME), info)
        return {**info, "reused": False}


def _verification_inputs(model: Any, data: Any) -> tuple[Any, str]:
    """The batch to check ONNX Runtime against PyTorch on: the first test samples of the run's data
    (what the model takes, normalised) when they load, observations of random play for an RL agent,
    else the model's ``example_input_array``."""
    import torch

    example = getattr(model, "example_input_array", None)
    if not isinstance(example, torch.Tensor):
        raise ExportError(f"{type(model).__name__} has no example_input_array to trace an export with")
    env_id = getattr(data, "env_id", None)
    if env_id is not None:  # an RL agent: what its environment shows it
        from dltoolkit.rl.envs import random_play_observations

        observations = torch.from_numpy(random_play_observations(env_id, VERIFY_SAMPLES))
        return observations.to(example.dtype), f"{VERIFY_SAMPLES} observations of random play in {env_id}"
    try:
        data.setup("test")
        test_set = data.test_set
        n = min(len(test_set), VERIFY_SAMPLES)
        batch = torch.stack([torch.as_tensor(test_set[i][0], dtype=example.dtype) for i in range(n)])
    except Exception as exc:  # any data module, any failure: real data is a bonus here, not a need
        return example, f"the model's example input (the test data could not be read: {str(exc)[:200]})"
    if n == 0 or tuple(batch.shape[1:]) != tuple(example.shape[1:]):
        return example, "the model's example input (the test samples are not what the model takes)"
    return batch, f"{n} test samples"


# --- serving --------------------------------------------------------------------------------------


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# requests to our own server on localhost never go through an HTTP proxy set in the environment
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(url: str, timeout: float = 2.0) -> Any:
    """The JSON of ``GET url``; ``None`` when it cannot be had (not listening yet, not 200, not JSON)."""
    try:
        with _opener.open(url, timeout=timeout) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError):  # URLError, a refused or reset connection, a timeout, bad JSON
        return None


@dataclass
class RunServer:
    """One ``dltoolkit serve`` process serving a run's last checkpoint on ``host:port``."""

    run_id: str
    run_path: Path
    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    input_shape: list[int] | None = None

    @classmethod
    def spawn(cls, run: Run, host: str = "127.0.0.1") -> RunServer:
        """Start ``python -m dltoolkit.cli serve <run> --port <free port>``, its output in ``serve.log``."""
        name = run.run_id.split("__")[0]  # what `dltoolkit serve` names a run's model by default
        port = _free_port(host)
        cmd = [
            sys.executable, "-m", "dltoolkit.cli", "serve", str(run.path),
            "--name", name, "--host", host, "--port", str(port),
        ]  # fmt: skip
        with (run.path / SERVE_LOG).open("wb") as log:  # a fresh log: it tells of this server only
            log.write(f"$ {shlex.join(cmd)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # a Ctrl-C in the Jupyter server's terminal is not for it
            )  # fmt: skip
        return cls(run.run_id, run.path, name, host, port, process)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        """The last ``lines`` lines of ``serve.log``."""
        try:
            with (self.run_path / SERVE_LOG).open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Return once ``GET /v2/health/ready`` says ready (polled without blocking the event loop);
        ``ServeError`` if the process exits first or ``timeout`` s pass."""
        deadline = time.monotonic() + timeout
        while not self.ready:
            code = self.process.poll()
            if code is not None:
                raise ServeError(
                    f"the model server exited (code {code}) before it was ready; "
                    f"{SERVE_LOG} ends with:\n{self.log_tail()}"
                )
            answer = await asyncio.to_thread(_get_json, f"{self.url}/v2/health/ready")
            if isinstance(answer, dict) and answer.get("ready") is True:
                metadata = await asyncio.to_thread(_get_json, f"{self.url}/v2/models/{self.name}")
                with contextlib.suppress(TypeError, KeyError, IndexError, ValueError):
                    self.input_shape = [int(d) for d in metadata["inputs"][0]["shape"][1:]]
                self.ready = True
                return
            if time.monotonic() > deadline:
                raise ServeError(
                    f"the model server was not ready after {timeout:g} s; "
                    f"{SERVE_LOG} ends with:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.2)

    def describe(self) -> dict[str, Any]:
        """The server's state: URLs and an example request while it runs; exit code and log tail after."""
        if not self.alive():
            return {
                "serving": False, "run_id": self.run_id, "name": self.name, "port": self.port,
                "exit_code": self.process.returncode, "log": str(self.run_path / SERVE_LOG),
                "log_tail": self.log_tail(),
            }  # fmt: skip
        predict_url = f"{self.url}/v1/models/{self.name}:predict"
        return {
            "serving": self.ready,
            "starting": not self.ready,
            "run_id": self.run_id,
            "name": self.name,
            "pid": self.process.pid,
            "host": self.host,
            "port": self.port,
            "url": self.url,
            "predict_url": predict_url,
            "infer_url": f"{self.url}/v2/models/{self.name}/infer",
            "health_url": f"{self.url}/v2/health/ready",
            "input_shape": self.input_shape,
            "example": example_request(predict_url, self.input_shape) if self.input_shape else None,
            "log": str(self.run_path / SERVE_LOG),
            "started_at": self.started_at,
        }

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM to its process group; uvicorn shuts down gracefully)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL."""
        self.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def example_request(predict_url: str, input_shape: list[int]) -> str:
    """A shell command that sends one all-zero instance to a TF Serving ``:predict`` URL (the body is
    built by Python, so it stays one short line for any input shape).

        example_request("http://127.0.0.1:8500/v1/models/mlp:predict", [1, 8, 8])
        # python3 -c 'import json; print(json.dumps({"instances": [[[[0.0]*8]*8]*1]}))' |
        #   curl -s -H 'Content-Type: application/json' -d @- http://127.0.0.1:8500/v1/models/mlp:predict
    """
    instance = "0.0"
    for size in reversed(input_shape):
        instance = f"[{instance}]*{int(size)}"
    body = f'import json; print(json.dumps({{"instances": [{instance}]}}))'
    return (
        f"python3 -c {shlex.quote(body)} | curl -s -H 'Content-Type: application/json' "
        f"-d @- {shlex.quote(predict_url)}"
    )


class RunServers:
    """The model servers this process started, one per run, shared by every caller in the process (the
    Jupyter server extension's handlers). Each is stopped when the process exits (``atexit``)."""

    _servers: ClassVar[dict[Path, RunServer]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()
    _exit_hook: ClassVar[bool] = False
    #: seconds a new server has to answer ready
    ready_timeout = READY_TIMEOUT
    #: tries with a new free port when another process took the one picked (between pick and bind)
    port_tries = 3

    @classmethod
    def stop_all_at_exit(cls) -> None:
        """Stop every server when this process exits (registered once, however often called)."""
        with cls._lock:
            if not cls._exit_hook:
                atexit.register(cls.stop_all)
                cls._exit_hook = True

    @classmethod
    async def start(cls, run: Run, host: str = "127.0.0.1", timeout: float | None = None) -> dict[str, Any]:
        """Serve the run's last checkpoint and return ``RunServer.describe()`` once it answers; the
        running server of the run if there is one (a second call waits for the same process). A server
        that does not come up within ``timeout`` s (default ``ready_timeout``) is killed, and a
        ``ServeError`` carries its log's tail."""
        cls.stop_all_at_exit()
        timeout = cls.ready_timeout if timeout is None else timeout
        for attempt in range(1, cls.port_tries + 1):
            with cls._lock:
                server = cls._servers.get(run.path)
                if server is None or not server.alive():
                    server = cls._servers[run.path] = RunServer.spawn(run, host)
            try:
                await server.wait_ready(timeout)
            except ServeError:
                await asyncio.to_thread(server.stop)  # kept in the registry: its state tells why it died
                if attempt < cls.port_tries and "address already in use" in server.log_tail().lower():
                    continue
                raise
            return server.describe()
        raise AssertionError("unreachable: the last try returns or raises")

    @classmethod
    def state(cls, run: Run) -> dict[str, Any]:
        """``{"serving": False, "run_id": …}`` if this process never served the run (or stopped it);
        else ``RunServer.describe()``: the URLs while it runs, its exit code and log tail if it died."""
        with cls._lock:
            server = cls._servers.get(run.path)
        return server.describe() if server is not None else {"serving": False, "run_id": run.run_id}

    @classmethod
    def stop(cls, run: Run, timeout: float = 10.0) -> dict[str, Any]:
        """Stop the run's server (if any) and forget it; blocks until it has exited."""
        with cls._lock:
            server = cls._servers.pop(run.path, None)
        if server is not None:
            server.stop(timeout)
        return {"serving": False, "run_id": run.run_id}

    @classmethod
    def stop_all(cls, timeout: float = 10.0) -> None:
        """Stop every server: SIGTERM to all at once, then wait (SIGKILL past ``timeout`` s)."""
        with cls._lock:
            servers = list(cls._servers.values())
            cls._servers.clear()
        for server in servers:
            server.terminate()
        for server in servers:
            server.stop(timeout)

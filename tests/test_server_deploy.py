"""The sidebar's deployment routes through a real Jupyter server (``jp_fetch``): export a finished run to
ONNX and download it, serve it (a real ``dltoolkit serve`` process answering TF Serving requests), stop it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tornado.httpclient

pytest_plugins = ("pytest_jupyter.jupyter_server",)

#: A 2-epoch MLP on digits, 3 batches an epoch: a finished run with a checkpoint in seconds.
TINY = {
    "model_args": {"hidden_sizes": [8]},
    "data_args": {"batch_size": 128},
    "trainer_args": {"max_epochs": 2, "limit_train_batches": 3, "limit_val_batches": 1},
}


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"dltoolkit": True}}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run folder, trained once for the module (each test copies it)."""
    from dltoolkit.runs import launch

    run = launch("mlp", "digits", runs_root=tmp_path_factory.mktemp("runs"), **TINY)
    status = run.wait(timeout=180)
    assert status["state"] == "finished", run.logs()
    return run.path


@pytest.fixture
def runs_root(jp_root_dir: Path) -> Path:
    return jp_root_dir / "dltoolkit-runs"


@pytest.fixture
def run_id(trained: Path, runs_root: Path) -> Iterator[str]:
    """The trained run, copied into this test's runs root; every model server stopped afterwards."""
    from dltoolkit.deploy.run_actions import RunServers

    shutil.copytree(trained, runs_root / trained.name)
    yield trained.name
    RunServers.stop_all()


async def api(jp_fetch: Any, *parts: str, method: str = "GET", **kw: Any) -> Any:
    if method == "POST":
        kw.setdefault("body", b"")
    response = await jp_fetch("dltoolkit", "api", *parts, method=method, request_timeout=120, **kw)
    return json.loads(response.body) if response.body else None


async def refused(jp_fetch: Any, *parts: str, method: str = "GET") -> tuple[int, str]:
    """The code and message of a request that must fail (never with a 5xx)."""
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await api(jp_fetch, *parts, method=method)
    assert err.value.code < 500, err.value.response.body
    return err.value.code, json.loads(err.value.response.body)["message"]


def model_and_inputs(run_dir: Path) -> tuple[Any, np.ndarray]:
    """The run's trained model and 16 of its test images, as the model takes them."""
    import torch

    from dltoolkit.runs import Run

    model, data = Run.open(run_dir).load()
    data.setup("test")
    images = torch.stack([data.test_set[i][0] for i in range(16)])
    return model, images.numpy()


async def test_export_download_and_reexport_after_a_new_checkpoint(
    jp_fetch: Any, run_id: str, runs_root: Path
) -> None:
    import onnxruntime as ort
    import torch

    code, message = await refused(jp_fetch, "runs", run_id, "onnx")
    assert code == 404 and "no ONNX export yet" in message

    info = await api(jp_fetch, "runs", run_id, "onnx", method="POST")
    target = runs_root / run_id / "export" / "model.onnx"
    assert info["file"] == str(target) and target.is_file()
    assert info["bytes"] == target.stat().st_size > 0
    assert info["max_abs_diff"] <= 1e-4 and info["opset"] >= 17
    assert info["verified_on"] == "64 test samples" and info["input_shape"] == [1, 8, 8]
    assert info["filename"] == f"{run_id}.onnx" and info["reused"] is False
    assert json.loads((target.parent / "model.json").read_text())["bytes"] == info["bytes"]

    again = await api(jp_fetch, "runs", run_id, "onnx", method="POST")  # nothing changed: no new export
    assert again["reused"] is True and again["exported_at"] == info["exported_at"]

    response = await jp_fetch("dltoolkit", "api", "runs", run_id, "onnx")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{run_id}.onnx"'
    assert response.body == target.read_bytes()
    session = ort.InferenceSession(response.body, providers=["CPUExecutionProvider"])  # the bytes themselves
    model, images = model_and_inputs(runs_root / run_id)
    (got,) = session.run(None, {session.get_inputs()[0].name: images})
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    assert got.shape == (16, 10) and np.abs(got - expected).max() <= 1e-4

    checkpoint = runs_root / run_id / "checkpoints" / "last.ckpt"
    stamp = checkpoint.stat().st_mtime_ns + 1_000_000_000
    os.utime(checkpoint, ns=(stamp, stamp))  # a resumed run wrote a new checkpoint
    fresh = await api(jp_fetch, "runs", run_id, "onnx", method="POST")
    assert fresh["reused"] is False and fresh["exported_at"] > info["exported_at"]


async def test_a_model_that_cannot_be_exported_is_a_409_and_leaves_no_file(
    jp_fetch: Any, run_id: str, runs_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dltoolkit.deploy.onnx_export

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("torch.export failed: unsupported operator\nmore lines")

    monkeypatch.setattr(dltoolkit.deploy.onnx_export, "export_onnx", fails)
    code, message = await refused(jp_fetch, "runs", run_id, "onnx", method="POST")
    assert code == 409
    assert message == "MLP cannot be exported to ONNX: torch.export failed: unsupported operator"  # line 1
    assert not list((runs_root / run_id / "export").glob("*"))


async def test_runs_that_train_have_no_checkpoint_or_are_unknown_are_refused(
    jp_fetch: Any, runs_root: Path
) -> None:
    for state in ("running", "failed"):
        run = runs_root / f"mlp__digits__0__20250101-000000-{state[:4]}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text("model: {}\n")
        (run / "status.json").write_text(json.dumps({"state": state}))
        for route in ("onnx", "serve"):
            code, message = await refused(jp_fetch, "runs", run.name, route, method="POST")
            assert code == 409
            assert ("once it has finished" if state == "running" else "no checkpoint") in message
        assert (await api(jp_fetch, "runs", run.name, "serve")) == {"serving": False, "run_id": run.name}
    for route, method in [("onnx", "GET"), ("onnx", "POST"), ("serve", "GET"), ("serve", "POST"),
                          ("serve", "DELETE")]:  # fmt: skip
        assert (await refused(jp_fetch, "runs", "no_such_run", route, method=method))[0] == 404
        with pytest.raises(tornado.httpclient.HTTPClientError) as err:  # no token
            await api(jp_fetch, "runs", "no_such_run", route, method=method, headers={"Authorization": ""})
        assert err.value.code == 403


async def test_a_corrupt_checkpoint_is_a_409_for_export_and_serve(
    jp_fetch: Any, run_id: str, runs_root: Path
) -> None:
    (runs_root / run_id / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    code, message = await refused(jp_fetch, "runs", run_id, "onnx", method="POST")
    assert code == 409 and "cannot be loaded" in message
    code, message = await refused(jp_fetch, "runs", run_id, "serve", method="POST")
    assert code == 409 and "exited" in message and "serve.log ends with" in message
    state = await api(jp_fetch, "runs", run_id, "serve")  # the dead server: its exit code and log
    assert state["serving"] is False and state["exit_code"] != 0 and "dltoolkit" in state["log_tail"]


def predict(url: str, instances: list[Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps({"instances": instances}).encode(), headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_serve_predict_state_idempotence_death_and_stop(
    jp_fetch: Any, run_id: str, runs_root: Path
) -> None:
    assert await api(jp_fetch, "runs", run_id, "serve") == {"serving": False, "run_id": run_id}
    server = await api(jp_fetch, "runs", run_id, "serve", method="POST")
    assert server["serving"] is True and server["name"] == "mlp"
    assert server["url"] == f"http://127.0.0.1:{server['port']}"
    assert server["predict_url"] == f"{server['url']}/v1/models/mlp:predict"
    assert server["infer_url"] == f"{server['url']}/v2/models/mlp/infer"
    assert server["input_shape"] == [1, 8, 8] and server["predict_url"] in server["example"]

    model, images = model_and_inputs(runs_root / run_id)
    answer = await asyncio.to_thread(predict, server["predict_url"], images[:2].tolist())
    predictions = np.asarray(answer["predictions"])
    import torch

    with torch.no_grad():
        expected = model(torch.from_numpy(images[:2])).numpy()
    assert predictions.shape == (2, 10) and np.abs(predictions - expected).max() <= 1e-4
    # the example command, run as a user would paste it
    example = await asyncio.to_thread(
        subprocess.run, ["sh", "-c", server["example"]], capture_output=True, text=True, timeout=60
    )
    assert len(json.loads(example.stdout)["predictions"][0]) == 10, example

    assert await api(jp_fetch, "runs", run_id, "serve") == server
    assert (await api(jp_fetch, "runs", run_id, "serve", method="POST"))["pid"] == server["pid"]  # the same

    os.kill(server["pid"], signal.SIGKILL)  # it dies: reported as not serving, with why
    for _ in range(50):
        state = await api(jp_fetch, "runs", run_id, "serve")
        if not state["serving"]:
            break
        await asyncio.sleep(0.1)
    assert state["serving"] is False and state["exit_code"] == -signal.SIGKILL and "log_tail" in state
    assert "serving 'mlp'" in (runs_root / run_id / "serve.log").read_text()

    restarted = await api(jp_fetch, "runs", run_id, "serve", method="POST")
    assert restarted["serving"] is True and restarted["pid"] != server["pid"]
    stopped = await api(jp_fetch, "runs", run_id, "serve", method="DELETE")
    assert stopped == {"serving": False, "run_id": run_id} and gone(restarted["pid"])
    assert await api(jp_fetch, "runs", run_id, "serve") == {"serving": False, "run_id": run_id}
    assert await api(jp_fetch, "runs", run_id, "serve", method="DELETE") == stopped  # idempotent too


async def test_a_server_that_is_not_ready_in_time_is_killed(
    jp_fetch: Any, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dltoolkit.deploy.run_actions import RunServers

    monkeypatch.setattr(RunServers, "ready_timeout", 0.3)  # far too short to import torch
    code, message = await refused(jp_fetch, "runs", run_id, "serve", method="POST")
    assert code == 409 and "not ready after 0.3 s" in message and "serve.log ends with:\n$ " in message
    state = await api(jp_fetch, "runs", run_id, "serve")
    assert state["serving"] is False and state["exit_code"] is not None


async def test_deleting_a_run_stops_its_server(jp_fetch: Any, run_id: str, runs_root: Path) -> None:
    server = await api(jp_fetch, "runs", run_id, "serve", method="POST")
    await api(jp_fetch, "runs", run_id, method="DELETE")
    assert gone(server["pid"]) and not (runs_root / run_id).exists()


def test_a_jupyter_server_that_stops_stops_its_model_servers(trained: Path, tmp_path: Path) -> None:
    """The extension's exit hook: SIGTERM to ``jupyter server`` (what ``jupyter server stop`` and
    JupyterHub send) ends the model servers it started, which live in sessions of their own."""
    import secrets
    import socket
    import sys
    import time

    shutil.copytree(trained, tmp_path / "runs" / trained.name)
    token = secrets.token_hex(16)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
        "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={tmp_path}",
    ]  # fmt: skip
    env = {**os.environ, "DLTOOLKIT_RUNS": str(tmp_path / "runs")}
    jupyter = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/dltoolkit/api/{path}", method=method,
            data=b"" if method == "POST" else None, headers={"Authorization": f"token {token}"},
        )  # fmt: skip
        with opener.open(request, timeout=120) as response:
            return json.loads(response.read())

    pid = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                call("runs")
                break
            except OSError:
                assert time.monotonic() < deadline and jupyter.poll() is None, "jupyter server did not start"
                time.sleep(0.2)
        pid = call(f"runs/{trained.name}/serve", "POST")["pid"]
        jupyter.send_signal(signal.SIGTERM)
        jupyter.wait(timeout=60)
        assert gone(pid)
    finally:
        if jupyter.poll() is None:
            jupyter.kill()
        if pid is not None and not gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_an_agent_export_is_verified_on_observations_of_its_environment() -> None:
    from dltoolkit.catalog import create_data, create_model
    from dltoolkit.deploy.run_actions import _verification_inputs

    data = create_data("acrobot")
    agent = create_model("ppo", data=data)
    inputs, verified_on = _verification_inputs(agent, data)
    assert tuple(inputs.shape) == (64, 6) and verified_on == "64 observations of random play in Acrobot-v1"
    assert inputs.abs().max() > 0.1  # real states, not the all-zero example input

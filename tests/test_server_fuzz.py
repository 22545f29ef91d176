"""Malformed and hostile requests against a real ``jupyter server`` process: never a 5xx answer.

Hypothesis draws the bodies, paths and query strings (over 250 requests in all); the server runs as a
subprocess with a token, under a non-root ``base_url``, so every request crosses the real HTTP stack.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

BASE = "/fuzz/"
HOSTILE_TEXT = st.sampled_from(
    ["..", "../../etc/passwd", "/etc/passwd", "%2e%2e", "\x00", "a" * 300, "runs", "{}"]
)
TEXT = st.one_of(st.text(max_size=20), HOSTILE_TEXT)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
FIELDS = st.sampled_from(["model", "data", "model_args", "data_args", "trainer_args", "seed", "x"])
# bodies shaped like launch requests, but never naming a real model, so nothing trains
LAUNCH = st.dictionaries(FIELDS, JSON, max_size=6).map(lambda d: {**d, "model": d.get("model", "nope")})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    root = tmp_path_factory.mktemp("server")
    token = secrets.token_hex(16)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DLTOOLKIT_RUNS": str(root / "runs")}
    cmd = [
        sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
        "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.base_url={BASE}",
        f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}{BASE}dltoolkit/api/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(url + "catalog", headers=_auth(token)), timeout=30)
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.2)
    yield url, token, root / "runs"
    proc.terminate()
    proc.wait(timeout=20)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def request(url: str, token: str, method: str = "GET", body: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method, headers=_auth(token))
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


FUZZ = settings(max_examples=90, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=st.one_of(LAUNCH, JSON.map(json.dumps).map(str.encode), st.binary(max_size=64)))
def test_launch_bodies(server: tuple[str, str, Path], body: Any) -> None:
    url, token, runs = server
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    assert request(url + "runs", token, "POST", data) in (400,)
    assert not runs.exists() or not any(runs.iterdir()), "a malformed request launched a run"


@FUZZ
@given(
    run_id=TEXT,
    tail=st.sampled_from(
        [
            "",
            "metrics",
            "logs",
            "stop",
            "resume",
            "events",
            "samples",
            "explain",
            "attack",
            "onnx",
            "serve",
            "x/y",
        ]
    ),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
)
def test_run_paths(server: tuple[str, str, Path], run_id: str, tail: str, method: str) -> None:
    assume(run_id or tail)  # "runs/" is the list of runs itself
    url, token, _ = server
    path = urllib.parse.quote(run_id, safe="") + (f"/{tail}" if tail else "")
    code = request(url + "runs/" + path, token, method, b"" if method in ("POST", "PUT") else None)
    assert code < 500, (method, path, code)
    assert code in (400, 404, 405), (method, path, code)  # no such run exists


INSPECT = st.fixed_dictionaries(
    {"index": st.one_of(st.integers(-5, 10**6), TEXT, st.none())},
    optional={
        "method": st.one_of(TEXT, st.sampled_from(["saliency", "grad_cam"])),
        "target": st.one_of(st.integers(-5, 50), st.none(), TEXT),
        "attack": st.one_of(TEXT, st.sampled_from(["pgd", "cw"])),
        "eps": st.one_of(st.floats(allow_nan=True), st.integers(), TEXT),
        "smoothgrad": st.one_of(st.booleans(), TEXT),
        "curve": st.one_of(st.booleans(), st.integers()),
    },
)


@FUZZ
@given(route=st.sampled_from(["explain", "attack"]), body=st.one_of(INSPECT, JSON, st.binary(max_size=64)))
def test_explain_and_attack_bodies(server: tuple[str, str, Path], route: str, body: Any) -> None:
    """On a finished run without a checkpoint: a malformed body is a 400, a well-formed one a 409."""
    url, token, runs = server
    run = runs / "mlp__digits__0__20250101-000000-fuzz"
    if not run.exists():
        run.mkdir(parents=True)
        (run / "config.yaml").write_text("model: {}\n")
        (run / "status.json").write_text(json.dumps({"state": "finished"}))
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert request(url + f"runs/{run.name}/{route}", token, "POST", data) in (400, 409)


@FUZZ
@given(since=TEXT, tail=TEXT)
def test_query_strings(server: tuple[str, str, Path], since: str, tail: str) -> None:
    url, token, _ = server
    query = urllib.parse.urlencode({"since": since, "tail": tail})
    assert request(url + f"runs/nope/metrics?{query}", token) in (400, 404)
    assert request(url + f"catalog?{query}", token) == 200

"""The Jupyter server extension, through a real Jupyter server (pytest-jupyter's ``jp_fetch``)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from typing import Any

import pytest
import tornado.httpclient

pytest_plugins = ("pytest_jupyter.jupyter_server",)


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"dltoolkit": True}}}


async def test_catalog_lists_topics_models_schemas_and_data(jp_fetch: Any) -> None:
    response = await jp_fetch("dltoolkit", "api", "catalog")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.body)
    models = {m["name"]: m for m in body["models"]}
    assert {"mlp", "lenet", "resnet", "vgg", "inception"} <= set(models)
    mlp = models["mlp"]
    assert mlp["topic"] == "mlp" and mlp["data"] == "digits"
    assert mlp["target"]["metric"] == "test/acc" and mlp["target"]["threshold"] == 0.97
    assert mlp["schema"]["properties"]["activation"]["enum"][0] == "relu"
    assert models["lenet"]["schema"]["properties"]["input_shape"]["default"] == [1, 28, 28]
    assert len(body["topics"]) == 17
    cnn = next(t for t in body["topics"] if t["key"] == "cnn")
    assert "resnet" in cnn["models"]
    data = {d["name"]: d for d in body["data"]}
    assert data["image_folder"]["schema"]["required"] == ["root"]


async def test_requests_without_a_token_are_refused(jp_fetch: Any) -> None:
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_fetch("dltoolkit", "api", "catalog", headers={"Authorization": ""})  # no token
    assert err.value.code == 403


async def test_unknown_route_is_a_404(jp_fetch: Any) -> None:
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_fetch("dltoolkit", "api", "nothing-here")
    assert err.value.code == 404


def test_the_extension_is_enabled_by_installing_the_package() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # drop the colour codes
    assert "dltoolkit enabled" in text
    assert re.search(r"dltoolkit [0-9.]+ OK", text), text


async def test_openapi_document_matches_the_routes(jp_fetch: Any) -> None:
    from dltoolkit.server.handlers import RUN_ID, routes

    doc = json.loads((await jp_fetch("dltoolkit", "api", "openapi.json")).body)
    assert doc["openapi"].startswith("3.")
    documented = {(path, verb) for path, ops in doc["paths"].items() for verb in ops}
    served = set()
    for pattern, handler in routes("/"):
        for verb in ("get", "post", "put", "patch", "delete"):
            if getattr(handler, verb) is not getattr(tornado.web.RequestHandler, verb):
                served.add((pattern.replace(RUN_ID, "{run_id}"), verb))  # the verbs it implements
    assert documented == served
    for ops in doc["paths"].values():
        for op in ops.values():
            assert {"200", "201", "204"} & set(op["responses"]) and "403" in op["responses"]


# --- runs through the API ------------------------------------------------------------------------

TINY = {
    "model": "mlp",
    "model_args": {"hidden_sizes": [8]},
    "data_args": {"batch_size": 128},
    "trainer_args": {
        "max_epochs": 2,
        "limit_train_batches": 3,
        "limit_val_batches": 1,
        "log_every_n_steps": 1,
    },
}


@pytest.fixture
def runs_root(jp_root_dir: Any) -> Any:
    """Where the extension puts runs by default: ``dltoolkit-runs/`` under the folder Jupyter serves."""
    return jp_root_dir / "dltoolkit-runs"


async def api(jp_fetch: Any, *parts: str, method: str = "GET", body: Any = None, **kw: Any) -> Any:
    kwargs: dict[str, Any] = {"method": method, **kw}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    elif method in ("POST", "PUT"):
        kwargs["body"] = b""
    response = await jp_fetch("dltoolkit", "api", *parts, **kwargs)
    return json.loads(response.body) if response.body else None


async def wait_state(jp_fetch: Any, run_id: str, states: tuple[str, ...], timeout: float = 120) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await api(jp_fetch, "runs", run_id)
        if status["state"] in states:
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached {states}: {status}")


async def test_launch_watch_and_delete_a_run(jp_fetch: Any, runs_root: Any) -> None:
    created = await api(jp_fetch, "runs", method="POST", body=TINY)
    run_id = created["run_id"]
    assert created["state"] in ("queued", "running")
    assert (runs_root / run_id / "config.yaml").is_file()  # in the configured runs root
    listed = await api(jp_fetch, "runs")
    assert [r["run_id"] for r in listed["runs"]] == [run_id]
    status = await wait_state(jp_fetch, run_id, ("finished", "failed"))
    assert status["state"] == "finished", await api(jp_fetch, "runs", run_id, "logs")
    assert status["config"]["model"]["class_path"] == "dltoolkit.models.mlp.MLP"
    assert status["command"] == f"dltoolkit fit --config {runs_root / run_id / 'config.yaml'}"
    assert "class_path: dltoolkit.models.mlp.MLP" in status["config_yaml"]
    first = await api(jp_fetch, "runs", run_id, "metrics")
    assert first["next"] == len(first["rows"]) > 0
    assert any("train/loss" in row for row in first["rows"])
    assert any("val/acc" in row for row in first["rows"])
    times = [row["time"] for row in first["rows"]]  # wall clock of each row, in logging order
    assert times == sorted(times) and times[0] > 1.7e9
    later = await api(jp_fetch, "runs", run_id, "metrics", params={"since": first["next"] - 1})
    assert later["rows"] == first["rows"][-1:]
    logs = await api(jp_fetch, "runs", run_id, "logs", params={"tail": 5})
    assert isinstance(logs["text"], str) and len(logs["text"].splitlines()) <= 5
    await api(jp_fetch, "runs", run_id, method="DELETE")
    assert not (runs_root / run_id).exists()
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await api(jp_fetch, "runs", run_id)
    assert err.value.code == 404


async def test_events_stream_status_and_every_metric_row(jp_fetch: Any, runs_root: Any) -> None:
    run_id = (await api(jp_fetch, "runs", method="POST", body=TINY))["run_id"]
    response = await jp_fetch("dltoolkit", "api", "runs", run_id, "events", request_timeout=120)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [block for block in response.body.decode().split("\n\n") if block.strip()]
    states = [json.loads(e.split("data: ", 1)[1])["state"] for e in events if e.startswith("event: status")]
    assert states[-1] == "finished"
    streamed = [
        row
        for e in events
        if e.startswith("event: metrics")
        for row in json.loads(e.split("data: ", 1)[1])["rows"]
    ]
    assert streamed == (await api(jp_fetch, "runs", run_id, "metrics"))["rows"]  # none lost, none twice


async def test_events_say_reset_when_the_metrics_start_over(jp_fetch: Any, runs_root: Any) -> None:
    """A run whose metrics.csv is replaced (a resume without a checkpoint restarts) streams the new
    rows from the first, marked ``reset``; rows already streamed are not sent again."""
    run = runs_root / "mlp__digits__0__20250101-000000-abcd"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model: {}\n")
    status = run / "status.json"
    status.write_text(json.dumps({"state": "running", "epoch": 0}))
    metrics = run / "metrics.csv"
    metrics.write_text("epoch,step,train/loss\n0,0,2.0\n0,1,1.5\n0,2,1.0\n")
    received = bytearray()
    stream = asyncio.ensure_future(
        jp_fetch(
            "dltoolkit", "api", "runs", run.name, "events", params={"since": 1},
            streaming_callback=received.extend, request_timeout=60,
        )
    )  # fmt: skip

    def pages() -> list[dict[str, Any]]:
        blocks = received.decode().split("\n\n")[:-1]  # complete events only
        return [json.loads(b.split("data: ", 1)[1]) for b in blocks if b.startswith("event: metrics")]

    async def until(n_pages: int) -> None:
        async with asyncio.timeout(30):
            while len(pages()) < n_pages:
                await asyncio.sleep(0.02)

    await until(1)
    metrics.unlink()
    await until(2)
    metrics.write_text("epoch,step,train/loss\n0,0,2.2\n")
    await until(3)
    status.write_text(json.dumps({"state": "finished", "epoch": 1}))
    await stream  # the stream ends after a final state
    first_rows = [{"epoch": 0, "step": 1, "train/loss": 1.5}, {"epoch": 0, "step": 2, "train/loss": 1.0}]
    assert pages() == [
        {"rows": first_rows, "next": 3},
        {"rows": [], "next": 0, "reset": True},  # the file went away: the rows start over
        {"rows": [{"epoch": 0, "step": 0, "train/loss": 2.2}], "next": 1},
    ]


async def test_stop_then_resume_through_the_api(jp_fetch: Any, runs_root: Any) -> None:
    long_run = {**TINY, "trainer_args": {"max_epochs": 400, "limit_val_batches": 1, "log_every_n_steps": 1}}
    run_id = (await api(jp_fetch, "runs", method="POST", body=long_run))["run_id"]
    await wait_state(jp_fetch, run_id, ("running",))
    while (await api(jp_fetch, "runs", run_id)).get("step", 0) < 2:  # trained a little: a checkpoint to keep
        await asyncio.sleep(0.1)
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await api(jp_fetch, "runs", run_id, method="DELETE")
    assert err.value.code == 409
    stopped = await api(jp_fetch, "runs", run_id, "stop", method="POST", request_timeout=60)
    assert stopped["state"] == "stopped"
    assert (runs_root / run_id / "checkpoints" / "last.ckpt").is_file()
    resumed = await api(jp_fetch, "runs", run_id, "resume", method="POST")
    assert resumed["state"] in ("queued", "running")
    await api(jp_fetch, "runs", run_id, "stop", method="POST", request_timeout=60)


async def test_explain_and_attack_a_finished_run(jp_fetch: Any, runs_root: Any) -> None:
    run_id = (await api(jp_fetch, "runs", method="POST", body={**TINY, "trainer_args": {"max_epochs": 3}}))[
        "run_id"
    ]
    await wait_state(jp_fetch, run_id, ("finished",))
    pool = await api(jp_fetch, "runs", run_id, "samples", params={"count": 6}, request_timeout=60)
    assert pool["classes"] == [str(d) for d in range(10)] and pool["total"] > 6
    assert [s["index"] for s in pool["samples"]] == list(range(6))
    assert all(s["image"].startswith("data:image/png;base64,") for s in pool["samples"])

    post = {"method": "POST", "request_timeout": 120}
    shown = await api(jp_fetch, "runs", run_id, "explain", body={"index": 2, "method": "saliency"}, **post)
    assert shown["label"] == pool["samples"][2]["label"] and shown["method"] == "saliency"
    assert (
        shown["target"] == pool["samples"][2]["predicted"] == shown["top"][0]["index"]
    )  # null: the predicted
    assert abs(sum(t["probability"] for t in shown["top"]) - 1) < 0.5 and len(shown["top"]) == 5
    assert all(shown[k].startswith("data:image/png;base64,") for k in ("image", "overlay", "heatmap"))
    other = await api(jp_fetch, "runs", run_id, "explain", body={"index": 2, "target": 7}, **post)
    assert other["target"] == 7 and other["method"] == "integrated_gradients"

    hit = await api(
        jp_fetch, "runs", run_id, "attack", body={"index": 2, "attack": "PGD", "eps": 0.2}, **post
    )
    assert hit["attack"] == "pgd" and hit["eps"] == 0.2 and 0 < hit["linf"] <= 0.2 + 1e-6
    assert set(hit["images"]) == {"original", "adversarial", "perturbation"}
    curve = hit["curve"]
    assert [p["eps"] for p in curve] == [0.0, 0.05, 0.1, 0.2, 0.3]
    assert curve[-1]["accuracy"] <= curve[0]["accuracy"]  # a stronger attack never helps the model
    deepfool = await api(jp_fetch, "runs", run_id, "attack", body={"index": 0, "attack": "deepfool"}, **post)
    assert deepfool["eps"] is None and deepfool["curve"] is None  # minimum-norm: no budget, no curve

    # bad requests: every problem by field, nothing computed
    answers = []
    for route, body, fields in [
        ("explain", {"index": 0, "method": "saliencyy"}, {"method"}),
        ("explain", {"index": 10_000, "target": 10}, {"index", "target"}),
        ("explain", {"index": -1, "colour": "red"}, {"index", "colour"}),
        ("explain", {"method": "saliency"}, {"index"}),
        ("explain", [1, 2], {""}),
        ("attack", {"index": 0, "attack": "pgdd"}, {"attack"}),
        ("attack", {"index": 0, "eps": -0.1}, {"eps"}),
        ("attack", {"index": 0, "eps": "big"}, {"eps"}),
    ]:
        with pytest.raises(tornado.httpclient.HTTPClientError) as err:
            await api(jp_fetch, "runs", run_id, route, body=body, **post)
        assert err.value.code == 400, (route, body)
        answers.append(json.loads(err.value.response.body))
        assert set(answers[-1]["errors"]) == fields, (route, body, answers[-1])
    assert "did you mean 'saliency'?" in answers[0]["errors"]["method"]
    assert answers[1]["errors"]["target"] == "10 is out of range: the model has 10 classes (0..9)"
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await api(jp_fetch, "runs", run_id, "explain", body={"index": 0, "method": "grad_cam"}, **post)
    assert json.loads(err.value.response.body)["errors"]["method"] == (
        "MLP has no convolution, and grad_cam, layer_conductance explain a convolutional layer: "
        "pick another method"
    )


async def test_inspecting_a_run_that_trains_or_has_no_checkpoint_is_a_409(
    jp_fetch: Any, runs_root: Any
) -> None:
    for state in ("running", "failed"):
        run = runs_root / f"mlp__digits__0__20250101-000000-{state[:4]}"
        run.mkdir(parents=True)
        (run / "config.yaml").write_text("model: {}\n")
        (run / "status.json").write_text(json.dumps({"state": state}))
        for route, body in (("explain", {"index": 0}), ("attack", {"index": 0})):
            with pytest.raises(tornado.httpclient.HTTPClientError) as err:
                await api(jp_fetch, "runs", run.name, route, method="POST", body=body)
            assert err.value.code == 409
            message = json.loads(err.value.response.body)["message"]
            assert ("once it has finished" if state == "running" else "no checkpoint") in message
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await api(jp_fetch, "runs", "nope", "explain", method="POST", body={"index": 0})
    assert err.value.code == 404


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"model": "mlpp"}, {"model"}),
        ({"model": "mlp", "data": "digitz"}, {"data"}),
        ({"model": "mlp", "loggers": ["wandb"]}, {"loggers"}),
        ({"model": "mlp", "data": "image_folder", "data_args": {"root": "/nonexistent"}}, {"data_args"}),
        (
            {"model": "mlp", "model_args": {"dropout": "x", "lrr": 1}},
            {"model_args.dropout", "model_args.lrr"},
        ),
        ({"model": "mlp", "model_args": {"dropout": 2.0}}, {"model_args"}),
        ({"model": "mlp", "trainer_args": {"max_epochs": 0}}, {"trainer_args.max_epochs"}),
        ({"model": "mlp", "seed": "one"}, {"seed"}),
        ({"model": "lenet", "data": "image_folder"}, {"data_args.root"}),
        ([1, 2], {""}),
    ],
)
async def test_invalid_launches_get_per_field_errors(
    jp_fetch: Any, runs_root: Any, body: Any, fields: set[str]
) -> None:
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await api(jp_fetch, "runs", method="POST", body=body)
    assert err.value.code == 400
    answer = json.loads(err.value.response.body)
    assert answer["code"] == 400 and set(answer["errors"]) == fields
    assert not runs_root.exists() or not any(runs_root.iterdir())  # nothing was launched


@pytest.mark.parametrize(
    ("parts", "code"),
    [
        (("runs", "..", "..", "etc"), 404),
        (("runs", "%2e%2e"), 404),
        (("runs", "no_such_run"), 404),
        (("runs", "no_such_run", "metrics"), 404),
        (("runs", "/etc/passwd"), 404),
    ],
)
async def test_hostile_run_ids_never_reach_the_disk(
    jp_fetch: Any, runs_root: Any, parts: tuple[str, ...], code: int
) -> None:
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_fetch("dltoolkit", "api", *parts)
    assert err.value.code == code


async def test_bad_query_and_body_are_400(jp_fetch: Any, runs_root: Any) -> None:
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_fetch("dltoolkit", "api", "runs", method="POST", body=b"{not json")
    assert err.value.code == 400
    assert "not JSON" in json.loads(err.value.response.body)["message"]

"""`dltoolkit serve`: TensorFlow Serving's REST predict API (plain HTTP, as its documentation writes the
requests) and the KServe v2 protocol (`tritonclient.http`), micro-batching, and bad requests (no 5xx)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dltoolkit.catalog import create_model
from dltoolkit.deploy import BackgroundServer, create_app, export_onnx, load_served_model, save


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("mlp", hidden_sizes=[16]).eval()


@pytest.fixture(scope="module")
def server(model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    path = save(model, tmp_path_factory.mktemp("serve") / "digits.safetensors")
    served = load_served_model(path)  # the name comes from the file: "digits"
    app = create_app(served, max_batch=64, max_delay_ms=20)
    with BackgroundServer(app) as url:
        yield url, app


def call(url: str, method: str = "GET", body: Any = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                         **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def expected(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out: np.ndarray = model(torch.as_tensor(x, dtype=torch.float32)).numpy()
    return out


def test_tensorflow_serving_rest_api(server: tuple[str, Any], model: torch.nn.Module) -> None:
    url, _ = server
    x = np.random.default_rng(0).normal(size=(3, 1, 8, 8)).round(3)
    # the row format of the TF Serving REST API: {"instances": [...]} -> {"predictions": [...]}
    code, answer = call(f"{url}/v1/models/digits:predict", "POST", {"instances": x.tolist()})
    assert code == 200
    assert np.allclose(answer["predictions"], expected(model, x), atol=1e-5)
    code, answer = call(f"{url}/v1/models/digits:predict", "POST", {"inputs": x.tolist()})  # columnar
    assert code == 200 and np.allclose(answer["outputs"], expected(model, x), atol=1e-5)
    code, status = call(f"{url}/v1/models/digits")
    assert code == 200 and status["model_version_status"][0]["state"] == "AVAILABLE"
    code, meta = call(f"{url}/v1/models/digits/metadata")
    dims = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]["input"]
    assert code == 200 and [d["size"] for d in dims["tensor_shape"]["dim"]] == ["-1", "1", "8", "8"]


def test_kserve_v2_with_tritonclient(server: tuple[str, Any], model: torch.nn.Module) -> None:
    import tritonclient.http as triton

    url, _ = server
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("digits")
    meta = client.get_model_metadata("digits")
    assert meta["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": [-1, 1, 8, 8]}
    x = np.random.default_rng(1).normal(size=(5, 1, 8, 8)).astype(np.float32)
    tensor = triton.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=False)
    result = client.infer(
        "digits", [tensor], outputs=[triton.InferRequestedOutput("logits", binary_data=False)]
    )
    assert np.allclose(result.as_numpy("logits"), expected(model, x), atol=1e-5)
    with pytest.raises(Exception, match="binary tensor extension is not supported"):
        binary = triton.InferInput("input", list(x.shape), "FP32")
        binary.set_data_from_numpy(x)  # tritonclient's default: binary data
        client.infer("digits", [binary])
    client.close()


def test_concurrent_requests_are_batched_together(server: tuple[str, Any], model: torch.nn.Module) -> None:
    url, app = server
    batcher = app.state.batcher
    before_batches, before_requests = batcher.batches, batcher.requests
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(1, 1, 8, 8)).round(3) for _ in range(16)]

    def predict(x: np.ndarray) -> Any:
        return call(f"{url}/v1/models/digits:predict", "POST", {"instances": x.tolist()})

    with ThreadPoolExecutor(8) as pool:  # concurrency 8
        answers = list(pool.map(predict, inputs))
    for x, (code, answer) in zip(inputs, answers, strict=True):  # every request got its own rows back
        assert code == 200 and np.allclose(answer["predictions"], expected(model, x), atol=1e-5)
    assert batcher.requests - before_requests == 16
    assert batcher.batches - before_batches < 16  # some requests shared a batch


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        (
            "/v1/models/digits:predict",
            {"instances": [[1, 2, 3]]},
            400,
            "must have shape [B, 1, 8, 8], got [1, 3]",
        ),
        ("/v1/models/digits:predict", {"instances": [[["a"] * 8] * 8]}, 400, "must be numbers"),
        ("/v1/models/digits:predict", {"instances": []}, 400, "shape"),
        (
            "/v1/models/digits:predict",
            {"instances": [], "inputs": []},
            400,
            '"instances" (row format) or "inputs"',
        ),
        ("/v1/models/digits:predict", [1, 2], 400, '"instances"'),
        ("/v1/models/other:predict", {"instances": []}, 404, "no model 'other'; this server serves 'digits'"),
        ("/v1/models/digits:classify", {"instances": []}, 404, "answers :predict"),
        ("/v2/models/digits/infer", {"inputs": []}, 400, "one tensor"),
        (
            "/v2/models/digits/infer",
            {"inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "INT8", "data": [0] * 64}]},
            400,
            "datatype must be FP32",
        ),
        (
            "/v2/models/digits/infer",
            {"inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0] * 63}]},
            400,
            "must hold 64 numbers",
        ),
        (
            "/v2/models/digits/infer",
            {"inputs": [{"name": "input", "shape": [2, 64], "datatype": "FP32", "data": [0] * 128}]},
            400,
            "[B, 1, 8, 8], got [2, 64]",
        ),
        (
            "/v2/models/digits/infer",
            {
                "inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0] * 64}],
                "outputs": 3,
            },
            400,
            "outputs must be a list",
        ),
        (
            "/v2/models/digits/infer",
            {
                "inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0] * 64}],
                "outputs": [{"name": "probs"}],
            },
            400,
            "'probs'",
        ),
        ("/v2/models/nope/infer", {"inputs": []}, 404, "no model 'nope'"),
    ],
)
def test_bad_requests_say_what_was_expected(
    server: tuple[str, Any], path: str, body: Any, status: int, says: str
) -> None:
    url, _ = server
    code, answer = call(url + path, "POST", body)
    assert code == status, answer
    assert says in answer["error"], answer


def test_malformed_bodies_are_400s(server: tuple[str, Any]) -> None:
    url, _ = server
    for raw in (b"{not json", b"\xff\xfe", b'{"instances": [NaN]}', b""):
        for path in ("/v1/models/digits:predict", "/v2/models/digits/infer"):
            code, answer = call(url + path, "POST", raw=raw)
            assert code == 400, (path, raw, answer)
    nan = json.dumps({"instances": [[[[float("nan")] * 8] * 8]]}).encode()  # Python writes NaN
    code, answer = call(f"{url}/v1/models/digits:predict", "POST", raw=nan)
    assert code == 400 and "NaN" in answer["error"]


def test_an_onnx_file_is_served_by_onnxruntime(model: torch.nn.Module, tmp_path: Path) -> None:
    path = export_onnx(model, tmp_path / "mlp.onnx").path
    served = load_served_model(path, name="mlp")
    assert served.input_shape == (1, 8, 8) and served.name == "mlp"
    x = np.random.default_rng(3).normal(size=(4, 1, 8, 8)).astype(np.float32)
    with BackgroundServer(create_app(served)) as url:
        code, answer = call(f"{url}/v1/models/mlp:predict", "POST", {"instances": x.tolist()})
    assert code == 200 and np.allclose(answer["predictions"], expected(model, x), atol=1e-4)


def test_an_rl_agent_is_served_on_its_observations(tmp_path: Path) -> None:
    from dltoolkit.rl.envs import random_play_observations

    torch.manual_seed(0)
    agent = create_model("dqn", hidden_sizes=[8]).eval()
    served = load_served_model(save(agent, tmp_path / "cartpole.safetensors"))
    assert served.input_shape == (4,)  # its observation_shape: agents have no input_shape
    obs = random_play_observations("CartPole-v1", 5)
    with BackgroundServer(create_app(served)) as url:
        code, answer = call(f"{url}/v1/models/cartpole:predict", "POST", {"instances": obs.tolist()})
        assert code == 200
        assert np.allclose(answer["predictions"], expected(agent, obs), atol=1e-5)  # Q-values (5, 2)
        code, answer = call(f"{url}/v1/models/cartpole:predict", "POST", {"instances": [[0.0, 1.0]]})
        assert code == 400 and "[B, 4]" in answer["error"]

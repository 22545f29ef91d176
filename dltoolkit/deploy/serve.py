"""``dltoolkit serve``: a model behind two standard REST protocols, with micro-batching.

- TensorFlow Serving's REST API: ``POST /v1/models/{name}:predict`` with ``{"instances": [...]}`` (row
  format) or ``{"inputs": ...}`` (columnar) → ``{"predictions": [...]}``; ``GET /v1/models/{name}`` (status)
  and ``/v1/models/{name}/metadata``.
- The KServe v2 / Open Inference protocol: ``GET /v2/health/live``, ``/v2/health/ready``, ``/v2``,
  ``/v2/models/{name}``, ``/v2/models/{name}/ready``; ``POST /v2/models/{name}/infer`` with JSON tensors
  (``tritonclient.http`` with ``binary_data=False``).

Concurrent requests are merged into one batch (up to ``max_batch`` samples, waiting at most
``max_delay_ms`` for company), run in a worker thread, and split back. Bad input (not JSON, a wrong shape
or datatype, NaN) is a 400 that says what was expected; an unknown model name a 404; never a 5xx.

    dltoolkit serve dltoolkit-runs/mlp__digits__0__...     # a run folder: its last checkpoint
    dltoolkit serve lenet.onnx --port 8501                   # an ONNX file (onnxruntime), or a .safetensors
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Request  # at module level: FastAPI reads the handlers' annotations from these globals
from fastapi.responses import JSONResponse

Predict = Callable[[np.ndarray], np.ndarray]


class RequestError(ValueError):
    """A request the server refuses: ``status`` (400 or 404) and a message saying what was expected."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ServedModel:
    """What the server needs of a model: a name, the shape of one input, and a batch predictor."""

    name: str
    input_shape: tuple[int, ...]
    predict: Predict
    source: str = ""
    class_names: list[str] = field(default_factory=list)

    def check(self, batch: Any, what: str = "instances") -> np.ndarray:
        """``batch`` as float32 ``(B, *input_shape)``, or a ``RequestError`` naming the expected shape."""
        try:
            array = np.asarray(batch, dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise RequestError(
                f"{what} must be numbers in nested lists of shape {self._shape()}: {exc}"
            ) from None
        if array.ndim == len(self.input_shape):
            array = array[None]  # one instance
        if array.ndim != len(self.input_shape) + 1 or tuple(array.shape[1:]) != self.input_shape:
            raise RequestError(f"{what} must have shape {self._shape()}, got {list(array.shape)}")
        if len(array) == 0:
            raise RequestError(f"{what} must hold at least one instance of shape {list(self.input_shape)}")
        if not np.isfinite(array).all():
            raise RequestError(f"{what} contain NaN or infinite values")
        return array

    def _shape(self) -> str:
        return "[B, " + ", ".join(map(str, self.input_shape)) + "]"


def load_served_model(source: str | os.PathLike[str], name: str | None = None) -> ServedModel:
    """A ``ServedModel`` from a run folder or id (its last checkpoint), a ``.safetensors`` file
    (``dltoolkit.deploy.save``) or an ``.onnx`` file (run by onnxruntime)."""
    path = Path(source)
    if path.suffix == ".onnx":
        from dltoolkit.deploy.onnx_export import OnnxPredictor

        onnx = OnnxPredictor(path)
        shape = tuple(d for d in onnx.input_shape[1:] if d is not None)
        return ServedModel(name or path.stem, shape, onnx, str(path))
    if path.suffix == ".safetensors":
        from dltoolkit.deploy.portable import load

        return _torch_served(load(path), name or path.stem, str(path))
    from dltoolkit.runs import Run

    run = Run.open(path) if path.is_dir() else Run(str(source))
    model, data = run.load()
    served = _torch_served(model, name or run.run_id.split("__")[0], str(run.path))
    served.class_names = [str(c) for c in getattr(data, "classes", [])]
    return served


def _torch_served(model: Any, name: str, source: str) -> ServedModel:
    import torch

    # an RL agent takes observations: it serves its forward (Q-values, or the policy's output)
    shape = getattr(model, "input_shape", None) or getattr(model, "observation_shape", None)
    if shape is None:
        raise ValueError(
            f"{type(model).__name__} says neither its input_shape nor its observation_shape: "
            "serve an .onnx export instead"
        )
    model.eval()

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out: np.ndarray = model(torch.from_numpy(batch)).numpy()
        return out

    return ServedModel(name, tuple(int(d) for d in shape), predict, source)


class MicroBatcher:
    """Merges concurrent requests into batches for one worker thread (the predictor runs one batch at a
    time). ``await batcher.submit(x)`` returns the rows of the output that belong to ``x``."""

    def __init__(self, predict: Predict, max_batch: int = 64, max_delay_ms: float = 5.0) -> None:
        if max_batch < 1 or max_delay_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_delay_ms >= 0")
        self.predict, self.max_batch, self.max_delay = predict, max_batch, max_delay_ms / 1000
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[np.ndarray]]] | None = None
        self.task: asyncio.Task[None] | None = None
        self.batches = 0  # predictor calls so far
        self.requests = 0

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with _suppress(asyncio.CancelledError):
                await self.task

    async def submit(self, batch: np.ndarray) -> np.ndarray:
        if self.queue is None:
            raise RuntimeError("the batcher is not started")
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self.requests += 1
        await self.queue.put((batch, future))
        return await future

    async def _run(self) -> None:
        assert self.queue is not None
        while True:
            pending = [await self.queue.get()]
            size = len(pending[0][0])
            deadline = time.monotonic() + self.max_delay
            while size < self.max_batch:  # wait a little for company, never past the deadline
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), timeout)
                except TimeoutError:
                    break
                pending.append(item)
                size += len(item[0])
            inputs = np.concatenate([x for x, _ in pending])
            try:
                outputs = await asyncio.to_thread(self.predict, inputs)
                self.batches += 1
            except Exception as exc:  # the model failed: every request of the batch gets the error
                for _, future in pending:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for x, future in pending:
                if not future.done():
                    future.set_result(outputs[start : start + len(x)])
                start += len(x)


class _suppress:
    def __init__(self, *kinds: type[BaseException]) -> None:
        self.kinds = kinds

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, *_: Any) -> bool:
        return kind is not None and issubclass(kind, self.kinds)


def create_app(served: ServedModel, max_batch: int = 64, max_delay_ms: float = 5.0) -> Any:
    """The FastAPI application serving ``served`` (see the module docstring for the routes)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    batcher = MicroBatcher(served.predict, max_batch, max_delay_ms)

    @asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title=f"dltoolkit serve: {served.name}", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.served = served
    shape_v2 = [-1, *served.input_shape]

    def model_named(name: str) -> None:
        if name != served.name:
            raise RequestError(f"no model {name!r}; this server serves {served.name!r}", 404)

    async def json_body(request: Request) -> Any:
        if "inference-header-content-length" in request.headers:
            raise RequestError("the binary tensor extension is not supported: send JSON (binary_data=False)")
        try:
            return await request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestError(f"the body is not JSON: {exc}") from None

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    # --- TensorFlow Serving REST API -----------------------------------------------------------
    @app.get("/v1/models/{name}")
    async def tf_status(name: str) -> dict[str, Any]:
        model_named(name)
        ok = {"error_code": "OK", "error_message": ""}
        return {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": ok}]}

    @app.get("/v1/models/{name}/metadata")
    async def tf_metadata(name: str) -> dict[str, Any]:
        model_named(name)
        signature = {
            "inputs": {
                "input": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": str(d)} for d in shape_v2]}}
            },
            "outputs": {"logits": {"dtype": "DT_FLOAT"}},
            "method_name": "tensorflow/serving/predict",
        }  # fmt: skip
        return {"model_spec": {"name": name, "version": "1"},
                "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}}}  # fmt: skip

    @app.post("/v1/models/{target}")
    async def tf_predict(target: str, request: Request) -> dict[str, Any]:
        name, _, verb = target.partition(":")
        if verb != "predict":
            raise RequestError(f"unknown verb {verb!r}: this server answers :predict", 404)
        model_named(name)
        body = await json_body(request)
        if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
            raise RequestError(
                'the body must be a JSON object with "instances" (row format) or "inputs" (columnar)'
            )
        key = "instances" if "instances" in body else "inputs"
        batch = served.check(body[key], key)
        outputs = await batcher.submit(batch)
        return {"predictions": outputs.tolist()} if key == "instances" else {"outputs": outputs.tolist()}

    # --- KServe v2 / Open Inference protocol ------------------------------------------------------
    @app.get("/v2/health/live")
    async def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> dict[str, Any]:
        return {"ready": batcher.task is not None and not batcher.task.done()}

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        from importlib.metadata import version

        return {"name": "dltoolkit", "version": version("dltoolkit"), "extensions": []}

    @app.get("/v2/models/{name}")
    async def v2_metadata(name: str) -> dict[str, Any]:
        model_named(name)
        return {
            "name": name, "versions": ["1"], "platform": "dltoolkit",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": shape_v2}],
            "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, -1]}],
        }  # fmt: skip

    @app.get("/v2/models/{name}/ready")
    async def v2_ready(name: str) -> dict[str, Any]:
        model_named(name)
        return {"name": name, "ready": True}

    @app.post("/v2/models/{name}/infer")
    async def v2_infer(name: str, request: Request) -> dict[str, Any]:
        model_named(name)
        body = await json_body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise RequestError(
                'the body must be {"inputs": [one tensor {"name", "shape", "datatype", "data"}]}'
            )
        tensor = inputs[0]
        if tensor.get("datatype") not in ("FP32", "FP64", "FP16"):
            raise RequestError(f"input datatype must be FP32 (or FP64/FP16), got {tensor.get('datatype')!r}")
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise RequestError(f"input shape must be a list of sizes like {shape_v2}, got {shape!r}")
        try:
            data = np.asarray(tensor.get("data"), dtype=np.float64).ravel()
        except (ValueError, TypeError):
            data = np.empty(0)
        if tensor.get("data") is None or data.size != math.prod(shape):
            raise RequestError(f"input data must hold {math.prod(shape)} numbers for shape {shape}")
        requested = body.get("outputs", [])
        if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
            raise RequestError('outputs must be a list like [{"name": "logits"}]')
        wanted = [o.get("name") for o in requested]
        batch = served.check(data.reshape(shape), "input")
        if any(w != "logits" for w in wanted):
            raise RequestError(
                f"unknown output(s) {[w for w in wanted if w != 'logits']}: this model has 'logits'"
            )
        outputs = await batcher.submit(batch)
        answer: dict[str, Any] = {
            "model_name": name, "model_version": "1",
            "outputs": [{"name": "logits", "datatype": "FP32", "shape": list(outputs.shape),
                         "data": outputs.ravel().tolist()}],
        }  # fmt: skip
        if "id" in body:
            answer["id"] = body["id"]
        return answer

    return app


class BackgroundServer:
    """Serve an app with uvicorn in a thread (tests, notebooks): ``with BackgroundServer(app) as url:``."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        import uvicorn

        if port == 0:
            with socket.socket() as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(source: str, name: str | None = None, host: str = "127.0.0.1", port: int = 8500,
          max_batch: int = 64, max_delay_ms: float = 5.0) -> None:  # fmt: skip
    """Serve ``source`` until interrupted (what ``dltoolkit serve`` runs)."""
    import uvicorn

    served = load_served_model(source, name)
    print(f"serving {served.name!r} from {served.source} on http://{host}:{port}")
    print(
        f"  TF Serving: POST /v1/models/{served.name}:predict  KServe v2: POST /v2/models/{served.name}/infer"
    )
    uvicorn.run(create_app(served, max_batch, max_delay_ms), host=host, port=port, log_level="info")

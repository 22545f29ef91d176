"""Thin, authenticated REST handlers: validate the request, call the Python API, answer JSON.

Every route is in ``routes()``; every verb is ``@tornado.web.authenticated``; every error is answered
as JSON ``{"code": <status>, "message": "..."}`` by ``JSONHandler.write_error``.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import threading
from abc import ABCMeta, abstractmethod
from http import HTTPStatus
from typing import Any, ClassVar

import tornado.iostream
import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from dltoolkit.runs.validation import ATTACK_SCHEMA, EXPLAIN_SCHEMA, LAUNCH_SCHEMA


class JSONHandler(APIHandler):
    """Base of dltoolkit's handlers: JSON bodies in and out, JSON errors.

    A subclass sets ``path`` (below ``dltoolkit/api/``) and ``operations`` (its OpenAPI operations by
    verb), which make its route and its part of the OpenAPI document.
    """

    path: str = ""
    operations: dict[str, dict[str, Any]] = {}

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc_info = kwargs.get("exc_info")
        if exc_info is not None:
            exc = exc_info[1]
            if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
                message = exc.log_message % exc.args if exc.args else exc.log_message
            elif status_code >= 500:
                message = "internal error; see the Jupyter server log"
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"code": status_code, "message": message or HTTPStatus(status_code).phrase}))


def _ok(description: str) -> dict[str, Any]:
    """An operation's JSON ``200`` answer, for the handlers' ``operations``."""
    return {"200": {"description": description, "content": {"application/json": {}}}}


class CatalogHandler(JSONHandler):
    """``GET /dltoolkit/api/catalog``: topics, models (with hyperparameter schemas) and data modules."""

    path = "catalog"
    operations = {
        "get": {
            "summary": "The catalog: topics, models with hyperparameter schemas, data modules",
            "responses": _ok("the catalog"),
        }
    }

    @tornado.web.authenticated
    async def get(self) -> None:
        from dltoolkit.catalog import describe_catalog

        # the first call imports torch (seconds): keep the server's event loop free meanwhile
        self.write_json(await asyncio.to_thread(describe_catalog))


#: What loading a run's model can raise besides a bug: a missing class or file, a config or checkpoint
#: that does not fit, a corrupt or truncated checkpoint (unpickling errors).
LOAD_ERRORS: tuple[type[Exception], ...] = (
    ImportError, OSError, EOFError, ValueError, TypeError, KeyError, RuntimeError, pickle.UnpicklingError,
)  # fmt: skip

RUN_ID = r"(?P<run_id>[A-Za-z0-9][A-Za-z0-9_-]{0,159})"  # dltoolkit.runs.RUN_ID_PATTERN, as a route group


class RunsBase(JSONHandler):
    """Shared by the run handlers: the runs root, and a run looked up by id (404 if absent)."""

    @property
    def runs_root(self) -> str:
        root: str = self.settings["dltoolkit_runs_root"]
        return root

    def get_run(self, run_id: str) -> Any:
        from dltoolkit.runs import Run

        run = Run(run_id, self.runs_root)  # the route's pattern already allows only safe ids
        if not run.exists():
            raise tornado.web.HTTPError(404, "no run %s", run_id)
        return run

    def json_body(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise tornado.web.HTTPError(400, "the body is not JSON: %s", exc) from exc

    def trained_run(self, run_id: str, action: str) -> Any:
        """The run, once it has finished training and has a checkpoint; a 409 that says which is missing
        otherwise (``action``: what the caller wants to do, e.g. "export it")."""
        from dltoolkit.runs.run import ACTIVE_STATES

        run = self.get_run(run_id)
        state = run.status().get("state")
        if state in ACTIVE_STATES:
            raise tornado.web.HTTPError(409, "run %s is %s; %s once it has finished", run_id, state, action)
        if not run.last_checkpoint.is_file():
            raise tornado.web.HTTPError(409, "run %s has no checkpoint (state: %s)", run_id, state)
        return run

    def int_argument(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self.get_argument(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise tornado.web.HTTPError(400, "%s must be an integer, got %r", name, raw) from None
        if value < minimum:
            raise tornado.web.HTTPError(400, "%s must be at least %d, got %d", name, minimum, value)
        return value


class RunsHandler(RunsBase):
    """``GET /runs``: every run, newest first. ``POST /runs``: validate, then launch one."""

    path = "runs"
    operations = {
        "get": {
            "summary": "All runs with their status, newest first",
            "responses": _ok("a list of statuses"),
        },
        "post": {
            "summary": "Launch a run (see the request schema)",
            "requestBody": {"content": {"application/json": {"schema": LAUNCH_SCHEMA}}},
            "responses": {
                "201": {"description": "the new run's status", "content": {"application/json": {}}},
                "400": {"description": "per-field errors: {code, message, errors: {field: message}}"},
            },
        },
    }

    @tornado.web.authenticated
    async def get(self) -> None:
        from dltoolkit.runs import list_runs

        runs = await asyncio.to_thread(list_runs, self.runs_root)
        self.write_json({"runs": [r.status() for r in runs]})

    @tornado.web.authenticated
    async def post(self) -> None:
        from dltoolkit.runs import launch
        from dltoolkit.runs.validation import launch_errors

        request = self.json_body()
        errors = await asyncio.to_thread(launch_errors, request)
        if errors:
            self.write_json({"code": 400, "message": "invalid launch request", "errors": errors}, status=400)
            return
        run = await asyncio.to_thread(
            launch,
            request["model"],
            request.get("data"),
            model_args=request.get("model_args"),
            data_args=request.get("data_args"),
            trainer_args=request.get("trainer_args"),
            seed=request.get("seed", 0),
            loggers=request.get("loggers", ()),
            runs_root=self.runs_root,
        )
        self.write_json(run.status(), status=201)


class RunHandler(RunsBase):
    """``GET /runs/{id}``: status and config. ``DELETE /runs/{id}``: remove a run that is not running."""

    path = f"runs/{RUN_ID}"
    operations = {
        "get": {
            "summary": "A run's status and config",
            "responses": _ok("status, with config (parsed), config_yaml (the file) and command"),
        },
        "delete": {
            "summary": "Delete a finished, failed, stopped or interrupted run",
            "responses": {"204": {"description": "deleted"}, "409": {"description": "the run is running"}},
        },
    }

    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        run = self.get_run(run_id)
        config_yaml = run.config_path.read_text()
        self.write_json(
            {**run.status(), "config": run.config(), "config_yaml": config_yaml, "command": run.command()}
        )

    @tornado.web.authenticated
    async def delete(self, run_id: str) -> None:
        from dltoolkit.runs.run import FINAL_STATES

        run = self.get_run(run_id)
        if run.is_alive():
            if run.status().get("state") not in FINAL_STATES:
                raise tornado.web.HTTPError(409, "run %s is running; stop it first", run_id)
            await asyncio.to_thread(run.wait, 30)  # finished: its process is only exiting
        from dltoolkit.deploy.run_actions import RunServers

        await asyncio.to_thread(RunServers.stop, run)  # a server of a deleted run would serve on, unlisted
        await asyncio.to_thread(run.delete)
        self.set_status(204)
        self.finish()


class RunMetricsHandler(RunsBase):
    """``GET /runs/{id}/metrics?since=N``: metric rows from row N on, and the N to ask for next."""

    path = f"runs/{RUN_ID}/metrics"
    operations = {"get": {"summary": "Metric rows from row `since` on", "responses": _ok("{rows, next}")}}

    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        since = self.int_argument("since", 0)
        rows = self.get_run(run_id).metrics(since=since)
        self.write_json({"rows": rows, "next": since + len(rows)})


class RunLogsHandler(RunsBase):
    """``GET /runs/{id}/logs?tail=N``: the last N lines of the training process's output."""

    path = f"runs/{RUN_ID}/logs"
    operations = {"get": {"summary": "The process log's last `tail` lines", "responses": _ok("{text}")}}

    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        tail = self.int_argument("tail", 200, minimum=1)
        self.write_json({"text": self.get_run(run_id).logs(tail=min(tail, 100_000))})


class RunStopHandler(RunsBase):
    """``POST /runs/{id}/stop``: a graceful stop (the epoch ends and the last checkpoint is written)."""

    path = f"runs/{RUN_ID}/stop"
    operations = {
        "post": {"summary": "Stop gracefully; answers once it has stopped", "responses": _ok("status")}
    }

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        run = self.get_run(run_id)
        self.write_json(await asyncio.to_thread(run.stop))


class RunResumeHandler(RunsBase):
    """``POST /runs/{id}/resume``: continue a stopped or interrupted run from its last checkpoint."""

    path = f"runs/{RUN_ID}/resume"
    operations = {
        "post": {
            "summary": "Resume from the last checkpoint, in the same run",
            "responses": {**_ok("status"), "409": {"description": "the run is running"}},
        }
    }

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        run = self.get_run(run_id)
        try:
            await asyncio.to_thread(run.resume)
        except RuntimeError as exc:
            raise tornado.web.HTTPError(409, "%s", exc) from exc
        self.write_json(run.status())


class RunEventsHandler(RunsBase):
    """``GET /runs/{id}/events?since=N``: server-sent events: ``status`` and ``metrics`` as they change.

    The files are polled every 0.2 s, so a logged row reaches the client well within a second; each poll
    parses only the bytes appended to ``metrics.csv`` since the last. The stream ends after a final state
    (a client reconnecting with ``since`` loses no row). When the file starts over (a resume that had no
    checkpoint restarts the run), the event carries ``"reset": true`` and every row from the first.
    """

    path = f"runs/{RUN_ID}/events"
    operations = {
        "get": {
            "summary": "Server-sent events of status and new metric rows",
            "responses": {"200": {"description": "text/event-stream", "content": {"text/event-stream": {}}}},
        }
    }
    poll_seconds = 0.2

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        from dltoolkit.runs.metrics import MetricsTail
        from dltoolkit.runs.run import FINAL_STATES

        run = self.get_run(run_id)
        since = self.int_argument("since", 0)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        last_status: Any = None
        tail = MetricsTail(run.metrics_path)
        while True:
            status = run.status()
            _, reset = tail.read() or ([], False)
            if reset:
                since, rows = 0, tail.rows
            else:
                rows = tail.rows[since:]  # nothing new: since is the end, the slice empty
            try:
                if status != last_status:
                    self.write(f"event: status\ndata: {json.dumps(status)}\n\n")
                    last_status = status
                if rows or reset:
                    since += len(rows)
                    page = {"rows": rows, "next": since, **({"reset": True} if reset else {})}
                    self.write(f"event: metrics\ndata: {json.dumps(page)}\n\n")
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return
            if status.get("state") in FINAL_STATES and not rows:
                break
            await asyncio.sleep(self.poll_seconds)
        self.finish()


class InspectBase(RunsBase):
    """Shared by the routes that look inside a run's trained model: its ``ModelInspector`` (loaded from
    the last checkpoint, kept for the next request until the checkpoint changes), 409 while it trains."""

    _cache: ClassVar[dict[str, tuple[float, Any]]] = {}
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()
    cache_size = 4

    def _load(self, run: Any) -> Any:
        from dltoolkit.inspector import ModelInspector

        key = str(run.path)
        stamp = run.last_checkpoint.stat().st_mtime
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        inspector = ModelInspector.for_run(run)
        with self._cache_lock:
            self._cache[key] = (stamp, inspector)
            while len(self._cache) > self.cache_size:
                self._cache.pop(next(iter(self._cache)))  # the oldest
        return inspector

    async def inspector(self, run_id: str) -> Any:
        run = self.trained_run(run_id, "look inside it")
        try:
            return await asyncio.to_thread(self._load, run)
        except LOAD_ERRORS as exc:
            raise tornado.web.HTTPError(409, "run %s cannot be loaded: %s", run_id, exc) from exc

    def bad_request(self, errors: dict[str, str]) -> None:
        self.write_json({"code": 400, "message": "invalid request", "errors": errors}, status=400)

    @staticmethod
    def range_errors(inspector: Any, request: dict[str, Any]) -> dict[str, str]:
        """What only the loaded model and data can check: the sample index, the target class."""
        errors = {}
        if request["index"] >= len(inspector.labels):
            errors["index"] = (
                f"{request['index']} is out of range: there are {len(inspector.labels)} test samples"
            )
        target = request.get("target")
        if target is not None and target >= len(inspector.classes):
            errors["target"] = (
                f"{target} is out of range: the model has {len(inspector.classes)} classes "
                f"(0..{len(inspector.classes) - 1})"
            )
        return errors


class RunSamplesHandler(InspectBase):
    """``GET /runs/{id}/samples?count=N``: test images to explain or attack, with labels and predictions."""

    path = f"runs/{RUN_ID}/samples"
    operations = {
        "get": {
            "summary": "The first `count` test images (PNG data URLs), labels, predictions, class names",
            "responses": {
                **_ok("{classes, total, samples}"),
                "409": {"description": "training, or no checkpoint"},
            },
        }
    }

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        count = self.int_argument("count", 24, minimum=1)
        inspector = await self.inspector(run_id)
        self.write_json(await asyncio.to_thread(inspector.samples, min(count, 256)))


class InspectPostBase(InspectBase, metaclass=ABCMeta):
    """The POST shared by explain and attack: check the body against ``schema``, then (with the model
    loaded) the index, the target and the ``name_field`` name; every problem is a 400 by field."""

    schema: ClassVar[dict[str, Any]] = {}
    name_field: ClassVar[str] = ""
    default_name: ClassVar[str] = ""

    @staticmethod
    def responses(answer: str) -> dict[str, Any]:
        return {
            **_ok(answer),
            "400": {"description": "per-field errors: {code, message, errors: {field: message}}"},
            "409": {"description": "training, or no checkpoint"},
        }

    @abstractmethod
    def canonical_name(self, name: str) -> str:
        """``name`` as the computation knows it; a ``ValueError`` (naming the known ones) if unknown."""

    @abstractmethod
    def compute(self, inspector: Any, request: dict[str, Any], name: str) -> dict[str, Any]:
        """The answer for ``request`` (runs in a worker thread)."""

    async def answer(self, run_id: str) -> None:
        from dltoolkit.runs.validation import request_errors

        request = self.json_body()
        errors = request_errors(self.schema, request)
        if errors:
            return self.bad_request(errors)
        inspector = await self.inspector(run_id)
        errors = self.range_errors(inspector, request)
        name = request.get(self.name_field, self.default_name)
        try:
            name = self.canonical_name(name)
        except ValueError as exc:
            errors[self.name_field] = str(exc)
        if errors:
            return self.bad_request(errors)
        try:
            answer = await asyncio.to_thread(self.compute, inspector, request, name)
        except ImportError as exc:  # torchattacks missing: the message says how to install it
            raise tornado.web.HTTPError(501, "%s", exc) from exc
        except ValueError as exc:  # what this model cannot do, e.g. grad_cam without convolutions
            return self.bad_request({self.name_field: str(exc)})
        self.write_json(answer)


class RunExplainHandler(InspectPostBase):
    """``POST /runs/{id}/explain``: attributions of one test sample (Captum), as a heatmap overlay."""

    path = f"runs/{RUN_ID}/explain"
    schema = EXPLAIN_SCHEMA
    name_field, default_name = "method", "integrated_gradients"
    operations = {
        "post": {
            "summary": "Explain a test sample: image, heatmap overlay, top classes",
            "requestBody": {"content": {"application/json": {"schema": EXPLAIN_SCHEMA}}},
            "responses": InspectPostBase.responses(
                "{index, label, method, target, top, image, overlay, heatmap}"
            ),
        }
    }

    def canonical_name(self, name: str) -> str:
        from dltoolkit.catalog import unknown_name
        from dltoolkit.explain.attributions import METHODS

        if name not in METHODS:
            raise unknown_name("attribution method", name, list(METHODS))
        return name

    def compute(self, inspector: Any, request: dict[str, Any], name: str) -> dict[str, Any]:
        answer: dict[str, Any] = inspector.explain(
            request["index"], name, request.get("target"), request.get("smoothgrad", False)
        )
        return answer

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        await self.answer(run_id)


class RunAttackHandler(InspectPostBase):
    """``POST /runs/{id}/attack``: an adversarial example of one test sample (torchattacks), and the
    model's accuracy against the attack as eps grows."""

    path = f"runs/{RUN_ID}/attack"
    schema = ATTACK_SCHEMA
    name_field, default_name = "attack", "pgd"
    operations = {
        "post": {
            "summary": "Attack a test sample: original, adversarial, perturbation, predictions, curve",
            "requestBody": {"content": {"application/json": {"schema": ATTACK_SCHEMA}}},
            "responses": InspectPostBase.responses(
                "{index, label, attack, eps, clean, adversarial, linf, images, curve}"
            ),
        }
    }

    def canonical_name(self, name: str) -> str:
        from dltoolkit.robustness.attacks import canonical_attack_name

        return canonical_attack_name(name)

    def compute(self, inspector: Any, request: dict[str, Any], name: str) -> dict[str, Any]:
        answer: dict[str, Any] = inspector.attack(
            request["index"], name, request.get("eps", 0.1), request.get("curve", True)
        )
        return answer

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        await self.answer(run_id)


class RunOnnxHandler(RunsBase):
    """``POST /runs/{id}/onnx``: export the last checkpoint to ``<run>/export/model.onnx`` (verified
    against PyTorch; redone only when the checkpoint changed). ``GET``: download that file."""

    path = f"runs/{RUN_ID}/onnx"
    operations = {
        "post": {
            "summary": "Export the trained model to ONNX (or answer the up-to-date export)",
            "responses": {
                **_ok("{file, filename, bytes, opset, max_abs_diff, tolerance, verified_on, reused, ...}"),
                "409": {"description": "training, no checkpoint, or a model that cannot be exported"},
            },
        },
        "get": {
            "summary": "Download the exported ONNX file",
            "responses": {
                "200": {
                    "description": "the file, as an attachment named <run id>.onnx",
                    "content": {"application/octet-stream": {}},
                },
                "404": {"description": "not exported yet"},
            },
        },
    }
    chunk_bytes = 1 << 20

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        from dltoolkit.deploy.run_actions import ExportError, export_run_onnx

        run = self.trained_run(run_id, "export it")
        try:
            info = await asyncio.to_thread(export_run_onnx, run)
        except ExportError as exc:
            raise tornado.web.HTTPError(409, "%s", exc) from exc
        except LOAD_ERRORS as exc:
            raise tornado.web.HTTPError(409, "run %s cannot be loaded: %s", run_id, exc) from exc
        self.write_json(info)

    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        from dltoolkit.deploy.run_actions import onnx_file

        path = onnx_file(self.get_run(run_id))
        try:
            source = path.open("rb")  # an export that replaces the file meanwhile leaves this one whole
        except FileNotFoundError:
            raise tornado.web.HTTPError(
                404, "run %s has no ONNX export yet: POST runs/%s/onnx exports it", run_id, run_id
            ) from None
        with source:
            self.set_header("Content-Disposition", f'attachment; filename="{run_id}.onnx"')
            self.set_header("Content-Length", str(os.fstat(source.fileno()).st_size))
            self.set_header("Content-Type", "application/octet-stream")
            while chunk := source.read(self.chunk_bytes):
                self.write(chunk)
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    return
        self.finish(set_content_type="application/octet-stream")  # (APIHandler would say JSON)


class RunServeHandler(RunsBase):
    """``POST /runs/{id}/serve``: serve the last checkpoint (``dltoolkit serve`` as its own process, on a
    free port of this machine), answered once it is ready. ``GET``: its state. ``DELETE``: stop it."""

    path = f"runs/{RUN_ID}/serve"
    state_answer = "{serving, starting, url, name, pid, port, predict_url, infer_url, example, ...}"
    operations = {
        "post": {
            "summary": "Start serving the trained model (or answer the server already running)",
            "responses": {
                **_ok(state_answer),
                "409": {"description": "training, no checkpoint, or the server did not start (log tail)"},
            },
        },
        "get": {
            "summary": "Whether the run is served, and where",
            "responses": _ok(
                f"{state_answer}; or {{serving: false}}, with exit_code and log_tail if it died"
            ),
        },
        "delete": {"summary": "Stop serving", "responses": _ok("{serving: false}")},
    }

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        from dltoolkit.deploy.run_actions import RunServers, ServeError

        run = self.trained_run(run_id, "serve it")
        try:
            self.write_json(await RunServers.start(run))
        except ServeError as exc:
            raise tornado.web.HTTPError(409, "%s", exc) from exc

    @tornado.web.authenticated
    def get(self, run_id: str) -> None:
        from dltoolkit.deploy.run_actions import RunServers

        self.write_json(RunServers.state(self.get_run(run_id)))

    @tornado.web.authenticated
    async def delete(self, run_id: str) -> None:
        from dltoolkit.deploy.run_actions import RunServers

        run = self.get_run(run_id)
        self.write_json(await asyncio.to_thread(RunServers.stop, run))


class OpenAPIHandler(JSONHandler):
    """``GET /dltoolkit/api/openapi.json``: the OpenAPI 3.1 document of every route below."""

    path = "openapi.json"
    operations = {
        "get": {
            "summary": "This API's OpenAPI document",
            "responses": _ok("OpenAPI 3.1"),
        }
    }

    @tornado.web.authenticated
    def get(self) -> None:
        self.write_json(openapi_document())


#: Every handler of the extension; its ``path`` is relative to ``<base_url>dltoolkit/api/``.
HANDLERS: list[type[JSONHandler]] = [
    CatalogHandler,
    RunsHandler,
    RunHandler,
    RunMetricsHandler,
    RunLogsHandler,
    RunStopHandler,
    RunResumeHandler,
    RunEventsHandler,
    RunSamplesHandler,
    RunExplainHandler,
    RunAttackHandler,
    RunOnnxHandler,
    RunServeHandler,
    OpenAPIHandler,
]


def routes(base_url: str) -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Every route of the extension, under ``<base_url>dltoolkit/api/``."""
    return [(url_path_join(base_url, "dltoolkit", "api", h.path), h) for h in HANDLERS]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, built from ``HANDLERS`` so that it cannot drift from the routes."""
    error = {
        "description": "an error",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
                    "required": ["code", "message"],
                }
            }
        },
    }
    paths: dict[str, Any] = {}
    for handler in HANDLERS:
        ops = {}
        for verb, op in handler.operations.items():
            ops[verb] = {**op, "responses": {**op["responses"], "403": error, "default": error}}
        paths["/dltoolkit/api/" + handler.path.replace(RUN_ID, "{run_id}")] = ops
    return {
        "openapi": "3.1.0",
        "info": {"title": "dltoolkit", "version": _version()},
        "components": {
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization"}}
        },
        "security": [{"token": []}],
        "paths": paths,
    }


def _version() -> str:
    from dltoolkit import __version__

    return __version__

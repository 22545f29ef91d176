"""Thin, authenticated REST handlers: validate the request, call the Python API, answer JSON.

Every route is in ``routes()``; every verb is ``@tornado.web.authenticated``; every error is answered
as JSON ``{"code": <status>, "message": "..."}`` by ``JSONHandler.write_error``.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join


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


class CatalogHandler(JSONHandler):
    """``GET /dltoolkit/api/catalog``: topics, models (with hyperparameter schemas) and data modules."""

    path = "catalog"
    operations = {
        "get": {
            "summary": "The catalog: topics, models with hyperparameter schemas, data modules",
            "responses": {"200": {"description": "the catalog", "content": {"application/json": {}}}},
        }
    }

    @tornado.web.authenticated
    async def get(self) -> None:
        from dltoolkit.catalog import describe_catalog

        # the first call imports torch (seconds): keep the server's event loop free meanwhile
        self.write_json(await asyncio.to_thread(describe_catalog))


class OpenAPIHandler(JSONHandler):
    """``GET /dltoolkit/api/openapi.json``: the OpenAPI 3.1 document of every route below."""

    path = "openapi.json"
    operations = {
        "get": {
            "summary": "This API's OpenAPI document",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        }
    }

    @tornado.web.authenticated
    def get(self) -> None:
        self.write_json(openapi_document())


#: Every handler of the extension; its ``path`` is relative to ``<base_url>dltoolkit/api/``.
HANDLERS: list[type[JSONHandler]] = [CatalogHandler, OpenAPIHandler]


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
        paths[f"/dltoolkit/api/{handler.path}"] = ops
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

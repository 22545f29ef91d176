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
    """Base of dltoolkit's handlers: JSON bodies in and out, JSON errors."""

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

    @tornado.web.authenticated
    async def get(self) -> None:
        from dltoolkit.catalog import describe_catalog

        # the first call imports torch (seconds): keep the server's event loop free meanwhile
        self.write_json(await asyncio.to_thread(describe_catalog))


def routes(base_url: str) -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    """Every route of the extension, under ``<base_url>dltoolkit/api/``."""

    def api(*parts: str) -> str:
        return url_path_join(base_url, "dltoolkit", "api", *parts)

    return [(api("catalog"), CatalogHandler)]

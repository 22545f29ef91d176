"""The Jupyter server extension, through a real Jupyter server (pytest-jupyter's ``jp_fetch``)."""

from __future__ import annotations

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


def test_loading_the_extension_imports_no_torch() -> None:
    code = (
        "import sys, dltoolkit.server, dltoolkit.server.handlers\n"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_openapi_document_matches_the_routes(jp_fetch: Any) -> None:
    from dltoolkit.server.handlers import routes

    doc = json.loads((await jp_fetch("dltoolkit", "api", "openapi.json")).body)
    assert doc["openapi"].startswith("3.")
    documented = {(path, verb) for path, ops in doc["paths"].items() for verb in ops}
    served = set()
    for pattern, handler in routes("/"):
        for verb in ("get", "post", "put", "patch", "delete"):
            if getattr(handler, verb) is not getattr(tornado.web.RequestHandler, verb):
                served.add((pattern, verb))  # the verbs the handler really implements
    assert documented == served
    for ops in doc["paths"].values():
        for op in ops.values():
            assert "200" in op["responses"] and "403" in op["responses"]

"""A finished run's deployment in a real browser: Export ONNX, download the file; Serve, call the
predict URL shown; Stop serving."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import Lab, shot
from .test_inspect import MLP, launch_and_wait
from .test_sidebar import card, open_sidebar, wait_state

pytestmark = pytest.mark.ui


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_export_download_serve_predict_and_stop(page: Any, lab: Lab, tmp_path: Path) -> None:
    (run_id,) = launch_and_wait(lab, MLP)
    open_sidebar(page)
    assert wait_state(page, run_id, ("finished",)) == "finished"
    card(page, run_id).locator('[data-testid="run-open"]').click()
    detail = page.locator('[data-testid="run-detail"]')
    detail.wait_for()

    # Export ONNX: busy, then a link that downloads the file (fetched with the token)
    detail.get_by_role("button", name="Export ONNX", exact=True).click()
    link = detail.get_by_role("link", name=f"Download {run_id}.onnx", exact=True)
    link.wait_for()
    assert link.inner_text().startswith(f"Download {run_id}.onnx (") and link.inner_text().endswith("kB)")
    assert "on 64 test samples" in detail.locator('[data-testid="onnx-parity"]').inner_text()
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == f"{run_id}.onnx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.stat().st_size > 0
    assert saved.read_bytes() == (lab.runs / run_id / "export" / "model.onnx").read_bytes()
    shot(page, "deploy-onnx")

    # Serve: busy, then the URLs; the predict URL answers a TF Serving request from here
    detail.get_by_role("button", name="Serve", exact=True).click()
    url = detail.locator('[data-testid="serve-url"]')
    url.wait_for(timeout=90_000)
    predict_url = detail.locator('[data-testid="serve-predict-url"]').inner_text()
    assert predict_url == f"{url.inner_text()}/v1/models/mlp:predict"
    assert predict_url in detail.locator('[data-testid="serve-example"]').inner_text()
    assert detail.get_by_role("button", name="Serve", exact=True).is_disabled()
    request = urllib.request.Request(
        predict_url, data=json.dumps({"instances": [[[[0.0] * 8] * 8]]}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as response:
        assert response.status == 200
        predictions = json.loads(response.read())["predictions"]
    assert len(predictions) == 1 and len(predictions[0]) == 10
    pid = lab.api(f"runs/{run_id}/serve")["pid"]
    shot(page, "deploy-serving")

    # a reopened view learns that the run is served. JupyterLab's layout restorer reopens the run's tab
    # after a reload; the sidebar is used only if it did not, once the restoring is over (a tab click
    # while the restorer reopens the sidebar would close it again)
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel")
    detail = page.locator('[data-testid="run-detail"]')
    try:
        detail.wait_for(timeout=15_000)
    except PlaywrightTimeout:
        open_sidebar(page)
        card(page, run_id).locator('[data-testid="run-open"]').click()
    assert detail.locator('[data-testid="serve-url"]').inner_text() == url.inner_text()

    # Stop serving: the panel goes, the server is gone, Serve is offered again
    detail.get_by_role("button", name="Stop serving", exact=True).click()
    detail.locator('[data-testid="serve-info"]').wait_for(state="detached")
    assert detail.get_by_role("button", name="Serve", exact=True).is_enabled()
    assert lab.api(f"runs/{run_id}/serve") == {"serving": False, "run_id": run_id} and gone(pid)
    assert not detail.locator('[data-testid="deploy-error"]').count()
    assert not [e for e in page.dltoolkit_errors if "dltoolkit" in e.lower()], page.dltoolkit_errors

"""The wheel: it ships both built front ends, and installing it is all a user does for JupyterLab to
list the sidebar extension as enabled (no `jupyter labextension install`, no manual step)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_front_ends_and_enables_the_extension(tmp_path: Path) -> None:
    built = ROOT / "dltoolkit" / "labextension" / "package.json"
    if not built.exists():
        pytest.fail("the front ends are not built: run `make install` (it runs `npm run build`)")
    # `make` has just built the front ends: the build hook's npm step is skipped, its ensured-targets
    # check still runs (a wheel built from a clean checkout runs `npm install` and `npm run build` itself)
    env = {**os.environ, "HATCH_JUPYTER_BUILDER_SKIP_NPM": "1"}
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, ROOT],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("dltoolkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = "dltoolkit-0.1.0.data/data"
    for needed in (
        "dltoolkit/dashboards/static/training_dashboard.js",
        "dltoolkit/dashboards/static/runs_panel.js",
        "dltoolkit/dashboards/static/explain_dashboard.js",
        "dltoolkit/dashboards/static/attack_dashboard.js",
        "dltoolkit/dashboards/static/episode_player.js",
        f"{data}/share/jupyter/labextensions/dltoolkit/package.json",
        f"{data}/share/jupyter/labextensions/dltoolkit/install.json",
        f"{data}/etc/jupyter/jupyter_server_config.d/dltoolkit.json",
    ):
        assert needed in names, f"{needed} missing from {wheel.name}"
    assert any(re.fullmatch(rf"{data}/share/jupyter/labextensions/dltoolkit/static/remoteEntry\.\w+\.js", n)
               for n in names), "the sidebar's built bundle is missing"  # fmt: skip

    # a fresh environment with only JupyterLab and the wheel (its own dependencies are not needed to list it)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet"]
    lab_version = subprocess.run(
        [sys.executable, "-c", "import jupyterlab; print(jupyterlab.__version__)"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run([*pip, f"jupyterlab=={lab_version}"], check=True, capture_output=True)
    subprocess.run([*pip, "--no-deps", wheel], check=True, capture_output=True)
    listed = subprocess.run(
        [venv / "bin" / "jupyter", "labextension", "list"], check=True, capture_output=True, text=True
    )
    out = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)  # without its colours
    assert re.search(r"dltoolkit v0\.1\.0 enabled OK \(python, dltoolkit\)", out), out
    config = venv / "etc" / "jupyter" / "jupyter_server_config.d" / "dltoolkit.json"
    assert json.loads(config.read_text())["ServerApp"]["jpserver_extensions"] == {"dltoolkit": True}

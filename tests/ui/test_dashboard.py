"""The notebook dashboards in a real browser: a cell trains with ``TrainingDashboard``; its chart grows
while the cell runs, and its Stop button ends the training gracefully. ``RunsPanel`` shows a run."""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

from .conftest import Lab, shot

pytestmark = pytest.mark.ui

TRAIN = """\
from dltoolkit import create_data, create_model
from dltoolkit.dashboards import TrainingDashboard

data = create_data("digits")
model = create_model("mlp", data=data, hidden_sizes=[16])
dash = TrainingDashboard()
display(dash)
trainer = dash.fit(model, data, max_epochs=3000, log_every_n_steps=1, default_root_dir="dash-run")
print("fit returned:", dash.state, trainer.global_step)
"""

PANEL = """\
from dltoolkit.dashboards import RunsPanel

panel = RunsPanel()
panel
"""


def write_notebook(lab: Lab, name: str, *cells: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / name)
    return name


def open_and_run_all(page: Any, lab: Lab, name: str) -> None:
    """Open the notebook and run its cell (Ctrl+Enter in the editor), retried while its prompt is still
    empty (a run sent before the kernel is connected is dropped); never sent twice once it started."""
    # a workspace of its own, reset: no notebook of another test restored beside this one
    workspace = name.removesuffix(".ipynb")
    page.goto(f"{lab.url}lab/workspaces/{workspace}/tree/{name}?reset&token={lab.token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
    started = "el => /\\[(\\*|\\d+)\\]/.test(el.textContent)"
    for _ in range(40):
        page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first.click()
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function(started, arg=prompt.element_handle(), timeout=3_000)
            return
        except Exception:  # playwright's TimeoutError: not started yet
            continue
    raise AssertionError("the notebook's cell never started")


def test_training_dashboard_grows_and_stops(page: Any, lab: Lab) -> None:
    name = write_notebook(lab, "dashboard.ipynb", TRAIN)
    open_and_run_all(page, lab, name)
    dash = page.locator(".dltoolkit-training")
    dash.wait_for(timeout=120_000)
    chart = dash.locator(".dltoolkit-chart[data-points]").first
    chart.wait_for()
    page.wait_for_function("el => Number(el.dataset.points) > 5", arg=chart.element_handle(), timeout=120_000)
    first = int(chart.get_attribute("data-points") or 0)
    page.wait_for_function(
        "([el, n]) => Number(el.dataset.points) > n", arg=[chart.element_handle(), first], timeout=60_000
    )  # it grows while the cell runs
    shot(page, "dashboard-training")
    dash.locator('[data-testid="dashboard-stop"]').click()
    page.wait_for_selector(
        '.dltoolkit-training [data-testid="dashboard-state"]:has-text("stopped")', timeout=90_000
    )
    page.wait_for_selector("text=fit returned: stopped", timeout=60_000)  # the cell ended: a graceful stop
    shot(page, "dashboard-stopped")


def test_runs_panel_lists_a_run(page: Any, lab: Lab) -> None:
    run = lab.api("runs", "POST", {"model": "mlp", "model_args": {"hidden_sizes": [16]},
                                    "trainer_args": {"max_epochs": 2}})  # fmt: skip
    name = write_notebook(lab, "panel.ipynb", PANEL)
    open_and_run_all(page, lab, name)
    # scoped to the panel: the sidebar's cards carry the same test ids
    page.wait_for_selector(f'.dltoolkit-runs-panel [data-testid="run-{run["run_id"]}"]', timeout=120_000)
    page.wait_for_selector(
        f'.dltoolkit-runs-panel [data-testid="run-{run["run_id"]}"][data-state="finished"]', timeout=120_000
    )
    shot(page, "runs-panel")

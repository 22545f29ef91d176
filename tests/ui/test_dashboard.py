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
    """Open the notebook in JupyterLab and run its first cell."""
    # a workspace of its own, reset: no notebook of another test restored beside this one
    workspace = name.removesuffix(".ipynb")
    page.goto(f"{lab.url}lab/workspaces/{workspace}/tree/{name}?reset&token={lab.token}")
    run_cell(page, 0)


def run_cell(page: Any, index: int) -> None:
    """Run the notebook's cell ``index`` (Ctrl+Enter in its editor), retried while its prompt is still
    empty (a run sent before the kernel is connected is dropped); never sent twice once it started.
    The same markup serves JupyterLab and Notebook 7 (both are built from JupyterLab's components)."""
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    started = "el => /\\[(\\*|\\d+)\\]/.test(el.textContent)"
    for _ in range(40):
        # JupyterLab sometimes asks which kernel to start (seen on a loaded machine): take the proposed one
        chooser = page.locator('.jp-Dialog:has-text("Select Kernel") .jp-mod-accept')
        if chooser.count() and chooser.first.is_visible():
            chooser.first.click()
        try:
            cell.locator(".jp-InputArea-editor").click(timeout=5_000)  # (a dialog may cover it: retried)
            page.keyboard.press("Control+Enter")
            page.wait_for_function(started, arg=prompt.element_handle(), timeout=3_000)
            return
        except Exception:  # playwright's TimeoutError: not started yet
            continue
    raise AssertionError(f"the notebook's cell {index} never started")


def see_dashboard_grow_and_stop(page: Any, shots: str) -> None:
    """The running cell's TrainingDashboard: its chart grows, Stop ends the fit, the cell returns."""
    dash = page.locator(".dltoolkit-training")
    dash.wait_for(timeout=120_000)
    chart = dash.locator(".dltoolkit-chart[data-points]").first
    chart.wait_for()
    page.wait_for_function("el => Number(el.dataset.points) > 5", arg=chart.element_handle(), timeout=120_000)
    first = int(chart.get_attribute("data-points") or 0)
    page.wait_for_function(
        "([el, n]) => Number(el.dataset.points) > n", arg=[chart.element_handle(), first], timeout=60_000
    )  # it grows while the cell runs
    shot(page, f"{shots}-training")
    dash.locator('[data-testid="dashboard-stop"]').click()
    page.wait_for_selector(
        '.dltoolkit-training [data-testid="dashboard-state"]:has-text("stopped")', timeout=90_000
    )
    page.wait_for_selector("text=fit returned: stopped", timeout=60_000)  # the cell ended: a graceful stop
    shot(page, f"{shots}-stopped")


def test_training_dashboard_grows_and_stops(page: Any, lab: Lab) -> None:
    name = write_notebook(lab, "dashboard.ipynb", TRAIN)
    open_and_run_all(page, lab, name)
    see_dashboard_grow_and_stop(page, "dashboard")


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


def test_notebook7_training_dashboard_and_runs_panel(page: Any, lab: Lab) -> None:
    """The same widgets in Notebook 7's notebook page (anywidget serves both front ends)."""
    run = lab.api("runs", "POST", {"model": "mlp", "model_args": {"hidden_sizes": [16]},
                                    "trainer_args": {"max_epochs": 2}})  # fmt: skip
    name = write_notebook(lab, "notebook7.ipynb", TRAIN, PANEL)
    page.goto(f"{lab.url}notebooks/{name}?token={lab.token}")
    page.wait_for_selector("#main-panel .jp-Notebook")  # Notebook 7's single-document shell, not JupyterLab
    assert page.locator("#jp-main-dock-panel").count() == 0
    run_cell(page, 0)
    see_dashboard_grow_and_stop(page, "notebook7-dashboard")
    run_cell(page, 1)
    page.wait_for_selector(
        f'.dltoolkit-runs-panel [data-testid="run-{run["run_id"]}"][data-state="finished"]', timeout=120_000
    )
    shot(page, "notebook7-runs-panel")

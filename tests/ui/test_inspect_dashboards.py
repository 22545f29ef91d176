"""ExplainDashboard and AttackDashboard in a real notebook: a cell trains a tiny MLP and shows the
explain dashboard; a click on a sample and another method give a new overlay and top classes, Grad-CAM
(the MLP has no convolution) an error in the widget. Then the attack dashboard: an eps set on the slider
gives the adversarial image and the robustness curve's points. Screenshots in light and dark themes."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Lab, shot
from .test_dashboard import run_cell, write_notebook

pytestmark = pytest.mark.ui

EXPLAIN = """\
import lightning.pytorch as pl
from dltoolkit import create_data, create_model
from dltoolkit.dashboards import AttackDashboard, ExplainDashboard

pl.seed_everything(0)
data = create_data("digits", augment="none")
model = create_model("mlp", data=data, hidden_sizes=[32], lr=3e-3, scheduler="none")
pl.Trainer(max_epochs=4, limit_val_batches=0, logger=False, enable_checkpointing=False,
           enable_progress_bar=False, enable_model_summary=False).fit(model, data)
explain = ExplainDashboard(model, data, max_samples=64)
explain
"""

ATTACK = """\
attack = AttackDashboard(inspector=explain.inspector, curve_samples=32)
attack
"""


def idle(page: Any, dashboard: str) -> None:
    """Wait until ``dashboard`` (a data-testid) has answered the last request."""
    page.wait_for_selector(f'[data-testid="{dashboard}"]:not([data-busy])', timeout=60_000)


def test_explain_and_attack_dashboards(page: Any, lab: Lab) -> None:
    name = write_notebook(lab, "inspect.ipynb", EXPLAIN, ATTACK)
    page.goto(f"{lab.url}lab/workspaces/inspect/tree/{name}?reset&token={lab.token}")
    run_cell(page, 0)

    explain = page.locator('[data-testid="explain-dashboard"]')
    explain.wait_for(timeout=120_000)
    idle(page, "explain-dashboard")
    assert explain.locator('[data-testid^="sample-"] img').count() == 24
    explain.locator('[data-testid="sample-5"]').click()
    explain.locator('[data-testid="explain-method"]').select_option("saliency")
    caption = explain.locator('[data-testid="explain-caption"]')
    caption.filter(has_text="saliency of class").filter(has_text="for sample 5").wait_for(timeout=60_000)
    idle(page, "explain-dashboard")
    overlay = explain.locator('[data-testid="explain-overlay"] img')
    assert (overlay.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert overlay.evaluate("img => img.complete && img.naturalWidth") == 8  # a real 8x8 PNG, scaled up
    assert overlay.evaluate("img => img.getBoundingClientRect().width") >= 100
    assert explain.locator('[data-testid="explain-top"] .dltoolkit-top-row').count() == 5
    assert "dltoolkit-selected" in (explain.locator('[data-testid="sample-5"]').get_attribute("class") or "")
    shot(page, "explain-dashboard")

    # Grad-CAM needs a convolution: the error is shown in the widget
    explain.locator('[data-testid="explain-method"]').select_option("grad_cam")
    message = explain.locator('[data-testid="dashboard-message"][data-level="error"]')
    message.wait_for(timeout=60_000)
    assert "grad_cam on sample 5" in message.inner_text() and "MLP has no convolution" in message.inner_text()
    shot(page, "explain-dashboard-error")

    run_cell(page, 1)
    attack = page.locator('[data-testid="attack-dashboard"]')
    attack.wait_for(timeout=60_000)
    idle(page, "attack-dashboard")
    attack.scroll_into_view_if_needed()
    attack.locator('[data-testid="sample-3"]').click()
    attack.locator('[data-testid="attack-eps"]').evaluate(
        "el => { el.value = '0.2'; el.dispatchEvent(new Event('input', {bubbles: true}));"
        " el.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    attack.locator(".dltoolkit-caption", has_text="pgd (ε = 0.2) on sample 3").wait_for(timeout=60_000)
    idle(page, "attack-dashboard")
    adversarial = attack.locator('[data-testid="attack-adversarial"] img')
    assert (adversarial.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert attack.locator('[data-testid="attack-linf"]').inner_text().startswith("‖δ‖∞ = 0.2")
    chart = attack.locator('[data-testid="attack-curve"] .dltoolkit-chart[data-points]')
    page.wait_for_function("el => el.dataset.points === '6'", arg=chart.element_handle(), timeout=30_000)
    attack.locator('[data-testid="attack-curve"]').scroll_into_view_if_needed()
    shot(page, "attack-dashboard")

    # CW takes no eps: the slider is disabled, there is no curve
    attack.locator('[data-testid="attack-name"]').select_option("cw")
    attack.locator('[data-testid="attack-no-curve"]:visible').wait_for(timeout=60_000)
    assert attack.locator('[data-testid="attack-eps"]').is_disabled()

    page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
    attack.locator('[data-testid="attack-name"]').select_option("fgsm")
    chart.wait_for(state="visible", timeout=60_000)
    idle(page, "attack-dashboard")
    attack.scroll_into_view_if_needed()
    shot(page, "attack-dashboard-dark")
    errors = [e for e in page.dltoolkit_errors if "dltoolkit" in e or "anywidget" in e]
    assert errors == []

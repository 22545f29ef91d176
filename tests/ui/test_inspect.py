"""A finished run's Explain and Attack views in a real browser: pick a test digit, explain it (Integrated
Gradients, then Grad-CAM), attack it (PGD at eps 0.2, with the robustness curve), and see a refused
request (Grad-CAM on an MLP) beside its control."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import Lab, shot
from .test_sidebar import card, open_sidebar, wait_state

pytestmark = pytest.mark.ui

#: A LeNet on native 8x8 digits (a conv layer, so Grad-CAM works) and a tiny MLP: seconds each.
LENET = {
    "model": "lenet",
    "data_args": {"resize": 8, "augment": "none", "batch_size": 64},
    "trainer_args": {"max_epochs": 4},
}
MLP = {
    "model": "mlp",
    "model_args": {"hidden_sizes": [32]},
    "data_args": {"batch_size": 128},
    "trainer_args": {"max_epochs": 2, "limit_train_batches": 4},
}


def launch_and_wait(lab: Lab, *bodies: dict[str, Any], timeout: float = 120) -> list[str]:
    """Launch runs through the API, wait until every one has ended; their ids (all finished)."""
    ids = [lab.api("runs", "POST", body)["run_id"] for body in bodies]
    deadline = time.monotonic() + timeout
    while True:
        states = {run_id: lab.api(f"runs/{run_id}")["state"] for run_id in ids}
        if all(s not in ("queued", "running") for s in states.values()):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    for run_id, state in states.items():
        assert state == "finished", lab.api(f"runs/{run_id}/logs")
    return ids


def inspect_view(page: Any, run_id: str) -> Any:
    view = page.locator(f'[id="dltoolkit-inspect-{run_id}"] [data-testid="inspect"]')
    view.wait_for()
    return view


def image_loaded(locator: Any) -> bool:
    return bool(
        locator.evaluate(
            "img => img.complete && img.naturalWidth > 0 && img.src.startsWith('data:image/png')"
        )
    )


def set_theme(page: Any, theme: str) -> None:
    page.evaluate("theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    page.wait_for_function("theme => document.body.dataset.jpThemeName === theme", arg=theme)
    page.wait_for_timeout(300)  # the theme's stylesheet applied


def test_explain_and_attack_a_finished_run(page: Any, lab: Lab) -> None:
    cnn, mlp = launch_and_wait(lab, LENET, MLP)
    open_sidebar(page)
    assert wait_state(page, cnn, ("finished",)) == "finished"

    # Explain, from the run's card: a grid of test digits, one picked
    card(page, cnn).locator('[data-testid="run-explain"]').click()
    view = inspect_view(page, cnn)
    assert view.get_attribute("data-tab") == "explain"
    grid = view.locator('[data-testid="inspect-samples"]')
    grid.locator('[data-testid="sample-3"]').click()
    assert grid.locator('[data-testid="sample-3"]').get_attribute("aria-pressed") == "true"
    # 8x8 PNGs scaled up as sharp squares
    thumb = grid.locator('[data-testid="sample-3"] img')
    assert thumb.evaluate("img => getComputedStyle(img).imageRendering") == "pixelated"
    assert thumb.bounding_box()["width"] >= 32

    # Integrated Gradients: the input, the overlay and the top-5 classes with their bars
    assert view.locator('[data-testid="explain-method"]').input_value() == "integrated_gradients"
    assert view.locator('[data-testid="explain-target"]').input_value() == ""  # the predicted class
    view.locator('[data-testid="explain-run"]').click()
    result = view.locator(
        '[data-testid="explain-result"][data-index="3"][data-method="integrated_gradients"]'
    )
    result.wait_for()
    assert image_loaded(view.locator('[data-testid="explain-overlay"]'))
    assert image_loaded(view.locator('[data-testid="explain-image"]'))
    rows = view.locator('[data-testid="explain-top"] li')
    assert rows.count() == 5
    percents = [
        float(t.rstrip("%").lstrip("<")) for t in rows.locator(".dltoolkit-Top-value").all_inner_texts()
    ]
    assert percents == sorted(percents, reverse=True) and sum(percents) <= 100.5, percents
    assert view.locator('[data-testid="explain-seconds"]').inner_text().endswith("s")
    shot(page, "inspect-explain-integrated-gradients")

    # Grad-CAM (LeNet has convolutions), then another digit: the view explains it at once
    view.locator('[data-testid="explain-method"]').select_option("grad_cam")
    view.locator('[data-testid="explain-run"]').click()
    view.locator('[data-testid="explain-result"][data-index="3"][data-method="grad_cam"]').wait_for()
    grid.locator('[data-testid="sample-5"]').click()
    view.locator('[data-testid="explain-result"][data-index="5"][data-method="grad_cam"]').wait_for()
    assert image_loaded(view.locator('[data-testid="explain-overlay"]'))
    assert not view.locator('[data-testid="inspect-errors"]').count()
    shot(page, "inspect-explain-grad-cam")

    # Attack the same digit: PGD at eps 0.2, the three images, ‖δ‖∞ within budget, the curve
    view.locator('[data-testid="inspect-tab-attack"]').click()
    assert view.get_attribute("data-tab") == "attack"
    view.locator('[data-testid="attack-name"]').select_option("pgd")
    eps = view.locator('[data-testid="attack-eps"]')
    assert eps.is_enabled()
    eps.fill("0.2")
    assert view.locator('[data-testid="attack-eps-value"]').inner_text().startswith("0.20")
    view.locator('[data-testid="attack-run"]').click()
    attacked = view.locator('[data-testid="attack-result"][data-index="5"][data-attack="pgd"]')
    attacked.wait_for()
    for name in ("original", "adversarial", "perturbation"):
        assert image_loaded(view.locator(f'[data-testid="attack-{name}"]')), name
    prediction = view.locator('[data-testid="attack-adversarial-prediction"]').inner_text()
    assert "%" in prediction, prediction
    linf = float(view.locator('[data-testid="attack-linf"]').get_attribute("data-linf"))
    assert 0 < linf <= 0.2 + 1e-6, linf
    chart = view.locator('[data-testid="attack-curve"] .dltoolkit-chart')
    page.wait_for_function("el => Number(el.dataset.points) >= 5", arg=chart.element_handle())
    shot(page, "inspect-attack-pgd")
    # JupyterLab's colour variables only: the dark theme applies as it is
    try:
        set_theme(page, "JupyterLab Dark")
        shot(page, "inspect-attack-pgd-dark")
    finally:  # the theme is a user setting, shared with the session's other tests
        set_theme(page, "JupyterLab Light")

    # the minimum-norm attacks take no eps: the slider is disabled for them
    view.locator('[data-testid="attack-name"]').select_option("deepfool")
    assert eps.is_disabled()
    view.locator('[data-testid="attack-name"]').select_option("fgsm")
    assert eps.is_enabled()

    # a refused request: Grad-CAM on an MLP (no convolution) comes back beside the method select;
    # this view is opened from the run's detail tab
    card(page, mlp).locator('[data-testid="run-open"]').click()
    detail = page.locator(f'[id="dltoolkit-run-{mlp}"] [data-testid="run-detail"]')
    detail.locator('[data-testid="detail-explain"]:enabled').wait_for()
    shot(page, "inspect-run-detail-buttons")
    detail.locator('[data-testid="detail-explain"]').click()
    mlp_view = inspect_view(page, mlp)
    mlp_view.locator('[data-testid="sample-0"][aria-pressed="true"]').wait_for()
    mlp_view.locator('[data-testid="explain-method"]').select_option("grad_cam")
    mlp_view.locator('[data-testid="explain-run"]').click()
    error = mlp_view.locator('[data-testid="explain-error-method"]')
    error.wait_for()
    assert "conv" in error.inner_text().lower(), error.inner_text()
    assert mlp_view.locator('[data-testid="explain-method"]').get_attribute("aria-invalid") == "true"
    shot(page, "inspect-explain-error")
    # and a good method on the same run clears it
    mlp_view.locator('[data-testid="explain-method"]').select_option("saliency")
    mlp_view.locator('[data-testid="explain-run"]').click()
    mlp_view.locator('[data-testid="explain-result"][data-method="saliency"]').wait_for()
    assert not error.count()
    assert not [e for e in page.dltoolkit_errors if "dltoolkit" in e.lower()], page.dltoolkit_errors

"""ExplainDashboard and AttackDashboard: what they publish (ModelInspector's answers), front-end requests
answered in a worker thread, a newer request superseding older ones, and errors shown in the widget.

Front-end messages are delivered the way a front end's comm messages arrive (``widget._handle_msg``, as in
``tests/test_dashboards.py``). The models are a tiny MLP and a tiny LeNet trained on digits
for a few epochs in module-scoped fixtures.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import pytest

from dltoolkit.catalog import create_data, create_model
from dltoolkit.dashboards import AttackDashboard, ExplainDashboard
from dltoolkit.explain.attributions import METHODS
from dltoolkit.inspector import ModelInspector
from dltoolkit.robustness.attacks import ATTACKS

QUIET = {"accelerator": "cpu", "enable_progress_bar": False, "enable_model_summary": False}


def train(name: str, data: Any, epochs: int, **hparams: Any) -> pl.LightningModule:
    pl.seed_everything(0, verbose=False)
    model = create_model(name, data=data, scheduler="none", **hparams)
    trainer = pl.Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, limit_val_batches=0, **QUIET
    )
    trainer.fit(model, data)
    return model.eval()


@pytest.fixture(scope="module")
def digits() -> Any:
    dm = create_data("digits", batch_size=64, augment="none")
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def mlp(digits: Any) -> pl.LightningModule:
    return train("mlp", digits, 4, hidden_sizes=[32], lr=3e-3)


@pytest.fixture(scope="module")
def lenet(digits: Any) -> pl.LightningModule:
    return train("lenet", digits, 3, lr=3e-3)


@pytest.fixture(scope="module")
def inspector(mlp: Any, digits: Any) -> ModelInspector:
    return ModelInspector(mlp, digits, max_samples=64)


@pytest.fixture
def explain_dash(inspector: ModelInspector) -> Iterator[ExplainDashboard]:
    dash = ExplainDashboard(inspector=inspector, grid=12)
    yield dash
    dash.close()


@pytest.fixture
def attack_dash(inspector: ModelInspector) -> Iterator[AttackDashboard]:
    dash = AttackDashboard(inspector=inspector, grid=12, curve_samples=32)
    yield dash
    dash.close()


def front_end_update(widget: Any, **state: Any) -> None:
    """What a front end's ``model.set(...); model.save_changes()`` delivers to the kernel (one message)."""
    data = {"method": "update", "state": state, "buffer_paths": []}
    widget._handle_msg({"content": {"data": data}, "buffers": []})


def front_end_send(widget: Any, content: dict[str, Any]) -> None:
    """What a front end's ``model.send(content)`` delivers to the kernel."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def calls_of(obj: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Record each call of ``obj.name`` (the thread it ran in, its arguments); the call still happens."""
    calls: list[Call] = []
    original = getattr(obj, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append((threading.current_thread().name, args, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, recorded)
    return calls


def without_seconds(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "seconds"}


# --- the package --------------------------------------------------------------------------------------


def test_importing_the_package_loads_neither_dashboard() -> None:
    code = (
        "import sys, dltoolkit.dashboards as d\n"
        "assert 'ExplainDashboard' in d.__all__ and 'AttackDashboard' in dir(d)\n"
        "print(sorted(m for m in ('torch', 'captum', 'dltoolkit.dashboards.inspect') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bad_arguments_are_clear_errors(mlp: Any, digits: Any, inspector: ModelInspector) -> None:
    with pytest.raises(TypeError, match="needs a model and its data module"):
        ExplainDashboard(mlp)
    with pytest.raises(TypeError, match="not both"):
        AttackDashboard(mlp, digits, inspector=inspector)
    with pytest.raises(ValueError, match="grid must be a positive"):
        ExplainDashboard(inspector=inspector, grid=0)
    with pytest.raises(ValueError, match="curve_samples must be a positive"):
        AttackDashboard(inspector=inspector, curve_samples=0)
    with pytest.raises(ValueError, match="max_samples must be a positive"):
        ExplainDashboard(mlp, digits, max_samples=0)


# --- ExplainDashboard ---------------------------------------------------------------------------------


def test_explain_dashboard_shows_the_grid_and_the_first_explanation(
    explain_dash: ExplainDashboard, inspector: ModelInspector
) -> None:
    dash = explain_dash
    assert dash.methods == list(METHODS) and dash.classes == [str(i) for i in range(10)]
    assert dash.total == 64 and [s["index"] for s in dash.samples] == list(range(12))
    assert all(s["image"].startswith("data:image/png;base64,") for s in dash.samples)
    assert sum(s["label"] == s["predicted"] for s in dash.samples) >= 9  # the model learnt
    result = dash.wait()  # sample 0, integrated gradients, the predicted class: asked for at creation
    expected = inspector.explain(0, "integrated_gradients")
    assert without_seconds(result) == {**without_seconds(expected), "smoothgrad": False}
    assert dash.result == result and not dash.busy and dash.message == {}
    assert result["target"] == result["top"][0]["index"]  # the default target is the predicted class
    probabilities = [c["probability"] for c in result["top"]]
    assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)


def test_front_end_choices_are_computed_in_the_worker(
    explain_dash: ExplainDashboard, inspector: ModelInspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    dash = explain_dash
    dash.wait()
    calls = calls_of(inspector, "explain", monkeypatch)
    front_end_update(dash, index=5)  # a click on sample 5
    assert dash.wait()["index"] == 5
    front_end_update(dash, method="saliency", target=3, smoothgrad=True)  # one update, three choices
    result = dash.wait()
    assert (result["index"], result["method"], result["target"], result["smoothgrad"]) == (
        5,
        "saliency",
        3,
        True,
    )
    assert dash.result == result
    front_end_send(dash, {"action": "run"})  # the Run button: the same choices again
    assert dash.wait()["method"] == "saliency"
    assert calls and all(thread.startswith("dltoolkit-inspect") for thread, _, _ in calls)
    assert calls[0][1] == (5, "integrated_gradients") and calls[-1][1] == (5, "saliency")
    assert len(calls) <= 5  # at most one per trait changed, plus Run (an older one may be skipped)


def test_python_api_returns_and_shows_the_result(explain_dash: ExplainDashboard) -> None:
    dash = explain_dash
    result = dash.explain(7, "deeplift")
    assert result == dash.result and result["index"] == 7 and result["method"] == "deeplift"
    assert (dash.index, dash.method, dash.target, dash.smoothgrad) == (7, "deeplift", None, False)
    assert dash.run(target=2)["target"] == 2
    dash.select(9)
    assert dash.wait()["index"] == 9 and dash.wait()["target"] == 2
    with pytest.raises(TypeError, match=r"unknown choice.*eps"):
        dash.run(eps=0.1)


def test_explain_errors_are_shown_in_the_widget(explain_dash: ExplainDashboard) -> None:
    dash = explain_dash
    dash.wait()
    front_end_update(dash, method="grad_cam")  # the MLP has no convolution to take Grad-CAM of
    with pytest.raises(ValueError, match="MLP has no convolution, and grad_cam, layer_conductance explain"):
        dash.wait()
    assert dash.message["level"] == "error" and dash.message["text"].startswith("grad_cam on sample 0:")
    assert dash.error == dash.message["text"] and dash.result == {} and not dash.busy
    front_end_update(dash, method="saliency", index=63)
    assert dash.wait()["index"] == 63 and dash.message == {} and dash.error is None  # cleared by success
    front_end_update(dash, index=64)  # beyond max_samples
    with pytest.raises(ValueError, match="out of range: there are 64 test samples"):
        dash.wait()
    assert "out of range" in dash.message["text"]
    with pytest.raises(ValueError, match="unknown attribution method 'shap'"):  # also raised by the API
        dash.explain(0, "shap")
    assert "shap" in dash.message["text"]
    front_end_send(dash, {"action": "dance"})
    assert dash.message["text"] == "unknown action 'dance'; expected 'run'"


def test_grad_cam_on_a_cnn(lenet: Any, digits: Any) -> None:
    dash = ExplainDashboard(lenet, digits, max_samples=16, grid=4, method="grad_cam", index=2)
    try:
        result = dash.wait()
        assert result["method"] == "grad_cam" and result["index"] == 2
        assert result["overlay"].startswith("data:image/png;base64,") and dash.message == {}
        assert dash.total == 16 and len(dash.samples) == 4 and dash.title == "LeNet · DigitsDataModule"
    finally:
        dash.close()


def test_a_newer_request_supersedes_older_ones(
    explain_dash: ExplainDashboard, inspector: ModelInspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    dash = explain_dash
    dash.wait()
    started, release = threading.Event(), threading.Event()
    computed: list[int] = []
    original = inspector.explain

    def slow(index: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
        computed.append(index)
        if index == 1:  # the first click's computation is running when the next clicks come
            started.set()
            assert release.wait(10)
        return original(index, *args, **kwargs)

    monkeypatch.setattr(inspector, "explain", slow)
    shown: list[int] = []
    dash.observe(lambda change: shown.append(change["new"].get("index", -1)), names="result")
    front_end_update(dash, index=1)
    assert started.wait(10) and dash.busy
    front_end_update(dash, index=2)  # waits behind 1, then is superseded by 3 before it starts
    front_end_update(dash, index=3)
    release.set()
    assert dash.wait()["index"] == 3 and not dash.busy
    assert computed == [1, 3]  # 2 was never computed
    assert shown == [3]  # 1 finished after 2 and 3 were asked for: its result was never shown


def test_a_superseded_failure_is_not_shown(
    explain_dash: ExplainDashboard, inspector: ModelInspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    dash = explain_dash
    dash.wait()
    started, release = threading.Event(), threading.Event()
    original = inspector.explain

    def failing_first(index: int, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if index == 4:
            started.set()
            assert release.wait(10)
            raise RuntimeError("stale failure")
        return original(index, *args, **kwargs)

    monkeypatch.setattr(inspector, "explain", failing_first)
    front_end_update(dash, index=4)
    assert started.wait(10)
    front_end_update(dash, index=6)
    release.set()
    assert dash.wait()["index"] == 6 and dash.message == {}


# --- AttackDashboard ----------------------------------------------------------------------------------


def test_attack_dashboard_shows_the_attack_and_the_curve(attack_dash: AttackDashboard) -> None:
    dash = attack_dash
    assert dash.attacks == list(ATTACKS) and "cw" not in dash.eps_attacks and "pgd" in dash.eps_attacks
    result = dash.wait()  # sample 0, PGD at eps 0.1
    assert (result["index"], result["attack"], result["eps"]) == (0, "pgd", 0.1)
    assert 0 < result["linf"] <= 0.1 + 1e-6
    assert set(result["images"]) == {"original", "adversarial", "perturbation"}
    eps = [p["eps"] for p in result["curve"]]
    assert eps == [0.0, 0.05, 0.1, 0.2, 0.3] and result["curve_samples"] == 32
    accuracy = [p["accuracy"] for p in result["curve"]]
    assert accuracy[0] > 0.8 and accuracy[-1] < accuracy[0]  # a trained model, weakened by the attack


def test_front_end_eps_and_attack_choices(
    attack_dash: AttackDashboard, inspector: ModelInspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    dash = attack_dash
    dash.wait()
    calls = calls_of(inspector, "attack", monkeypatch)
    front_end_update(dash, eps=0.15)  # the slider, released
    result = dash.wait()
    assert result["eps"] == 0.15 and result["linf"] <= 0.15 + 1e-6
    assert 0.15 in [p["eps"] for p in result["curve"]]
    front_end_update(dash, index=3)  # another sample, the same attack: its curve is reused
    again = dash.wait()
    assert again["index"] == 3 and again["curve"] == result["curve"]
    assert [kwargs["curve"] for _, _, kwargs in calls] == [True, False]
    assert all(thread.startswith("dltoolkit-inspect") for thread, _, _ in calls)
    front_end_update(dash, attack_name="cw")  # minimum-norm: no eps, no curve
    cw = dash.wait()
    assert (cw["attack"], cw["eps"], cw["curve"]) == ("cw", None, None) and cw["linf"] > 0


def test_attack_python_api_and_errors(attack_dash: AttackDashboard) -> None:
    dash = attack_dash
    dash.wait()
    result = dash.attack(2, "fgsm", eps=0.2)
    assert result == dash.result and (result["attack"], result["eps"], result["index"]) == ("fgsm", 0.2, 2)
    assert result["linf"] == pytest.approx(0.2, abs=1e-6)  # FGSM moves each pixel by eps (where it can)
    front_end_update(dash, attack_name="nope")
    with pytest.raises(ValueError, match="unknown attack 'nope'"):
        dash.wait()
    assert dash.message["text"].startswith("nope on sample 2:") and dash.result == {}
    front_end_update(dash, attack_name="pgd", eps=2.0)
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\]"):
        dash.wait()
    assert dash.attack(1, "deepfool", eps=0.5)["eps"] is None  # eps is ignored by minimum-norm attacks
    assert dash.error is None


def test_closed_dashboard_drops_requests(inspector: ModelInspector) -> None:
    dash = ExplainDashboard(inspector=inspector, grid=2)
    dash.wait()
    dash.close()
    front_end_update(dash, index=1)  # nothing to run it any more: no error escapes
    with pytest.raises(RuntimeError):
        dash.run(index=1)


def test_dashboards_share_one_inspector(inspector: ModelInspector) -> None:
    explain, attack = ExplainDashboard(inspector=inspector), AttackDashboard(inspector=inspector)
    try:
        front_end_update(explain, index=4)
        front_end_update(attack, index=4)
        assert explain.wait()["index"] == attack.wait()["index"] == 4
        assert explain.result["top"][0]["index"] == attack.result["clean"][0]["index"]
    finally:
        explain.close()
        attack.close()

"""``ExplainDashboard`` and ``AttackDashboard``: a trained classifier's test images, explained and attacked.

    from dltoolkit.dashboards import AttackDashboard, ExplainDashboard

    ExplainDashboard(model, data)            # pick a test image, a method and a class: the input, its
                                             # heatmap overlay and the top classes
    dash = AttackDashboard(model, data)      # an attack and a budget eps: original, adversarial and
    dash                                     # perturbation images, predictions, ‖δ‖∞, accuracy vs eps
    dash.attack(3, "pgd", eps=0.2)           # the same from code: the result dict, shown in the widget too

Both show what ``dltoolkit.inspector.ModelInspector`` computes (the sidebar's Explain and Attack views
show the same): its JSON-ready dicts are the widgets' ``result`` trait as they are.

How a request travels. The choices are synced traits (``index``, ``method``, ``target``, ``smoothgrad``;
``index``, ``attack_name``, ``eps``): a change, from the front end or from Python, asks for a new result,
and so does the Run button's custom message ``{"action": "run"}``. One worker thread computes the
requests in turn, so the kernel stays free for the next click; a newer request supersedes the older ones:
one still waiting is skipped, one already running finishes but its result is never shown. ``busy`` says
whether a request is under way. A failure (``grad_cam`` on a model without convolutions, an index out of
range, an unknown attack) clears ``result`` and becomes the ``message`` trait, ``{"text", "level":
"error", "at"}``, which the widget shows; ``wait()`` raises it in a script.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import anywidget
import traitlets as t

from dltoolkit.dashboards._assets import asset
from dltoolkit.dashboards._kernel import route_to_subshell

if TYPE_CHECKING:
    from torch import nn

    from dltoolkit.inspector import ModelInspector
    from dltoolkit.runs import Run

#: How many test images the sample grid shows (any index below ``max_samples`` can be chosen).
GRID = 24
#: Robustness curves kept per dashboard, by (attack, eps): a new sample reuses its attack's curve.
CURVES_KEPT = 32

_Dashboard = TypeVar("_Dashboard", bound="_InspectorDashboard")


class _InspectorDashboard(anywidget.AnyWidget):
    """What both dashboards share: the sample grid, the worker, supersession and error reporting."""

    #: the traits whose change asks for a new result (the front end's controls)
    _choices: ClassVar[tuple[str, ...]] = ("index",)
    _request_name: ClassVar[str] = "inspect"

    title = t.Unicode("").tag(sync=True)
    classes = t.List(t.Unicode()).tag(sync=True)
    #: how many test images can be chosen (``max_samples`` or fewer)
    total = t.Int(0).tag(sync=True)
    #: the grid: ``[{"index", "label", "predicted", "image"}]`` (PNG data URLs)
    samples = t.List(t.Dict()).tag(sync=True)
    #: the test image shown
    index = t.Int(0).tag(sync=True)
    #: the latest request's answer (``ModelInspector``'s dict), ``{}`` while none or after a failure
    result = t.Dict().tag(sync=True)
    busy = t.Bool(False).tag(sync=True)
    #: the last outcome worth showing: ``{"text", "level": "error", "at": seconds since the epoch}``
    message = t.Dict().tag(sync=True)

    def __init__(
        self,
        model: nn.Module | None = None,
        data: Any = None,
        *,
        inspector: ModelInspector | None = None,
        max_samples: int = 256,
        grid: int = GRID,
        **kwargs: Any,
    ) -> None:
        from dltoolkit.inspector import ModelInspector

        if inspector is None:
            if model is None or data is None:
                raise TypeError(f"{type(self).__name__} needs a model and its data module, or inspector=")
            inspector = ModelInspector(model, data, max_samples=max_samples)
        elif model is not None or data is not None:
            raise TypeError("pass either a model and its data module or inspector=, not both")
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"grid must be a positive number of samples, got {grid!r}")
        super().__init__(**kwargs)
        self.inspector = inspector
        shown = inspector.samples(grid)
        data_name = f" · {type(data).__name__}" if data is not None else ""
        with self.hold_sync():
            self.title = type(inspector.model).__name__ + data_name
            self.classes = shown["classes"]
            self.total = shown["total"]
            self.samples = shown["samples"]
        self._lock = threading.Lock()  # the request counter and what is published
        self._latest = 0  # the number of the newest request: only its outcome is shown
        self._future: Future[dict[str, Any] | None] | None = None
        self._error: BaseException | None = None  # the newest request's failure, for wait()
        self._quiet = threading.local()  # set while the Python API sets several choices at once
        # one worker: requests run in the order they came (the inspector serialises them anyway)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dltoolkit-inspect")
        self.observe(self._on_choice, names=list(self._choices))
        self.on_msg(self._on_msg)
        route_to_subshell(self)  # clicks are answered while another cell runs
        self._submit()  # the first sample's result, at once

    @classmethod
    def for_run(cls: type[_Dashboard], run: Run, max_samples: int = 256, **kwargs: Any) -> _Dashboard:
        """The dashboard of a run's trained model (its last checkpoint) and data module:
        ``ExplainDashboard.for_run(Run(run_id))``."""
        from dltoolkit.inspector import ModelInspector

        return cls(inspector=ModelInspector.for_run(run, max_samples=max_samples), **kwargs)

    # --- Python API ----------------------------------------------------------------------------

    def select(self, index: int) -> None:
        """What a click on sample ``index`` does: show its result, computed in the worker (``wait()``
        for it)."""
        with self._quietly():
            self.index = index
        self._submit()

    def run(self, **choices: Any) -> dict[str, Any]:
        """Set ``choices`` (trait names: ``dash.run(index=3)``), compute now and return the result dict,
        which the widget shows too; a failure is raised (and shown)."""
        unknown = sorted(set(choices) - set(self._choices))
        if unknown:
            raise TypeError(f"unknown choice(s) {', '.join(unknown)}; expected {', '.join(self._choices)}")
        with self._quietly():
            for name, value in choices.items():
                setattr(self, name, value)
        result = self._submit(force=True).result()
        assert result is not None  # a forced request is never skipped
        return result

    def wait(self, timeout: float | None = 60.0) -> dict[str, Any]:
        """Wait until the newest request is answered and return its result; raise its failure."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            future = self._future
            if future is None:
                break
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                future.result(remaining)
            except TimeoutError:
                raise TimeoutError(f"no result within {timeout} s") from None
            except Exception:  # its failure is kept in self._error, raised below
                pass
            if future is self._future:
                break
        if self._error is not None:
            raise self._error
        return dict(self.result)

    @property
    def error(self) -> str | None:
        """The text of the failure shown in the widget, if any."""
        return str(self.message["text"]) if self.message.get("level") == "error" else None

    def close(self) -> None:
        """Drop waiting requests and close the widget."""
        if hasattr(self, "_executor"):  # (not set if __init__ failed; ipywidgets closes on __del__ too)
            self._executor.shutdown(wait=False, cancel_futures=True)
        super().close()

    # --- requests ------------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._choices}

    def _compute(self, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _describe(self, params: dict[str, Any]) -> str:
        return f"{self._request_name} sample {params['index']}"

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Choices set in here ask for no request of their own (the caller submits one for all)."""
        self._quiet.active = True
        try:
            yield
        finally:
            self._quiet.active = False

    def _on_choice(self, _change: Any) -> None:
        if not getattr(self._quiet, "active", False):
            with contextlib.suppress(RuntimeError):  # closed: nothing left to show it
                self._submit()

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action != "run":
            self._report(f"unknown action {action!r}; expected 'run'")
            return
        with contextlib.suppress(RuntimeError):
            self._submit()

    def _submit(self, force: bool = False) -> Future[dict[str, Any] | None]:
        """Queue a request for the current choices; it supersedes every older one."""
        with self._lock:
            self._latest += 1
            number, params = self._latest, self._params()
            future = self._executor.submit(self._serve, number, params, force)
            self._future = future
            self.busy = True  # (the worker publishes only after this lock is released)
        return future

    def _serve(self, number: int, params: dict[str, Any], force: bool) -> dict[str, Any] | None:
        if not force and number != self._latest:
            return None  # superseded while it waited: never computed
        try:
            result = self._compute(params)
        except Exception as err:
            self._publish(number, params, None, err)
            raise
        self._publish(number, params, result, None)
        return result

    def _publish(
        self, number: int, params: dict[str, Any], result: dict[str, Any] | None, error: Exception | None
    ) -> None:
        with self._lock:
            if number != self._latest:
                return  # a newer request is under way or done: its outcome is the one shown
            self._error = error
            with self.hold_sync():
                self.result = result or {}
                if error is not None:
                    self._report(f"{self._describe(params)}: {error}")
                elif self.message:
                    self.message = {}
                self.busy = False

    def _report(self, text: str) -> None:
        self.message = {"text": text, "level": "error", "at": time.time()}


class ExplainDashboard(_InspectorDashboard):
    """A test image's explanation: ``ExplainDashboard(model, data)`` (front end:
    ``widgets/src/explain_dashboard.ts``).

    Choose a sample from the grid, a method (``dltoolkit.explain.attributions.METHODS``), the class
    explained (default: the predicted one) and SmoothGrad; the widget shows the input, the attribution
    heatmap and its overlay, and the top classes with their probabilities.

        dash = ExplainDashboard(model, dm, max_samples=64)
        dash.explain(3, "saliency", smoothgrad=True)    # {"index", "target", "top", "overlay", ...}

    Args:
        model: a trained classifier that takes ``data``'s normalised images.
        data: its dltoolkit image data module (the test split is the pool of samples).
        inspector: a ``ModelInspector`` to use instead of ``model`` and ``data`` (one can serve both
            dashboards).
        max_samples: how many test images can be chosen.
        grid: how many of them the grid shows.
        kwargs: initial choices (``index=3, method="deeplift"``) and widget options.
    """

    _esm = asset("explain_dashboard.js")
    _css = asset("explain_dashboard.css")
    _choices = ("index", "method", "target", "smoothgrad")
    _request_name = "explain"

    #: the attribution method, a key of ``dltoolkit.explain.attributions.METHODS``
    method = t.Unicode("integrated_gradients").tag(sync=True)
    #: the class explained; None: the predicted class
    target = t.Int(None, allow_none=True).tag(sync=True)
    #: average over noisy copies of the input (SmoothGrad, Smilkov et al. 2017)
    smoothgrad = t.Bool(False).tag(sync=True)
    #: the method names offered
    methods = t.List(t.Unicode()).tag(sync=True)

    def __init__(self, model: nn.Module | None = None, data: Any = None, **kwargs: Any) -> None:
        from dltoolkit.explain.attributions import METHODS

        self._methods = list(METHODS)
        super().__init__(model, data, methods=self._methods, **kwargs)

    def explain(
        self,
        index: int,
        method: str = "integrated_gradients",
        target: int | None = None,
        smoothgrad: bool = False,
    ) -> dict[str, Any]:
        """Explain sample ``index`` (as ``ModelInspector.explain``), show it and return the result dict."""
        return self.run(index=index, method=method, target=target, smoothgrad=smoothgrad)

    def _compute(self, params: dict[str, Any]) -> dict[str, Any]:
        result = self.inspector.explain(
            params["index"], params["method"], target=params["target"], smoothgrad=params["smoothgrad"]
        )
        return {**result, "smoothgrad": params["smoothgrad"]}

    def _describe(self, params: dict[str, Any]) -> str:
        smooth = " with SmoothGrad" if params["smoothgrad"] else ""
        return f"{params['method']}{smooth} on sample {params['index']}"


class AttackDashboard(_InspectorDashboard):
    """A test image attacked: ``AttackDashboard(model, data)`` (front end:
    ``widgets/src/attack_dashboard.ts``).

    Choose a sample, an attack (``dltoolkit.robustness.attacks.ATTACKS``) and its L∞ budget ``eps``
    (pixel units); the widget shows the original, adversarial and perturbation images with their
    predictions, ‖δ‖∞, and the robustness curve: accuracy against eps on the first ``curve_samples``
    test images. CW and DeepFool search for the smallest L2 perturbation: no eps, no curve.

        dash = AttackDashboard(model, dm)
        dash.attack(3, "fgsm", eps=0.2)["adversarial"][0]    # the top class after the attack

    Args:
        model, data, inspector, max_samples, grid, kwargs: as for ``ExplainDashboard``.
        curve_samples: how many test images the robustness curve attacks at each eps.
    """

    _esm = asset("attack_dashboard.js")
    _css = asset("attack_dashboard.css")
    _choices = ("index", "attack_name", "eps")
    _request_name = "attack"

    #: the attack, a key of ``dltoolkit.robustness.attacks.ATTACKS``
    attack_name = t.Unicode("pgd").tag(sync=True)
    #: the L∞ budget in [0, 1] pixel units (ignored by the minimum-norm attacks)
    eps = t.Float(0.1).tag(sync=True)
    #: the attack names offered, and those that take an eps
    attacks = t.List(t.Unicode()).tag(sync=True)
    eps_attacks = t.List(t.Unicode()).tag(sync=True)

    def __init__(
        self, model: nn.Module | None = None, data: Any = None, *, curve_samples: int = 64, **kwargs: Any
    ) -> None:
        from dltoolkit.robustness.attacks import ATTACKS, EPS_ATTACKS

        if isinstance(curve_samples, bool) or not isinstance(curve_samples, int) or curve_samples < 1:
            raise ValueError(f"curve_samples must be a positive integer, got {curve_samples!r}")
        self.curve_samples = curve_samples
        # curves by (attack, eps); only the worker thread reads and writes them
        self._curves: OrderedDict[tuple[str, float], list[dict[str, float]] | None] = OrderedDict()
        eps_attacks = [name for name in ATTACKS if name in EPS_ATTACKS]
        super().__init__(model, data, attacks=list(ATTACKS), eps_attacks=eps_attacks, **kwargs)

    def attack(self, index: int, name: str = "pgd", eps: float = 0.1) -> dict[str, Any]:
        """Attack sample ``index`` (as ``ModelInspector.attack``), show it and return the result dict."""
        return self.run(index=index, attack_name=name, eps=eps)

    def _compute(self, params: dict[str, Any]) -> dict[str, Any]:
        from dltoolkit.robustness.attacks import EPS_ATTACKS, canonical_attack_name

        key = canonical_attack_name(params["attack_name"])
        eps = float(params["eps"])
        if not (math.isfinite(eps) and 0.0 <= eps <= 1.0):
            raise ValueError(f"eps must be in [0, 1] (an L∞ budget in pixel units), got {eps!r}")
        bounded = key in EPS_ATTACKS
        cached = (key, eps) in self._curves
        result = self.inspector.attack(
            params["index"], key, eps, curve=bounded and not cached, curve_samples=self.curve_samples
        )
        if bounded:  # the curve does not depend on the sample: computed once per attack and eps
            if cached:
                self._curves.move_to_end((key, eps))
                result["curve"] = self._curves[(key, eps)]
            else:
                self._curves[(key, eps)] = result["curve"]
                if len(self._curves) > CURVES_KEPT:
                    self._curves.popitem(last=False)
            result["curve_samples"] = min(self.curve_samples, self.total)
        return result

    def _describe(self, params: dict[str, Any]) -> str:
        return f"{params['attack_name']} on sample {params['index']}"

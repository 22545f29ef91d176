"""Attributions of an image classifier's decision, by Captum's methods, named by string.

    from dltoolkit.explain import explain
    result = explain(model, x, "integrated_gradients")             # x: (B, C, H, W), what the model takes
    result.attributions                                            # (B, C, H, W): one score per input value
    cam = explain(model, x, "grad_cam")                            # last conv layer's map, (B, 1, H, W)
    smooth = explain(model, x, "saliency", smoothgrad=True, nt_samples=20)   # SmoothGrad (NoiseTunnel)

Inputs are what the model's ``forward`` takes: the catalog's image classifiers take batches normalised by
their data module (``Normalize(mean, std)``), so a baseline of zeros is the training mean, not a black
image. ``target=None`` explains the predicted class. The model is in eval mode for the call and gets its
own modes back afterwards; it is never copied or changed.

Each method is Captum's own class (``captum.attr``), called as its authors document; what is added here is
checking, the method table, the defaults that make each method work on any catalog model, and
upsampling of layer maps to the input's size for overlays.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from captum import attr
from torch import Tensor, nn

from dltoolkit.catalog import unknown_name
from dltoolkit.explain._model import (
    Target,
    check_inputs,
    eval_mode,
    resolve_layer,
    resolve_target,
)

#: Layers that Grad-CAM and Layer Conductance pick by default: the last convolution.
CONV_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _no_defaults(inputs: Tensor) -> dict[str, Any]:
    return {}


def _zero_baseline_distribution(inputs: Tensor) -> dict[str, Any]:
    # GradientShap samples baselines from a distribution; with one all-zero reference it is expected
    # gradients along the path from the mean input (pass `baselines=` training images for SHAP proper).
    return {"baselines": torch.zeros_like(inputs[:1]), "n_samples": 20}


def _occlusion_windows(inputs: Tensor) -> dict[str, Any]:
    # Zeiler & Fergus (2014) slide a grey square over the image: here a square of baseline values (zero:
    # the mean of standardised inputs), about 1/7 of the side,
    # over all channels (1x1 on 8x8 digits, 4x4 with stride 2 on 28x28), every feature once for
    # non-image inputs; 16 occluded copies per forward pass.
    if inputs.ndim == 4:
        c, h, w = inputs.shape[1:]
        side = max(1, min(h, w) // 7)
        stride = max(1, side // 2)
        window: tuple[int, ...] = (c, side, side)
        strides: tuple[int, ...] = (c, stride, stride)
    else:
        window = strides = tuple(1 for _ in inputs.shape[1:])
    return {"sliding_window_shapes": window, "strides": strides, "perturbations_per_eval": 16}


@contextmanager
def _quiet_hook_warnings(active: bool) -> Iterator[None]:
    """DeepLift and Guided Backprop warn on every call that they hook the activations (and remove the hooks
    again): silence that, for their calls only, since ``catch_warnings`` resets the caches of every
    ``warnings.warn`` in the process, a cost of 1-2 % of a small model's Integrated Gradients call."""
    if not active:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting .*hooks", category=UserWarning)
        yield


@dataclass(frozen=True)
class Method:
    """One attribution method: how to build Captum's object and the defaults it needs to run."""

    build: Callable[[nn.Module, nn.Module | None], Any]
    defaults: Callable[[Tensor], dict[str, Any]] = _no_defaults
    layer: bool = False  # attributes to a layer's output (needs `layer`, default the last conv)
    has_delta: bool = False  # can return Captum's convergence delta
    hooks_activations: bool = False  # Captum warns, every call, that it hooks the activations
    paper: str = ""


METHODS: dict[str, Method] = {
    "integrated_gradients": Method(
        lambda model, _: attr.IntegratedGradients(model),
        lambda _: {"n_steps": 50},
        has_delta=True,
        paper="Sundararajan et al. (2017)",
    ),
    "saliency": Method(lambda model, _: attr.Saliency(model), paper="Simonyan et al. (2014)"),
    "deeplift": Method(
        lambda model, _: attr.DeepLift(model),
        has_delta=True,
        hooks_activations=True,
        paper="Shrikumar et al. (2017)",
    ),
    "gradient_shap": Method(
        lambda model, _: attr.GradientShap(model),
        _zero_baseline_distribution,
        has_delta=True,
        paper="Lundberg & Lee (2017)",
    ),
    "occlusion": Method(
        lambda model, _: attr.Occlusion(model), _occlusion_windows, paper="Zeiler & Fergus (2014)"
    ),
    "guided_backprop": Method(
        lambda model, _: attr.GuidedBackprop(model),
        hooks_activations=True,
        paper="Springenberg et al. (2015)",
    ),
    "grad_cam": Method(
        lambda model, layer: attr.LayerGradCam(model, layer),
        lambda _: {"relu_attributions": True},  # the paper's ReLU: only evidence *for* the class
        layer=True,
        paper="Selvaraju et al. (2017)",
    ),
    "layer_conductance": Method(
        lambda model, layer: attr.LayerConductance(model, layer),
        lambda _: {"n_steps": 50},
        layer=True,
        has_delta=True,
        paper="Dhamdhere et al. (2019)",
    ),
}

#: SmoothGrad's noise, as a share of the inputs' value range (Smilkov et al. 2017 found 10-20 % best).
SMOOTHGRAD_NOISE = 0.15


@dataclass(frozen=True)
class Explanation:
    """What ``explain`` returns: the attributions and what is needed to draw and check them.

    Attributions of input methods have the inputs' shape. Layer methods keep the layer's own scores in
    ``layer_attributions`` and put in ``attributions`` a map of the input's height and width,
    ``(B, 1, H, W)`` (Grad-CAM's map; Layer Conductance summed over the layer's channels), upsampled
    bilinearly; for a layer without a spatial map (a ``Linear``) ``attributions`` is the layer's
    ``(B, units)``.
    """

    method: str
    attributions: Tensor
    inputs: Tensor
    target: Tensor  # (B,) the class explained for each sample
    layer: str | None = None
    layer_attributions: Tensor | None = None
    delta: Tensor | None = None  # Captum's convergence delta, when asked (return_convergence_delta=True)

    def overlay(self, index: int = 0, image: Any = None, **options: Any) -> np.ndarray:
        """Sample ``index``'s attributions over ``image`` (default: its input, min-max scaled to [0, 1]) as
        an RGB array ``(H, W, 3)`` in [0, 1]: ``plt.imshow(result.overlay(0))``; options go to
        ``heatmap_overlay``."""
        from dltoolkit.explain.visualize import heatmap_overlay

        return heatmap_overlay(
            self.inputs[index] if image is None else image, self.attributions[index], **options
        )


def explain(
    model: nn.Module,
    inputs: Tensor,
    method: str = "integrated_gradients",
    target: Target = None,
    *,
    layer: str | nn.Module | None = None,
    smoothgrad: bool = False,
    nt_samples: int | None = None,
    nt_stdev: float | None = None,
    **options: Any,
) -> Explanation:
    """Attribute ``model``'s score for ``target`` on ``inputs`` with one of ``METHODS``.

        result = explain(model, x, "deeplift", target=3)
        result = explain(model, x, "integrated_gradients", n_steps=100, return_convergence_delta=True)
        result = explain(model, x, "grad_cam", layer="net.features.3")
        result = explain(model, x, "saliency", smoothgrad=True, nt_samples=25)

    Args:
        model: any ``nn.Module`` mapping ``inputs`` to class scores ``(B, K)``, e.g. a catalog model.
        inputs: a batch the model takes (for catalog models ``(B, *model.input_shape)``, normalised).
        method: ``integrated_gradients``, ``saliency``, ``deeplift``, ``gradient_shap``, ``occlusion``,
            ``guided_backprop``, ``grad_cam`` or ``layer_conductance``.
        target: class to explain: ``None`` (the predicted class of each sample), one int, or one per sample.
        layer: for ``grad_cam``/``layer_conductance``, a module of ``model`` or its name
            (``dict(model.named_modules())``); default the last convolution.
        smoothgrad: average the attributions over noisy copies of the inputs (SmoothGrad, Smilkov et al.
            2017, by Captum's ``NoiseTunnel``); implied by ``nt_samples``.
        nt_samples: noisy copies per sample (default 10 when ``smoothgrad``).
        nt_stdev: the noise's standard deviation (default 15 % of the inputs' value range).
        options: passed to the Captum method's ``attribute`` (``baselines``, ``n_steps``,
            ``sliding_window_shapes``, ``internal_batch_size``, ``return_convergence_delta`` …), over
            the defaults: baselines of zeros, 50 steps for path methods, a 20-sample zero-baseline
            distribution for GradientShap, 1/7-side windows for Occlusion.
    """
    if method not in METHODS:
        raise unknown_name("attribution method", method, list(METHODS))
    spec = METHODS[method]
    if layer is not None and not spec.layer:
        layer_methods = ", ".join(name for name, m in METHODS.items() if m.layer)
        raise ValueError(f"{method} attributes to the inputs; layer= is for {layer_methods}")
    if nt_samples is not None and nt_samples < 1:
        raise ValueError(f"nt_samples must be a positive integer, got {nt_samples}")
    if nt_stdev is not None and nt_stdev < 0:
        raise ValueError(f"nt_stdev must be non-negative, got {nt_stdev}")
    want_delta = bool(options.pop("return_convergence_delta", False))
    if want_delta and not spec.has_delta:
        with_delta = ", ".join(name for name, m in METHODS.items() if m.has_delta)
        raise ValueError(f"{method} has no convergence delta; methods with one: {with_delta}")
    x = check_inputs(model, inputs)
    with eval_mode(model), _quiet_hook_warnings(spec.hooks_activations):
        classes = resolve_target(model, x, target)
        layer_name, layer_module = resolve_layer(model, layer, CONV_LAYERS) if spec.layer else (None, None)
        algorithm = spec.build(model, layer_module)
        x_grad = x.detach().requires_grad_()  # a new leaf: the caller's tensor keeps its own flag
        kwargs: dict[str, Any] = {**spec.defaults(x), **options, "target": classes}
        if want_delta:
            kwargs["return_convergence_delta"] = True
        if smoothgrad or nt_samples is not None:
            if nt_stdev is None:
                value_range = float(x.max() - x.min())
                nt_stdev = SMOOTHGRAD_NOISE * (value_range if value_range > 0 else 1.0)
            result = attr.NoiseTunnel(algorithm).attribute(
                x_grad, nt_type="smoothgrad", nt_samples=nt_samples or 10, stdevs=nt_stdev, **kwargs
            )
        else:
            result = algorithm.attribute(x_grad, **kwargs)
    scores, delta = result if want_delta else (result, None)
    scores = scores.detach()
    layer_scores = None
    if spec.layer:
        layer_scores = scores
        if method == "layer_conductance" and scores.ndim == 4:
            scores = scores.sum(1, keepdim=True)  # (B, 1, h, w): conductance of each position of the layer
        if scores.ndim == x.ndim == 4:
            scores = F.interpolate(
                scores, size=x.shape[-2:], mode="bilinear", align_corners=False
            )  # (B, 1, H, W)
    return Explanation(
        method=method,
        attributions=scores,
        inputs=x.detach(),
        target=classes,
        layer=layer_name,
        layer_attributions=layer_scores,
        delta=None if delta is None else delta.detach(),
    )

"""Drawing explanations: a heat map over the image as an RGB array, and the model's top classes.

    from dltoolkit.explain import explain, heatmap_overlay, top_k
    result = explain(model, x, "grad_cam")
    rgb = heatmap_overlay(x[0], result.attributions[0])   # (H, W, 3) floats in [0, 1]: plt.imshow(rgb)
    top_k(model, x[0], k=3, class_names=dm.classes)      # [("7", 0.91), ("9", 0.05), ("1", 0.02)]

No pyplot figure is made: the colour maps are matplotlib's (``matplotlib.colormaps``), applied to numpy
arrays, so the result goes to ``plt.imshow``, ``PIL.Image.fromarray((rgb * 255).astype("uint8"))``, a
widget or a test alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from dltoolkit.explain._model import check_inputs, eval_mode, expected_input_shape, num_classes_of

Sign = Literal["absolute", "positive", "negative", "all"]


def _as_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.detach().float().cpu().numpy()
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]  # a batch of one
    if array.ndim not in (2, 3):
        raise ValueError(f"{what} must be (H, W), (C, H, W) or (1, C, H, W), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return array


def _image_rgb(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` in [0, 1] from ``(H, W)``/``(C, H, W)`` (channels first, as torch); min-max scaled
    when outside [0, 1] (a normalised input)."""
    if image.ndim == 2:
        image = image[None]
    if image.shape[0] not in (1, 3):
        raise ValueError(f"image must have 1 or 3 channels (channels first), got {image.shape[0]}")
    rgb = np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image
    rgb = rgb.transpose(1, 2, 0)  # (H, W, 3)
    low, high = rgb.min(), rgb.max()
    if low < 0 or high > 1:
        rgb = (rgb - low) / (high - low) if high > low else np.zeros_like(rgb)
    return rgb


def heatmap_overlay(
    image: Any,
    attribution: Any,
    *,
    sign: Sign = "absolute",
    cmap: str | None = None,
    alpha: float = 0.5,
    outlier_percent: float = 2.0,
) -> np.ndarray:
    """``attribution`` drawn as a colour map over ``image``: an RGB array ``(H, W, 3)`` of floats in [0, 1].

        rgb = heatmap_overlay(x[0], explain(model, x, "saliency").attributions[0], alpha=0.6)

    Args:
        image: ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)`` tensor or array, C = 1 or 3; values outside
            [0, 1] (a normalised input) are min-max scaled for display.
        attribution: of the image's height and width, any number of channels (summed, as Captum's
            ``visualize_image_attr`` does).
        sign: which scores to show: ``absolute`` (magnitude), ``positive``, ``negative`` (its magnitude)
            or ``all`` (diverging colours, zero in the middle).
        cmap: a matplotlib colour map name (default ``inferno``, or ``bwr`` for ``sign="all"``).
        alpha: weight of the heat map over the image (0: image only, 1: heat map only).
        outlier_percent: the top share of scores that saturates the colour map, so one extreme value does
            not wash out the rest (Captum's default, 2 %).
    """
    from matplotlib import colormaps

    if sign not in ("absolute", "positive", "negative", "all"):
        raise ValueError(f"sign must be absolute, positive, negative or all, got {sign!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if not 0.0 <= outlier_percent < 100.0:
        raise ValueError(f"outlier_percent must be in [0, 100), got {outlier_percent}")
    rgb = _image_rgb(_as_array(image, "image"))
    scores = _as_array(attribution, "attribution")
    if scores.ndim == 3:
        scores = scores.sum(0)  # (H, W)
    if scores.shape != rgb.shape[:2]:
        raise ValueError(
            f"attribution is {scores.shape[0]}x{scores.shape[1]} "
            f"but the image is {rgb.shape[0]}x{rgb.shape[1]}"
        )
    if sign == "absolute":
        scores = np.abs(scores)
    elif sign == "positive":
        scores = np.clip(scores, 0, None)
    elif sign == "negative":
        scores = np.clip(-scores, 0, None)
    scale = np.percentile(np.abs(scores), 100.0 - outlier_percent)
    if scale <= 0:
        scale = (
            np.abs(scores).max() or 1.0
        )  # an all-zero (or nearly so) map stays at the colour map's low end
    if sign == "all":
        levels = np.clip(scores / scale, -1.0, 1.0) * 0.5 + 0.5  # zero maps to the middle colour
    else:
        levels = np.clip(scores / scale, 0.0, 1.0)
    colours = colormaps[cmap or ("bwr" if sign == "all" else "inferno")](levels)[..., :3]  # (H, W, 3)
    return np.clip((1.0 - alpha) * rgb + alpha * colours, 0.0, 1.0)


def top_k(
    model: nn.Module, inputs: Tensor, k: int = 5, class_names: Sequence[str] | None = None
) -> list[tuple[str | int, float]]:
    """The model's ``k`` most probable classes for one input, ``[(class, probability), …]``, best first.

        top_k(model, x[0], k=3, class_names=dm.classes)   # [("7", 0.91), ("9", 0.05), ("1", 0.02)]

    ``inputs`` is one sample (``(C, H, W)``) or a batch of one (``(1, C, H, W)``), as the model takes it;
    classes are ``class_names[i]`` when given, else the index ``i``. The model runs in eval mode.
    """
    if isinstance(inputs, Tensor) and tuple(inputs.shape) == expected_input_shape(model):
        inputs = inputs.unsqueeze(0)  # one sample -> a batch of one
    x = check_inputs(model, inputs)
    if len(x) != 1:
        raise ValueError(f"top_k explains one input at a time, got a batch of {len(x)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    with torch.no_grad(), eval_mode(model):
        probabilities = model(x).softmax(-1)[0]  # (K,)
    n = num_classes_of(model) or len(probabilities)
    if k > n:
        raise ValueError(f"k={k} is more than the model's {n} classes")
    if class_names is not None and len(class_names) != n:
        raise ValueError(f"class_names has {len(class_names)} names for a model of {n} classes")
    values, indices = probabilities.topk(k)
    return [
        (class_names[i] if class_names is not None else i, float(p))
        for p, i in zip(values.tolist(), indices.tolist(), strict=True)
    ]

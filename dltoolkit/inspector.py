"""A trained image classifier and its test images, explained and attacked, with JSON-ready answers.

The sidebar's Explain and Attack views (through ``POST runs/{id}/explain`` and ``.../attack``) and the
notebook's ``ExplainDashboard`` and ``AttackDashboard`` show the same things; this module computes
them once, from ``dltoolkit.explain`` (Captum) and ``dltoolkit.robustness`` (torchattacks).

    inspector = ModelInspector(model, datamodule)          # or ModelInspector.for_run(run)
    inspector.samples(24)                                  # test images to pick from (PNG data URLs)
    inspector.explain(3, "integrated_gradients")           # image, heatmap overlay, top classes
    inspector.attack(3, "pgd", eps=0.1)                    # original, adversarial, perturbation, curve

Everything works in [0, 1] pixel space: the data module's normalisation goes inside the model
(``PixelSpaceModel``), so attributions and perturbations are of the pixels a person sees.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor, nn

    from dltoolkit.runs import Run

#: Budgets of the robustness curve (plus the one asked for), in pixel units.
CURVE_EPS = (0.0, 0.05, 0.1, 0.2, 0.3)


def png_data_url(rgb: Any) -> str:
    """A ``data:image/png;base64,…`` URL of an image (``(H, W)``, ``(H, W, 3)`` or ``(C, H, W)``, in [0, 1]).

    >>> png_data_url(np.zeros((8, 8)))[:22]
    'data:image/png;base64,'
    """
    import numpy as np
    from PIL import Image

    array = np.asarray(rgb.detach().cpu() if hasattr(rgb, "detach") else rgb, dtype=np.float32)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"expected an image (H, W), (H, W, 3) or (C, H, W), got shape {array.shape}")
    image = Image.fromarray((np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class ModelInspector:
    """Test images of ``datamodule`` and a trained ``model``: predictions, explanations and attacks.

    Args:
        model: a trained classifier that takes the data module's (normalised) images.
        datamodule: a dltoolkit image data module (its test split is the pool of samples).
        max_samples: how many test images to keep (the first ones of the seeded test split).

    Calls are serialised by a lock: one model, used by one computation at a time.
    """

    def __init__(self, model: nn.Module, datamodule: Any, max_samples: int = 256) -> None:
        from dltoolkit.robustness import PixelSpaceModel, data_normalization, pixel_test_data

        if max_samples < 1:
            raise ValueError(f"max_samples must be a positive integer, got {max_samples}")
        self.model = model.eval()
        self.images, self.labels = pixel_test_data(datamodule, max_samples)  # (N, C, H, W) in [0, 1], (N,)
        # computations run where the model is (a GPU model stays there); the pool stays on the CPU
        self.device = next((p.device for p in model.parameters()), self.images.device)
        self.pixel_model = PixelSpaceModel(model, *data_normalization(datamodule)).to(self.device).eval()
        self.classes: list[str] = [str(c) for c in getattr(datamodule, "classes", range(self._num_classes()))]
        self._lock = threading.Lock()

    @classmethod
    def for_run(cls, run: Run, max_samples: int = 256) -> ModelInspector:
        """The inspector of a run's trained model (last checkpoint) and its data module."""
        model, data = run.load()
        return cls(model, data, max_samples=max_samples)

    def _num_classes(self) -> int:
        import torch

        with torch.no_grad():
            return int(self.pixel_model(self.images[:1].to(self.device)).shape[-1])

    def _sample(self, index: Any) -> tuple[Tensor, int]:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"index must be an integer, got {index!r}")
        if not 0 <= index < len(self.labels):
            raise ValueError(f"index {index} is out of range: there are {len(self.labels)} test samples")
        return self.images[index : index + 1].to(self.device), int(self.labels[index])

    def _prediction(self, x: Tensor, k: int = 5) -> list[dict[str, Any]]:
        from dltoolkit.explain import top_k

        k = min(k, len(self.classes))
        return [
            {"class": self.classes[int(i)], "index": int(i), "probability": p}
            for i, p in top_k(self.pixel_model, x, k=k)
        ]

    def _check_layer_method(self, method: str) -> None:
        """Layer methods here find their layer by themselves (the last convolution): say plainly when the
        model has none, rather than naming the pixel-space wrapper."""
        from torch import nn

        from dltoolkit.explain.attributions import METHODS

        spec = METHODS.get(method)
        convolutions = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
        if (
            spec is not None
            and spec.layer
            and not any(isinstance(m, convolutions) for m in self.model.modules())
        ):
            layer_methods = ", ".join(name for name, m in METHODS.items() if m.layer)
            raise ValueError(
                f"{type(self.model).__name__} has no convolution, and {layer_methods} explain a "
                "convolutional layer: pick another method"
            )

    def samples(self, count: int = 24) -> dict[str, Any]:
        """The first ``count`` test images with their labels and the model's predictions.

        ``{"classes": [...], "total": N, "samples": [{"index", "label", "predicted", "image"}]}``
        """
        import torch

        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        count = min(count, len(self.labels))
        with self._lock, torch.no_grad():
            predicted = self.pixel_model(self.images[:count].to(self.device)).argmax(-1).tolist()
        samples = [
            {
                "index": i,
                "label": int(self.labels[i]),
                "predicted": int(predicted[i]),
                "image": png_data_url(self.images[i]),
            }
            for i in range(count)
        ]
        return {"classes": self.classes, "total": len(self.labels), "samples": samples}

    def explain(
        self,
        index: int,
        method: str = "integrated_gradients",
        target: int | None = None,
        smoothgrad: bool = False,
    ) -> dict[str, Any]:
        """Explain test sample ``index``: its image, the heatmap overlay, the top classes.

        ``target`` is the class explained (``None``: the predicted one). Returns ``{"index", "label",
        "method", "target", "top", "image", "overlay", "heatmap", "seconds"}`` (images as PNG data URLs).
        """
        from dltoolkit.explain import explain
        from dltoolkit.explain.visualize import heatmap_overlay

        x, label = self._sample(index)
        if target is not None and (isinstance(target, bool) or not isinstance(target, int)):
            raise ValueError(f"target must be a class index or null, got {target!r}")
        if target is not None and not 0 <= target < len(self.classes):
            raise ValueError(
                f"target {target} is out of range: the model has {len(self.classes)} classes "
                f"(0..{len(self.classes) - 1})"
            )
        self._check_layer_method(method)
        start = time.perf_counter()
        with self._lock:
            result = explain(self.pixel_model, x, method, target=target, smoothgrad=smoothgrad)
            top = self._prediction(x)
        attribution = result.attributions[0]
        heat: np.ndarray = heatmap_overlay(x[0], attribution, alpha=1.0)
        return {
            "index": index,
            "label": label,
            "method": method,
            "target": int(result.target[0]),
            "top": top,
            "image": png_data_url(x[0]),
            "overlay": png_data_url(result.overlay(0)),
            "heatmap": png_data_url(heat),
            "seconds": time.perf_counter() - start,
        }

    def attack(
        self, index: int, name: str = "pgd", eps: float = 0.1, curve: bool = True, curve_samples: int = 64
    ) -> dict[str, Any]:
        """Attack test sample ``index`` with ``name`` at budget ``eps``; with ``curve``, accuracy vs eps on
        the first ``curve_samples`` test images (eps-bounded attacks only).

        Returns ``{"index", "label", "attack", "eps", "clean", "adversarial", "linf", "images":
        {"original", "adversarial", "perturbation"}, "curve": [{"eps", "accuracy"}] | None, "seconds"}``;
        ``clean``/``adversarial`` are the top classes before and after.
        """
        import torch

        from dltoolkit.robustness import attack, robustness_curve
        from dltoolkit.robustness.attacks import EPS_ATTACKS, canonical_attack_name

        x, label = self._sample(index)
        key = canonical_attack_name(name)
        bounded = key in EPS_ATTACKS

        start = time.perf_counter()
        with self._lock:
            result = attack(
                self.pixel_model,
                (x, torch.tensor([label], device=self.device)),
                key,
                eps if bounded else None,
            )
            adversarial = result.adversarial.to(self.device)  # AttackResult holds CPU tensors
            points = None
            if curve and bounded:
                n = min(curve_samples, len(self.labels))
                eps_list = sorted({*CURVE_EPS, float(eps)})
                data = (self.images[:n], self.labels[:n])
                points = [
                    {"eps": p.eps, "accuracy": p.adversarial_accuracy}
                    for p in robustness_curve(self.pixel_model, data, key, eps_list)
                ]
            clean_top, adversarial_top = self._prediction(x), self._prediction(adversarial)
        delta = result.perturbation[0]
        scale = float(delta.abs().max()) or 1.0
        return {
            "index": index,
            "label": label,
            "attack": key,
            "eps": result.eps,
            "clean": clean_top,
            "adversarial": adversarial_top,
            "linf": result.linf,
            "images": {
                "original": png_data_url(x[0]),
                "adversarial": png_data_url(adversarial[0]),
                # grey is no change; the extremes are the largest change either way
                "perturbation": png_data_url(0.5 + delta / (2 * scale)),
            },
            "curve": points,
            "seconds": time.perf_counter() - start,
        }

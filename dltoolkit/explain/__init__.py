"""Explanations of models' decisions (curriculum 14), with Captum.

    from dltoolkit.explain import explain, heatmap_overlay, randomisation_check
    result = explain(model, x, "integrated_gradients")      # Explanation: .attributions (B, C, H, W) …
    rgb = result.overlay(0)                                  # (H, W, 3) in [0, 1], for plt.imshow
    randomisation_check(model, x, "saliency").passed         # Adebayo et al. (2018)'s sanity check

One file per concern: ``attributions`` (``explain`` and its method table), ``sequence`` (token scores,
attention maps), ``quality`` (infidelity, sensitivity, the randomisation check), ``visualize`` (overlays,
top-k). Names are imported on first use, so ``import dltoolkit.explain`` imports neither torch nor Captum.
"""

from __future__ import annotations

from typing import Any

from dltoolkit._lazy import export, listing

_WHERE = {
    "METHODS": "dltoolkit.explain.attributions",
    "Explanation": "dltoolkit.explain.attributions",
    "explain": "dltoolkit.explain.attributions",
    "explain_tokens": "dltoolkit.explain.sequence",
    "attention_maps": "dltoolkit.explain.sequence",
    "explanation_quality": "dltoolkit.explain.quality",
    "randomisation_check": "dltoolkit.explain.quality",
    "RandomisationResult": "dltoolkit.explain.quality",
    "heatmap_overlay": "dltoolkit.explain.visualize",
    "top_k": "dltoolkit.explain.visualize",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    return export(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return listing(globals(), _WHERE)

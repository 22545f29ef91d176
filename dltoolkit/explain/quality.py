"""Is an explanation any good? Infidelity, max-sensitivity and the model-randomisation sanity check.

    from dltoolkit.explain import explanation_quality, randomisation_check
    explanation_quality(model, x, "saliency")            # {"infidelity": 0.012, "sensitivity_max": 0.08}
    check = randomisation_check(model, x, "integrated_gradients")
    check.correlation, check.passed                       # 0.21, True: the map depends on what was learnt

``infidelity`` (Yeh et al., 2019) and ``sensitivity_max`` are Captum's own (``captum.metrics``); lower is
better for both. The randomisation check is Adebayo et al. (2018), "Sanity Checks for Saliency Maps":
an explanation that barely changes when the model's weights are replaced by random ones explains the
input (edges, ink) rather than the model. The user's model is never changed: the check randomises a
``copy.deepcopy`` of it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from dltoolkit.explain._model import Target, check_inputs, eval_mode, resolve_target
from dltoolkit.explain.attributions import explain

#: ``randomisation_check`` passes when the mean rank correlation falls below this (see its docstring).
RANDOMISATION_THRESHOLD = 0.5


def _input_space(attributions: Tensor, inputs: Tensor, method: str) -> Tensor:
    """Attributions in the inputs' shape: a ``(B, 1, H, W)`` layer map is shared by the C channels."""
    if attributions.shape == inputs.shape:
        return attributions
    if (
        attributions.ndim == inputs.ndim
        and attributions.shape[1] == 1
        and attributions.shape[2:] == inputs.shape[2:]
    ):
        return attributions.expand_as(inputs) / inputs.shape[1]  # same total, spread over the channels
    raise ValueError(
        f"{method} gave attributions of shape {tuple(attributions.shape)}, not in the inputs' space "
        f"{tuple(inputs.shape)}; choose a convolutional layer (or an input method) to measure quality"
    )


def explanation_quality(
    model: nn.Module,
    inputs: Tensor,
    method: str = "integrated_gradients",
    target: Target = None,
    *,
    n_perturb_samples: int = 10,
    noise_std: float = 0.1,
    perturb_radius: float = 0.02,
    **options: Any,
) -> dict[str, float]:
    """Infidelity and max-sensitivity of ``method``'s attributions on ``inputs``, averaged over the batch.

        explanation_quality(model, x, "deeplift", target=y)   # {"infidelity": …, "sensitivity_max": …}

    * ``infidelity``: E[(Iᵀφ(x) - (f(x) - f(x - I)))²] over Gaussian perturbations I ~ N(0, noise_std²)
      (Yeh et al. 2019, eq. 2), with the attributions φ rescaled by the factor that minimises it
      (Captum's ``normalize=True``), so methods of different scale compare fairly.
    * ``sensitivity_max``: the largest relative change ‖φ(x + ε) - φ(x)‖ / ‖φ(x)‖ over
      ``n_perturb_samples`` draws of ε uniform in the L∞ ball of radius ``perturb_radius``.

    ``noise_std`` and ``perturb_radius`` are in the units of the model's (normalised) inputs. Further
    ``options`` (``layer=``, ``n_steps=``, ``smoothgrad=`` …) go to ``explain``.
    """
    from captum.metrics import infidelity, sensitivity_max

    if n_perturb_samples < 1:
        raise ValueError(f"n_perturb_samples must be a positive integer, got {n_perturb_samples}")
    if noise_std <= 0 or perturb_radius <= 0:
        raise ValueError(f"noise_std and perturb_radius must be positive, got {noise_std}, {perturb_radius}")
    x = check_inputs(model, inputs)
    classes = resolve_target(model, x, target)
    result = explain(model, x, method, classes, **options)
    attributions = _input_space(result.attributions, x, method)

    def gaussian_perturbation(batch: Tensor) -> tuple[Tensor, Tensor]:
        noise = torch.randn_like(batch) * noise_std
        return noise, batch - noise  # (I, x - I)

    def explanation_of(perturbed: Tensor | tuple[Tensor, ...], target: Tensor) -> tuple[Tensor]:
        # Captum passes the inputs as a 1-tuple and iterates over what comes back: a tuple, as Captum's
        # own attribute() returns for tuple inputs
        batch = perturbed[0] if isinstance(perturbed, tuple) else perturbed
        return (explain(model, batch, method, target, **options).attributions,)

    with eval_mode(model):
        infid = infidelity(
            model,
            gaussian_perturbation,
            x,
            attributions,
            target=classes,
            n_perturb_samples=n_perturb_samples,
            normalize=True,
        )
        sens = sensitivity_max(
            explanation_of,
            x,
            perturb_radius=perturb_radius,
            n_perturb_samples=n_perturb_samples,
            target=classes,
        )
    return {"infidelity": float(infid.mean()), "sensitivity_max": float(sens.mean())}


@dataclass(frozen=True)
class RandomisationResult:
    """The outcome of ``randomisation_check``.

    ``correlation`` is the mean (over the samples) Spearman rank correlation between the absolute
    attributions of the trained model and of the fully re-initialised copy; ``per_sample`` holds each
    sample's; ``layers`` the correlation after each cascading step, ``(layer name, rho)``, top layer first
    (empty when ``mode="all"``). ``passed`` is ``correlation < threshold``.
    """

    method: str
    mode: str
    correlation: float
    per_sample: list[float]
    threshold: float
    passed: bool
    layers: list[tuple[str, float]] = field(default_factory=list)


def _parametrised_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters (``Linear``, ``Conv2d``, ``BatchNorm`` …), in registration order."""
    return [(name, m) for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]


def _reinitialise(module: nn.Module) -> None:
    """Give ``module`` fresh weights by its own initialiser (PyTorch's default for the layer type)."""
    reset = getattr(module, "reset_parameters", None) or getattr(module, "_reset_parameters", None)
    if callable(reset):
        reset()  # BatchNorm's also resets its running statistics
        return
    with torch.no_grad():  # a layer without an initialiser: N(0, 0.02²) weights, as GPT-2 and BERT
        for p in module.parameters(recurse=False):
            p.normal_(0.0, 0.02)


def _spearman(a: Tensor, b: Tensor) -> list[float]:
    """Spearman's rho between ``a[i]`` and ``b[i]`` (flattened) for each sample ``i``, ties averaged."""
    from scipy.stats import spearmanr

    rhos = []
    for u, v in zip(a.flatten(1).double().cpu().numpy(), b.flatten(1).double().cpu().numpy(), strict=True):
        rho = float(spearmanr(u, v).statistic) if u.std() > 0 and v.std() > 0 else math.nan
        # a constant map (e.g. all zeros from a dead random net) has no ranking: nothing of the trained
        # map survives, which is the change the check looks for
        rhos.append(0.0 if math.isnan(rho) else rho)
    return rhos


def randomisation_check(
    model: nn.Module,
    inputs: Tensor,
    method: str = "integrated_gradients",
    target: Target = None,
    *,
    mode: Literal["cascading", "all"] = "cascading",
    threshold: float = RANDOMISATION_THRESHOLD,
    seed: int = 0,
    **options: Any,
) -> RandomisationResult:
    """The model-parameter randomisation test of Adebayo et al. (2018) for ``method`` on ``inputs``.

        check = randomisation_check(model, x, "saliency")
        print(check.correlation, check.passed, check.layers)

    A copy of the model has its weights re-initialised (each layer by its own ``reset_parameters``, i.e.
    PyTorch's default initialisation for that layer; BatchNorm statistics included):

    * ``mode="cascading"`` (the paper's main test): one layer at a time from the top (logits) down to the
      input, explaining after each step, so ``layers`` shows where the map stops resembling the trained
      one;
    * ``mode="all"``: every layer at once, one explanation.

    Both end with every layer re-initialised, and ``correlation`` compares that copy's attributions with
    the trained model's, for the same ``target`` (default: the trained model's prediction): Spearman's
    rank correlation of the absolute attributions (the paper's "absolute-value" maps), per sample, then
    averaged. The check passes when ``correlation < threshold``. The default threshold of 0.5 asks that
    at most a moderate monotone relation survive when everything the model learnt is gone; Adebayo et al.
    report the maps that fail (Guided Backprop, Guided Grad-CAM) staying near 1 through the cascade.
    ``seed`` fixes the new weights and any noise in the method (SmoothGrad), for repeatable results.
    """
    if mode not in ("cascading", "all"):
        raise ValueError(f"mode must be 'cascading' or 'all', got {mode!r}")
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a rank correlation, in [-1, 1]; got {threshold}")
    x = check_inputs(model, inputs)
    classes = resolve_target(model, x, target)
    randomised = copy.deepcopy(model)  # the user's model is never touched
    layers = _parametrised_layers(randomised)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no parameters to randomise")

    def attributions_of(net: nn.Module) -> Tensor:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the same noise (SmoothGrad, GradientShap) for every model compared
            return explain(net, x, method, classes, **options).attributions.abs()

    trained = attributions_of(model)
    steps: list[tuple[str, float]] = []
    per_sample: list[float] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, layer in reversed(layers):  # top (logits) first
            _reinitialise(layer)
            if mode == "cascading":
                per_sample = _spearman(trained, attributions_of(randomised))
                steps.append((name, sum(per_sample) / len(per_sample)))
    if mode == "all":
        per_sample = _spearman(trained, attributions_of(randomised))
    correlation = sum(per_sample) / len(per_sample)
    return RandomisationResult(
        method=method,
        mode=mode,
        correlation=correlation,
        per_sample=per_sample,
        threshold=threshold,
        passed=correlation < threshold,
        layers=steps,
    )

"""Adversarial attacks from torchattacks, by name, in pixel space, with a typed result.

    pixel_model = PixelSpaceModel(model, *data_normalization(dm))
    result = attack(pixel_model, pixel_test_data(dm), "pgd", eps=0.1, steps=10)
    result.clean_accuracy, result.adversarial_accuracy      # e.g. 0.97, 0.04
    curve = robustness_curve(pixel_model, pixel_test_data(dm), "pgd", eps_list=[0, 0.1, 0.2, 0.3])

``data`` is one batch ``(images, labels)`` or an iterable of batches (a ``DataLoader``) of images in
[0, 1]; ``model`` maps such images to logits (wrap a catalog classifier in ``PixelSpaceModel``, whose
docstring says why the normalisation belongs there). The attacks are torchattacks' own classes; this
module adds input checks, sensible step sizes, eval mode for the attack and a restored model after it.

torchattacks is imported on first use: it pins ``requests~=2.25.1``, which conflicts with JupyterLab,
so it is installed with ``pip install --no-deps torchattacks``.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from dltoolkit.catalog import unknown_name
from dltoolkit.robustness.pixel import check_pixel_batch

#: Attack names (lower case, no dashes) → torchattacks class names.
ATTACKS: dict[str, str] = {
    "fgsm": "FGSM",  # Goodfellow et al. (2015), one signed-gradient step
    "pgd": "PGD",  # Madry et al. (2018), projected gradient descent from a random start
    "mifgsm": "MIFGSM",  # Dong et al. (2018), momentum iterative FGSM
    "cw": "CW",  # Carlini & Wagner (2017), L2, minimum-norm
    "deepfool": "DeepFool",  # Moosavi-Dezfooli et al. (2016), L2, minimum-norm
    "square": "Square",  # Andriushchenko et al. (2020), gradient-free random search
    "autoattack": "AutoAttack",  # Croce & Hein (2020): APGD-CE, APGD-T, FAB-T, Square
}
#: Attacks bounded by an L∞ budget ``eps`` (CW and DeepFool search for the smallest L2 perturbation).
EPS_ATTACKS = frozenset({"fgsm", "pgd", "mifgsm", "square", "autoattack"})
#: Attacks that reseed torch's global generator (Square and AutoAttack's parts call manual_seed).
_RESEEDING = frozenset({"square", "autoattack"})
#: Options of ``autoattack`` that dltoolkit sets on its parts: 100 iterations as in Croce & Hein (2020)
#: (torchattacks' AutoAttack leaves its APGD/FAB parts at 10) and Square's query budget.
_AUTOATTACK_PART_OPTIONS = {"steps": 100, "n_queries": 5000}
#: eps when none is given: torchattacks' own default (8/255, the CIFAR-10 convention).
DEFAULT_EPS = 8 / 255


def import_torchattacks() -> ModuleType:
    """``import torchattacks``, or an ImportError saying how to install it without breaking JupyterLab."""
    try:
        import torchattacks
    except ImportError as exc:
        raise ImportError(
            "dltoolkit.robustness needs torchattacks; install it with `pip install --no-deps torchattacks` "
            "(--no-deps because it pins requests~=2.25.1, which conflicts with JupyterLab)"
        ) from exc
    return torchattacks


def canonical_attack_name(name: str) -> str:
    """``"MI-FGSM"`` → ``"mifgsm"``; an unknown name is an ``UnknownNameError`` listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"attack name must be a string, got {type(name).__name__}")
    key = name.lower().replace("-", "").replace("_", "")
    if key not in ATTACKS:
        raise unknown_name("attack", name, list(ATTACKS))
    return key


def _check_eps(key: str, eps: float | None) -> float | None:
    if key not in EPS_ATTACKS:
        if eps is not None:
            raise ValueError(
                f"{ATTACKS[key]} is a minimum-norm L2 attack and takes no eps; "
                f"eps-bounded attacks: {', '.join(sorted(EPS_ATTACKS))}"
            )
        return None
    eps = DEFAULT_EPS if eps is None else eps
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps < 0:
        raise ValueError(
            f"eps must be a finite number >= 0 (an L∞ budget in [0, 1] pixel units), got {eps!r}"
        )
    return float(eps)


def build_attack(
    model: nn.Module, name: str, eps: float | None = None, num_classes: int = 10, **options: Any
) -> Any:
    """The torchattacks attack ``name`` on ``model`` (a pixel-space model), with dltoolkit's defaults.

    Defaults that differ from torchattacks': PGD and MI-FGSM take ``alpha = 2.5 · eps / steps``
    (Madry et al.'s rule; torchattacks' fixed 2/255 cannot reach an ε of 0.3 in 10 steps); Square and
    AutoAttack are seeded (``seed=0``); AutoAttack gets ``n_classes`` from the model and runs its parts
    for ``steps=100`` iterations and ``n_queries=5000`` Square queries.

    >>> pgd = build_attack(pixel_model, "pgd", eps=0.1, steps=20)
    """
    torchattacks = import_torchattacks()
    key = canonical_attack_name(name)
    checked_eps = _check_eps(key, eps)
    cls = getattr(torchattacks, ATTACKS[key])
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "model")]
    part_options: dict[str, Any] = {}
    if key == "autoattack":
        accepted += list(_AUTOATTACK_PART_OPTIONS)
        part_options = {k: options.pop(k, v) for k, v in _AUTOATTACK_PART_OPTIONS.items()}
    unknown = sorted(set(options) - set(accepted) - {"eps"})
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)} for attack {key!r}; it accepts: {', '.join(accepted)}"
        )
    kwargs = dict(options)
    if checked_eps is not None:
        kwargs["eps"] = checked_eps
    if key in ("pgd", "mifgsm"):
        steps = int(kwargs.setdefault("steps", 10))
        if steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps}")
        kwargs.setdefault("alpha", 2.5 * kwargs["eps"] / steps)
    if key in ("square", "autoattack"):
        kwargs.setdefault("seed", 0)  # AutoAttack's default (None) seeds from the clock
    if key == "autoattack":
        kwargs.setdefault("n_classes", num_classes)
    atk = cls(model, **kwargs)
    for part in getattr(getattr(atk, "_autoattack", None), "attacks", []):
        # torchattacks' AutoAttack builds its parts with their defaults; these are their public attributes
        for option, value in part_options.items():
            if hasattr(part, option):
                setattr(part, option, value)
    return atk


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters for the duration of an attack; both restored exactly afterwards.

    Eval mode, because BatchNorm must not update its running statistics on adversarial probes and
    dropout must not randomise the gradient; frozen parameters, because an attack differentiates with
    respect to the input only (and CW's ``backward()`` would otherwise leave gradients on the weights).
    Each module's own flag is restored, so a partly frozen model comes back as it was.
    """
    modes = [(m, m.training) for m in model.modules()]
    trainable = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in trainable:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, requires_grad in trainable:
            p.requires_grad_(requires_grad)


@dataclass(frozen=True, eq=False)  # tensors have no single truth value: compare fields, not results
class AttackResult:
    """What ``attack`` returns: adversarial images and the predictions before and after (CPU tensors).

    Attributes:
        attack: the attack's canonical name (``"pgd"`` …).
        eps: its L∞ budget in pixel units (``None`` for the minimum-norm attacks CW and DeepFool).
        adversarial: adversarial images ``(N, C, H, W)`` in [0, 1].
        perturbation: ``adversarial - clean`` ``(N, C, H, W)``.
        labels: true labels ``(N,)``.
        clean_predictions: predicted classes of the clean images ``(N,)``.
        adversarial_predictions: predicted classes of the adversarial images ``(N,)``.
        clean_accuracy: share of clean images classified correctly.
        adversarial_accuracy: share of adversarial images classified correctly (robust accuracy).
    """

    attack: str
    eps: float | None
    adversarial: Tensor
    perturbation: Tensor
    labels: Tensor
    clean_predictions: Tensor
    adversarial_predictions: Tensor
    clean_accuracy: float
    adversarial_accuracy: float

    @property
    def linf(self) -> float:
        """The largest pixel change, ‖δ‖∞ over the whole batch."""
        return float(self.perturbation.abs().max()) if self.perturbation.numel() else 0.0

    @property
    def success_rate(self) -> float:
        """Share of the correctly classified clean images that the attack made misclassified."""
        correct = self.clean_predictions == self.labels
        if not bool(correct.any()):
            return 0.0
        return float((self.adversarial_predictions[correct] != self.labels[correct]).float().mean())

    def summary(self) -> dict[str, Any]:
        """The numbers as a JSON-ready dict: attack, eps, n, the two accuracies, success rate, ‖δ‖∞."""
        return {
            "attack": self.attack,
            "eps": self.eps,
            "n": len(self.labels),
            "clean_accuracy": self.clean_accuracy,
            "adversarial_accuracy": self.adversarial_accuracy,
            "success_rate": self.success_rate,
            "linf": self.linf,
        }


def _batches(data: Any) -> Iterator[tuple[Tensor, Tensor]]:
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], Tensor):
        yield data[0], data[1]
        return
    if isinstance(data, Tensor) or not isinstance(data, Iterable):
        raise TypeError(
            "data must be a batch (images, labels) of tensors or an iterable of such batches (a DataLoader), "
            f"got {type(data).__name__}"
        )
    for batch in data:
        if not isinstance(batch, tuple | list) or len(batch) < 2:
            raise TypeError(f"each batch must be (images, labels), got {type(batch).__name__}")
        yield batch[0], batch[1]


def _device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _run_attack(
    model: nn.Module, data: Any, name: str, eps: float | None, options: dict[str, Any]
) -> AttackResult:
    key = canonical_attack_name(name)
    checked_eps = _check_eps(key, eps)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = _device(model)
    atk: Any = None
    advs, deltas, labels_all, clean_all, adv_all = [], [], [], [], []
    with attack_mode(model):
        for images, labels in _batches(data):
            check_pixel_batch(images, labels)
            x, y = images.to(device), labels.to(device)
            with torch.no_grad():
                clean_logits = model(x)
            if clean_logits.ndim != 2:
                raise ValueError(
                    f"model must return logits (N, num_classes), got shape {tuple(clean_logits.shape)}"
                )
            num_classes = clean_logits.shape[1]
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
                raise ValueError(f"labels must be in [0, {num_classes}) for a {num_classes}-class model")
            if checked_eps == 0.0:
                adv = x.clone()  # the ε = 0 ball holds only the clean image: no attack needed
            else:
                if atk is None:
                    atk = build_attack(model, key, checked_eps, num_classes=num_classes, **options)
                # Square and AutoAttack reseed torch's generator; keep the caller's random stream intact
                reseeds = key in _RESEEDING
                fork = (
                    torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
                    if reseeds
                    else nullcontext()
                )
                with fork, torch.enable_grad():  # attacks need autograd, even when called under no_grad
                    adv = atk(x, y).detach()
            with torch.no_grad():
                adv_logits = model(adv)
            advs.append(adv.cpu())
            deltas.append((adv - x).cpu())
            labels_all.append(y.cpu())
            clean_all.append(clean_logits.argmax(1).cpu())
            adv_all.append(adv_logits.argmax(1).cpu())
    if not labels_all:
        raise ValueError("data holds no batches")
    labels_t, clean_t, adv_t = torch.cat(labels_all), torch.cat(clean_all), torch.cat(adv_all)
    n = max(1, len(labels_t))
    return AttackResult(
        attack=key,
        eps=checked_eps,
        adversarial=torch.cat(advs),
        perturbation=torch.cat(deltas),
        labels=labels_t,
        clean_predictions=clean_t,
        adversarial_predictions=adv_t,
        clean_accuracy=float((clean_t == labels_t).sum()) / n,
        adversarial_accuracy=float((adv_t == labels_t).sum()) / n,
    )


def attack(
    model: nn.Module, data: Any, name: str = "pgd", eps: float | None = None, **options: Any
) -> AttackResult:
    """Attack ``model`` on ``data`` with the torchattacks attack ``name``; the model comes back unchanged.

    Args:
        model: maps images in [0, 1] ``(N, C, H, W)`` to logits (``PixelSpaceModel`` for catalog models).
        data: a batch ``(images, labels)`` or an iterable of batches (a ``DataLoader``), images in [0, 1].
        name: ``fgsm``, ``pgd``, ``mifgsm``, ``cw``, ``deepfool``, ``square`` or ``autoattack``.
        eps: L∞ budget in pixel units for the eps-bounded attacks (default 8/255); not for CW/DeepFool.
        options: the torchattacks class's own arguments (``steps``, ``alpha``, ``n_queries``, ``c`` …).

    The model runs in eval mode with frozen parameters during the attack (see ``attack_mode``).

    >>> result = attack(PixelSpaceModel(model, mean, std), (images, labels), "pgd", eps=0.1, steps=10)
    >>> result.adversarial_accuracy
    """
    return _run_attack(model, data, name, eps, options)


@dataclass(frozen=True)
class CurvePoint:
    """One point of a robustness curve: accuracy under attack at budget ``eps``."""

    eps: float
    clean_accuracy: float
    adversarial_accuracy: float


def robustness_curve(
    model: nn.Module,
    data: Any,
    attack: str = "pgd",
    eps_list: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3),
    **options: Any,
) -> list[CurvePoint]:
    """Accuracy under ``attack`` at each budget of ``eps_list``: one ``CurvePoint`` per eps, in order.

    At ``eps=0`` the adversarial accuracy is the clean accuracy (no attack runs).

    >>> for p in robustness_curve(pixel_model, (images, labels), "pgd", [0, 0.1, 0.2], steps=10):
    ...     print(p.eps, p.adversarial_accuracy)
    """
    key = canonical_attack_name(attack)
    if key not in EPS_ATTACKS:
        raise ValueError(
            f"a robustness curve needs an eps-bounded attack ({', '.join(sorted(EPS_ATTACKS))}), "
            f"got {attack!r}"
        )
    eps_values = list(eps_list)
    if not eps_values:
        raise ValueError("eps_list must hold at least one eps")
    for eps in eps_values:
        _check_eps(key, eps)
    if isinstance(data, Iterator):
        raise TypeError("data must be re-iterable (a batch or a DataLoader), not a one-shot iterator")
    points = []
    for eps in eps_values:
        result = _run_attack(model, data, key, float(eps), dict(options))
        points.append(CurvePoint(float(eps), result.clean_accuracy, result.adversarial_accuracy))
    return points

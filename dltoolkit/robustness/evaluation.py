"""A strong evaluation of a defence: PGD, a gradient-free attack (Square), optionally AutoAttack.

Robustness is claimed only after such an evaluation (Carlini et al., 2019, "On evaluating adversarial
robustness"): a defence that holds against PGD but not against Square, which never looks at a gradient,
is not robust but *masks gradients* (Athalye et al., 2018), and is reported as such::

    report = evaluate_defence(BitSqueezing(pixel_model, bits=1), (images, labels), eps=0.2)
    report.gradient_masking        # True: PGD sees a flat loss, Square still breaks it
    report.robust_accuracy         # per-image worst case over all attacks run
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from dltoolkit.robustness.attacks import attack


@dataclass(frozen=True)
class DefenceReport:
    """Accuracies of one model at one ε under each attack, and the verdict.

    Attributes:
        eps: L∞ budget in pixel units.
        clean_accuracy: accuracy without attack.
        pgd_accuracy: accuracy under PGD (white-box, gradient).
        square_accuracy: accuracy under Square (black-box, gradient-free).
        autoattack_accuracy: accuracy under AutoAttack, when it was run.
        robust_accuracy: share of images that every attack run left correctly classified.
        gradient_masking: Square beat PGD by more than the tolerance: the PGD number is not robustness.
        verdict: one line saying what the numbers mean.
    """

    eps: float
    clean_accuracy: float
    pgd_accuracy: float
    square_accuracy: float
    autoattack_accuracy: float | None
    robust_accuracy: float
    gradient_masking: bool
    verdict: str

    def summary(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return asdict(self)


def evaluate_defence(
    model: nn.Module,
    data: Any,
    eps: float,
    *,
    pgd_steps: int = 10,
    square_queries: int = 1000,
    autoattack: bool = False,
    masking_tolerance: float = 0.05,
) -> DefenceReport:
    """Attack ``model`` with PGD and Square (and AutoAttack if asked) at ``eps``; say if it masks gradients.

    Args:
        model: the defended pixel-space model (e.g. ``BitSqueezing(PixelSpaceModel(...))``).
        data: a batch ``(images, labels)`` in [0, 1] or a DataLoader of such batches (not shuffled: the
            attacks' results are compared image by image).
        eps: L∞ budget in pixel units (> 0).
        pgd_steps: PGD iterations.
        square_queries: Square's query budget per image.
        autoattack: also run AutoAttack (100 iterations per part; slow on CPU).
        masking_tolerance: how far Square's accuracy may fall below PGD's before it is called masking.

    >>> evaluate_defence(BitSqueezing(pixel_model, bits=1), (images, labels), eps=0.2).verdict
    'gradient masking: PGD leaves 0.91 but gradient-free Square only 0.12 ...'
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0 to evaluate a defence, got {eps!r}")
    pgd = attack(model, data, "pgd", eps, steps=pgd_steps)
    square = attack(model, data, "square", eps, n_queries=square_queries)
    survived = (pgd.adversarial_predictions == pgd.labels) & (square.adversarial_predictions == square.labels)
    aa_accuracy = None
    if autoattack:
        aa = attack(model, data, "autoattack", eps)
        aa_accuracy = aa.adversarial_accuracy
        survived &= aa.adversarial_predictions == aa.labels
    robust = float(survived.float().mean()) if len(survived) else 0.0
    masking = square.adversarial_accuracy + masking_tolerance < pgd.adversarial_accuracy
    if masking:
        verdict = (
            f"gradient masking: PGD leaves {pgd.adversarial_accuracy:.2f} but gradient-free Square only "
            f"{square.adversarial_accuracy:.2f}; the PGD number is not robustness"
        )
    else:
        verdict = f"robust accuracy {robust:.2f} at eps {eps:g} (worst case over the attacks run)"
        if not autoattack:
            verdict += "; confirm with autoattack=True before claiming it"
    return DefenceReport(
        eps=float(eps),
        clean_accuracy=pgd.clean_accuracy,
        pgd_accuracy=pgd.adversarial_accuracy,
        square_accuracy=square.adversarial_accuracy,
        autoattack_accuracy=aa_accuracy,
        robust_accuracy=robust,
        gradient_masking=masking,
        verdict=verdict,
    )

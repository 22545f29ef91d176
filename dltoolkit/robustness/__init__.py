"""Adversarial robustness: torchattacks attacks in pixel space, defences, and their honest evaluation.

    from dltoolkit.robustness import PixelSpaceModel, attack, data_normalization, pixel_test_data

    dm = DigitsDataModule()
    pixel_model = PixelSpaceModel(model, *data_normalization(dm))   # attacks see pixels in [0, 1]
    result = attack(pixel_model, pixel_test_data(dm), "pgd", eps=0.1)
    curve = robustness_curve(pixel_model, pixel_test_data(dm), "pgd", eps_list=[0, 0.1, 0.2, 0.3])
    pl.Trainer(callbacks=[AdversarialTraining(eps=0.3)]).fit(model, dm)     # PGD adversarial training
    evaluate_defence(BitSqueezing(pixel_model, bits=1), pixel_test_data(dm), eps=0.2)

One file per concern: ``pixel.py`` (the normalisation wrapper and raw test images), ``attacks.py``,
``defences.py``, ``evaluation.py``. Importing this package is light: torch and Lightning load with the
first name used, torchattacks with the first attack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dltoolkit._lazy import export, listing

if TYPE_CHECKING:
    from dltoolkit.robustness.attacks import (
        ATTACKS,
        AttackResult,
        CurvePoint,
        attack,
        attack_mode,
        build_attack,
        robustness_curve,
    )
    from dltoolkit.robustness.defences import AdversarialTraining, BitSqueezing, squeeze_bits
    from dltoolkit.robustness.evaluation import DefenceReport, evaluate_defence
    from dltoolkit.robustness.pixel import PixelSpaceModel, data_normalization, pixel_test_data

_LAZY = {
    **dict.fromkeys(
        (
            "ATTACKS",
            "AttackResult",
            "CurvePoint",
            "attack",
            "attack_mode",
            "build_attack",
            "robustness_curve",
        ),
        "dltoolkit.robustness.attacks",
    ),
    **dict.fromkeys(("AdversarialTraining", "BitSqueezing", "squeeze_bits"), "dltoolkit.robustness.defences"),
    **dict.fromkeys(("DefenceReport", "evaluate_defence"), "dltoolkit.robustness.evaluation"),
    **dict.fromkeys(
        ("PixelSpaceModel", "data_normalization", "pixel_test_data"), "dltoolkit.robustness.pixel"
    ),
}

__all__ = [
    "ATTACKS",
    "AdversarialTraining",
    "AttackResult",
    "BitSqueezing",
    "CurvePoint",
    "DefenceReport",
    "PixelSpaceModel",
    "attack",
    "attack_mode",
    "build_attack",
    "data_normalization",
    "evaluate_defence",
    "pixel_test_data",
    "robustness_curve",
    "squeeze_bits",
]


def __getattr__(name: str) -> Any:
    return export(__name__, _LAZY, name)


def __dir__() -> list[str]:
    return listing(globals(), _LAZY)

"""Models (curriculum 3, 4, 6): ``from dltoolkit.models import ResNet`` or ``create_model("resnet")``.

Names are imported on first use, so ``import dltoolkit.models`` stays light.
"""

from __future__ import annotations

from typing import Any

from dltoolkit._lazy import export, listing

_WHERE = {
    "ImageClassifier": "dltoolkit.models.classifier",
    "Perceptron": "dltoolkit.models.mlp",
    "MLP": "dltoolkit.models.mlp",
    "LeNet": "dltoolkit.models.cnn",
    "VGG": "dltoolkit.models.cnn",
    "ResNet": "dltoolkit.models.cnn",
    "Inception": "dltoolkit.models.cnn",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    return export(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return listing(globals(), _WHERE)

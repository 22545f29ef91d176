"""Models (curriculum 3, 4, 6): ``from dltoolkit.models import ResNet`` or ``create_model("resnet")``.

Names are imported on first use, so ``import dltoolkit.models`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'dltoolkit.models' has no attribute {name!r}")

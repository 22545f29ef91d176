"""An example third-party plugin: multinomial logistic regression, registered from outside dltoolkit."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from dltoolkit.catalog import QualityTarget, register_model
from dltoolkit.models.classifier import ImageClassifier


@register_model(
    "softmax_regression",
    topic="ml-basics",
    data="digits",
    target=QualityTarget("test/acc", 0.9, max_epochs=20),
    lr=0.05,
)
class SoftmaxRegression(ImageClassifier):
    """Multinomial logistic regression on raw pixels (a plugin's model).

    Args:
        bias: learn a bias per class.
    """

    def __init__(self, bias: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(self.input_shape), self.num_classes, bias=bias)
        )

"""Perceptron and multilayer perceptron (curriculum 3).

model = MLP(hidden_sizes=(256, 128), activation="gelu", dropout=0.1, batch_norm=True, init="kaiming")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from torch import nn

from dltoolkit.catalog import QualityTarget, register_model
from dltoolkit.models.classifier import ImageClassifier

Activation = Literal["relu", "leaky_relu", "gelu", "sigmoid", "tanh"]
Init = Literal["default", "xavier", "kaiming", "orthogonal", "normal"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


def init_weights(module: nn.Module, scheme: str, activation: str = "relu") -> None:
    """Initialise every Linear/Conv weight of ``module`` (biases to zero).

    ``xavier``: Glorot & Bengio (2010), for tanh/sigmoid; ``kaiming``: He et al. (2015), for ReLU-like;
    ``orthogonal``: Saxe et al. (2014); ``normal``: N(0, 0.01²); ``default``: PyTorch's own.
    """
    if scheme == "default":
        return
    gain_name: Any = activation if activation in ("leaky_relu", "tanh", "sigmoid") else "relu"
    for m in module.modules():
        if not isinstance(m, nn.Linear | nn.Conv2d):
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain(gain_name))
        elif scheme == "kaiming":
            nonlinearity: Any = "leaky_relu" if gain_name == "leaky_relu" else "relu"
            nn.init.kaiming_normal_(m.weight, nonlinearity=nonlinearity)
        elif scheme == "orthogonal":
            nn.init.orthogonal_(m.weight, gain=nn.init.calculate_gain(gain_name))
        elif scheme == "normal":
            nn.init.normal_(m.weight, std=0.01)
        else:
            raise ValueError(
                f"unknown init {scheme!r}; expected default, xavier, kaiming, orthogonal or normal"
            )
        if m.bias is not None:
            nn.init.zeros_(m.bias)


@register_model(
    "perceptron",
    topic="mlp",
    data="digits",
    target=QualityTarget("test/acc", 0.93, max_epochs=30),
    lr=0.01,
)
class Perceptron(ImageClassifier):
    """Single-layer perceptron: one linear map from pixels to class scores (Rosenblatt, 1958).

    Args:
        init: weight initialisation: ``default``, ``xavier``, ``kaiming``, ``orthogonal`` or ``normal``.
    """

    def __init__(self, init: Init = "default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        linear = nn.Linear(math.prod(self.input_shape), self.num_classes)
        self.net = nn.Sequential(nn.Flatten(), linear)  # (B, C·H·W) -> (B, K)
        init_weights(self.net, init)


@register_model(
    "mlp",
    topic="mlp",
    data="digits",
    target=QualityTarget("test/acc", 0.97, max_epochs=40),
    data_hparams={"augment": "none"},
)
class MLP(ImageClassifier):
    """Multilayer perceptron with configurable depth, width, activation, dropout and batch norm.

    Args:
        hidden_sizes: width of each hidden layer; its length is the depth.
        activation: ``relu``, ``leaky_relu``, ``gelu``, ``sigmoid`` or ``tanh``.
        dropout: dropout probability after each hidden layer.
        batch_norm: batch normalisation before each activation (Ioffe & Szegedy, 2015).
        init: weight initialisation: ``default``, ``xavier``, ``kaiming``, ``orthogonal`` or ``normal``.
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (256, 128),
        activation: Activation = "relu",
        dropout: float = 0.1,
        batch_norm: bool = True,
        init: Init = "kaiming",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(self.input_shape)
        for h in hidden_sizes:
            layers.append(nn.Linear(width, h, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, self.num_classes))
        self.net = nn.Sequential(*layers)
        init_weights(self.net, init, activation)

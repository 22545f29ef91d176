"""Classification losses selectable by name.

>>> loss = build_loss("cross_entropy", label_smoothing=0.1)
>>> loss(torch.zeros(4, 10), torch.tensor([0, 1, 2, 3])).item() > 0
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from dltoolkit.catalog import unknown_name

LossName = Literal["cross_entropy", "mse", "nll"]
LOSSES: tuple[str, ...] = ("cross_entropy", "mse", "nll")


def build_loss(name: str, label_smoothing: float = 0.0) -> Callable[[Tensor, Tensor], Tensor]:
    """A function ``(logits (B, K), labels (B,)) -> scalar loss``.

    ``cross_entropy`` takes ``label_smoothing`` (Szegedy et al., 2016: targets (1-ε)·onehot + ε/K);
    ``mse`` is the squared error between softmax probabilities and the (smoothed) one-hot target, the
    loss of early perceptron-era networks; ``nll`` expects log-probabilities.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if name == "cross_entropy":
        return lambda logits, y: F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    if name == "mse":

        def mse(logits: Tensor, y: Tensor) -> Tensor:
            k = logits.shape[-1]
            target = F.one_hot(y, k).float() * (1 - label_smoothing) + label_smoothing / k
            return F.mse_loss(logits.softmax(-1), target)

        return mse
    if name == "nll":
        return lambda logits, y: F.nll_loss(logits.log_softmax(-1), y)
    raise unknown_name("loss", name, list(LOSSES))

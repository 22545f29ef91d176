"""Pixel space: attacks and defences see images in [0, 1]; the normalisation lives inside the model.

Catalog classifiers are trained on normalised inputs (the data module applies ``Normalize(mean, std)``),
but an ε-ball is meant in pixel units and the valid box is [0, 1]. Attacking the normalised tensor
instead is the usual pitfall: ε is silently rescaled by ``1/std`` and the clamp to [0, 1] clips the
wrong range. So the model is wrapped, and every attack, defence and check works on raw pixels::

    dm = DigitsDataModule()
    dm.setup("test")
    mean, std = data_normalization(dm)
    pixel_model = PixelSpaceModel(model, mean, std)   # pixel_model(x) == model((x - mean) / std)
    images, labels = pixel_test_data(dm)              # un-normalised test images in [0, 1]

Why a wrapper module rather than torchattacks' ``Attack.set_normalization_used(mean, std)``: with it,
an attack takes and returns *normalised* tensors, runs on ``inverse_normalize(x)`` and normalises its
result again, so ‖δ‖∞ ≤ ε and the [0, 1] box hold only up to that round trip's float error, and the
setting is mutable state on each attack object (mirrored into sub-attacks such as AutoAttack's by a
decorator). A module is one mechanism for everything that needs pixel space: torchattacks, the
input-transformation defences (which must act before normalisation), the adversarial-training
callback and any other library (Captum).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

#: Slack for float error when checking that images lie in [0, 1].
PIXEL_TOLERANCE = 1e-6


class PixelSpaceModel(nn.Module):
    """``model`` seen from pixel space: ``forward(x) = model((x - mean) / std)`` for ``x`` in [0, 1].

    The wrapped model is a submodule (not a copy): its weights, mode and device are shared.

    Args:
        model: a classifier that takes normalised images ``(B, C, H, W)``.
        mean: per-channel mean of the normalisation (length C, or 1 for all channels).
        std: per-channel standard deviation (positive).

    >>> pixel_model = PixelSpaceModel(model, mean=[0.3], std=[0.4])
    >>> logits = pixel_model(images)        # images in [0, 1]
    """

    mean: Tensor
    std: Tensor

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
        if mean_t.numel() == 0 or mean_t.shape != std_t.shape:
            raise ValueError(
                f"mean and std must be non-empty and of one length (one value per channel), "
                f"got {mean_t.numel()} and {std_t.numel()}"
            )
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be positive, got {std_t.tolist()}")
        self.model = model
        # buffers follow the model across .to(device); not persistent: they are the data's, not weights
        self.register_buffer("mean", mean_t.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std_t.view(1, -1, 1, 1), persistent=False)

    def normalize(self, x: Tensor) -> Tensor:
        """Pixel images ``(B, C, H, W)`` → the model's normalised inputs."""
        return (x - self.mean) / self.std

    def denormalize(self, x: Tensor) -> Tensor:
        """The model's normalised inputs → pixel images (the inverse of ``normalize``)."""
        return x * self.std + self.mean

    def forward(self, x: Tensor) -> Tensor:
        return self.model(self.normalize(x))


def data_normalization(datamodule: Any) -> tuple[list[float], list[float]]:
    """The ``(mean, std)`` a dltoolkit image data module applies to its images (calls ``setup`` if needed).

    Read from the ``Normalize`` step of its test set, so it is exactly what the model was fed; a data
    module built with ``normalize=False`` gives the identity, ``([0.0] * C, [1.0] * C)``.

    >>> mean, std = data_normalization(DigitsDataModule())
    """
    from dltoolkit.data.base import Compose, Normalize, Transformed

    if not hasattr(datamodule, "setup") or not hasattr(datamodule, "input_shape"):
        raise TypeError(
            "expected a dltoolkit ImageDataModule (with input_shape and setup), "
            f"got {type(datamodule).__name__}"
        )
    if getattr(datamodule, "test_set", None) is None:
        datamodule.setup("test")
    test_set = datamodule.test_set
    if not isinstance(test_set, Transformed) or not isinstance(test_set.transform, Compose):
        raise TypeError(
            f"cannot read the normalisation of {type(datamodule).__name__}: its test set is not the "
            "Transformed(..., Compose(...)) that ImageDataModule.setup builds; pass mean and std instead"
        )
    channels = int(datamodule.input_shape[0])
    for step in test_set.transform.steps:
        if isinstance(step, Normalize):
            mean = step.mean.flatten().tolist()
            std = step.std.flatten().tolist()
            return mean, std
    return [0.0] * channels, [1.0] * channels


def pixel_test_data(datamodule: Any, max_samples: int | None = None) -> tuple[Tensor, Tensor]:
    """The test set of a dltoolkit image data module as un-normalised ``(images in [0, 1], labels)``.

    The data module's ``test_dataloader()`` yields normalised images; attacks need the raw pixels
    that lie beneath, which this reads (in order, the first ``max_samples`` if given).

    >>> images, labels = pixel_test_data(DigitsDataModule(), max_samples=256)   # (256, 1, 8, 8), (256,)
    """
    from dltoolkit.data.base import Transformed

    data_normalization(datamodule)  # validates the data module and runs setup
    test_set = datamodule.test_set
    assert isinstance(test_set, Transformed)  # checked by data_normalization
    raw = test_set.dataset  # what the Normalize step is applied to: float images in [0, 1]
    n = len(raw)  # type: ignore[arg-type]
    if max_samples is not None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be a positive integer, got {max_samples}")
        n = min(n, max_samples)
    samples = [raw[i] for i in range(n)]
    images = torch.stack([torch.as_tensor(x, dtype=torch.float32) for x, _ in samples])  # (n, C, H, W)
    labels = torch.as_tensor([int(y) for _, y in samples], dtype=torch.long)  # (n,)
    return images, labels


def check_pixel_batch(images: Any, labels: Any) -> None:
    """Raise unless ``images`` are ``(N, C, H, W)`` floats in [0, 1] and ``labels`` ``(N,)`` integers."""
    if not isinstance(images, Tensor) or not isinstance(labels, Tensor):
        raise TypeError(
            f"expected images and labels as tensors, got {type(images).__name__} and {type(labels).__name__}"
        )
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (N, C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1], got dtype {images.dtype}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"labels must have shape ({len(images)},) to match the images, got {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if images.numel() and (
        images.min().item() < -PIXEL_TOLERANCE or images.max().item() > 1 + PIXEL_TOLERANCE
    ):
        raise ValueError(
            f"images must lie in [0, 1] (pixel space), got values in [{images.min().item():.3g}, "
            f"{images.max().item():.3g}]; normalised images? Use pixel_test_data(datamodule) for raw "
            "pixels and PixelSpaceModel(model, mean, std) to put the normalisation inside the model"
        )

"""Training augmentations selectable by name (curriculum 5), built from ``torchvision.transforms.v2``.

    >>> aug = build_augmentation("crop,rotate,noise")
    >>> aug(torch.rand(1, 28, 28)).shape
    torch.Size([1, 28, 28])

Each name is one transform on a float image ``(C, H, W)`` in [0, 1]; a comma-separated list applies
them in order. Sizes adapt to the image (a 4-pixel crop padding on 32x32, 1 pixel on 8x8).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torchvision.transforms import v2

from dltoolkit.catalog import unknown_name


class GaussianNoise:
    """Adds N(0, sigma²) noise and clips back to [0, 1]."""

    def __init__(self, sigma: float = 0.05) -> None:
        self.sigma = sigma

    def __call__(self, x: Tensor) -> Tensor:
        return (x + self.sigma * torch.randn_like(x)).clamp_(0.0, 1.0)


class SizeAware:
    """Builds the wrapped transform on first use, once the image size is known."""

    def __init__(self, make: Callable[[int], Callable[[Tensor], Tensor]]) -> None:
        self.make = make
        self.built: Callable[[Tensor], Tensor] | None = None
        self.size = -1

    def __call__(self, x: Tensor) -> Tensor:
        size = x.shape[-1]
        if self.built is None or size != self.size:
            self.built, self.size = self.make(size), size
        return self.built(x)


def _crop(size: int) -> Callable[[Tensor], Tensor]:
    return v2.RandomCrop(size, padding=max(1, size // 8))


AUGMENTATIONS: dict[str, Callable[[], Callable[[Tensor], Tensor]]] = {
    "crop": lambda: SizeAware(_crop),  # random shift by up to 1/8 of the side (zero padding)
    "flip": lambda: v2.RandomHorizontalFlip(),  # not for digits or letters: a flipped 2 is no 2
    "rotate": lambda: v2.RandomRotation(10),
    "affine": lambda: v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
    "noise": lambda: GaussianNoise(0.05),
    "erase": lambda: v2.RandomErasing(p=0.5, scale=(0.02, 0.1)),
}


def identity(x: Tensor) -> Tensor:
    return x


def build_augmentation(spec: str) -> Callable[[Tensor], Tensor]:
    """The augmentation pipeline named by ``spec`` (``"none"`` or e.g. ``"crop,flip"``)."""
    names = [n.strip() for n in spec.split(",") if n.strip() and n.strip() != "none"]
    steps = []
    for name in names:
        if name not in AUGMENTATIONS:
            raise unknown_name("augmentation", name, ["none", *AUGMENTATIONS])
        steps.append(AUGMENTATIONS[name]())
    return v2.Compose(steps) if steps else identity

"""Data modules (curriculum 5), e.g. ``from dltoolkit.data import ShapesDataModule``,
or by name: ``create_data("shapes")``.
"""

from dltoolkit.data.base import ImageDataModule, TensorImages
from dltoolkit.data.digits import DigitsDataModule
from dltoolkit.data.shapes import ShapesDataModule
from dltoolkit.data.vision import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
)

__all__ = [
    "CIFAR10DataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "ShapesDataModule",
    "TensorImages",
]

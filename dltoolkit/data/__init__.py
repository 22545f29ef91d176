"""Data modules (curriculum 5). ``from dltoolkit.data import DigitsDataModule`` or ``create_data("digits")``."""

from dltoolkit.data.base import ImageDataModule, TensorImages
from dltoolkit.data.digits import DigitsDataModule

__all__ = ["DigitsDataModule", "ImageDataModule", "TensorImages"]

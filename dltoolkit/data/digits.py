"""scikit-learn's handwritten digits: 1,797 8x8 grey images, 10 classes; the offline default data set.

Registered twice, as ``digits`` and ``digits28``::

    dm = DigitsDataModule()            # 8x8, as shipped
    dm = DigitsDataModule(resize=28)   # upsampled to MNIST's 28x28 for LeNet-style networks
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from dltoolkit.catalog import register_data
from dltoolkit.data.base import ImageDataModule, TensorImages


@register_data("digits")
@register_data("digits28", resize=28, description="scikit-learn digits upsampled to 28x28")
class DigitsDataModule(ImageDataModule):
    """scikit-learn's handwritten digits (8x8, 10 classes, 1,797 images; ships with scikit-learn).

    Args:
        resize: side of the square images fed to the model (8 is the native size; bilinear upsampling).
    """

    def __init__(self, resize: int = 8, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        if resize < 8:
            raise ValueError(f"resize must be at least 8 (the native size), got {resize}")
        self.resize = resize

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, self.resize, self.resize)

    @property
    def classes(self) -> list[str]:
        return [str(d) for d in range(10)]

    def load_splits(self) -> tuple[Dataset, Dataset | None]:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
        if self.resize != 8:
            images = F.interpolate(images, size=self.resize, mode="bilinear", align_corners=False)
            images = images.clamp_(0, 1)
        return TensorImages(images, torch.tensor(bunch.target)), None

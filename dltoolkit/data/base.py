"""The base of every image data module: seeded splits, normalisation and named augmentation.

A subclass says what its images are (``input_shape``, ``classes``) and how to read them
(``load_splits``); this base does the rest the same way for every data set::

    dm = DigitsDataModule(batch_size=32, augment="crop,rotate")
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))  # x: (32, 1, 8, 8) normalised floats, y: (32,) labels
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, random_split

from dltoolkit.data.transforms import build_augmentation


class TensorImages(Dataset):
    """Images held in memory as one tensor ``(N, C, H, W)`` (uint8 in 0..255 or float in [0, 1])."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels = images, labels.long()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = self.images[i]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return x, int(self.labels[i])


class Transformed(Dataset):
    """A view of ``dataset`` whose images pass through ``transform`` (labels unchanged)."""

    def __init__(self, dataset: Dataset, transform: Callable[[Tensor], Tensor]) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x, y = self.dataset[i]
        return self.transform(x), y


class Normalize:
    """Per-channel ``(x - mean) / std``; a plain callable so datasets stay picklable for workers."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __call__(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class Compose:
    def __init__(self, *steps: Callable[[Tensor], Tensor]) -> None:
        self.steps = steps

    def __call__(self, x: Tensor) -> Tensor:
        for step in self.steps:
            x = step(x)
        return x


class SplitLoaders:
    """The data loaders of a data module that keeps its splits in ``train_set``, ``val_set`` and
    ``test_set`` (predict reads the test split): shuffled with a seeded generator for training only.

        class MyData(SplitLoaders, pl.LightningDataModule): ...   # first, before LightningDataModule
    """

    batch_size: int
    num_workers: int
    seed: int
    #: shuffle the training split each epoch (off: the same order every epoch, as DDP tests need)
    shuffle: bool = True
    train_set: Dataset | None
    val_set: Dataset | None
    test_set: Dataset | None

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a data loader")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=self.shuffle)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


class ImageDataModule(SplitLoaders, pl.LightningDataModule, ABC):
    """Base image data module.

    Args:
        batch_size: samples per batch.
        val_fraction: share of the training set held out for validation (seeded).
        test_fraction: share held out for testing, when the data set has no test split of its own.
        seed: seed of the splits (the same seed gives the same splits on every machine).
        augment: training augmentation, by name: ``none`` or a comma-separated list of
            ``crop``, ``flip``, ``rotate``, ``noise``, ``erase`` (see ``dltoolkit.data.transforms``).
        normalize: standardise each channel with the training split's mean and std.
        num_workers: data-loading worker processes (0 loads in the training process).
        shuffle: shuffle the training split each epoch (seeded); off, batches keep the split's order.
    """

    #: Per-channel mean and std, when known in advance; otherwise measured on the training split.
    mean_std: tuple[Sequence[float], Sequence[float]] | None = None

    def __init__(
        self,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
        augment: str = "none",
        normalize: bool = True,
        num_workers: int = 0,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 <= frac < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {frac}")
        self.batch_size, self.val_fraction, self.test_fraction = batch_size, val_fraction, test_fraction
        self.seed, self.augment, self.normalize, self.num_workers = seed, augment, normalize, num_workers
        self.shuffle = shuffle
        self.augmentation = build_augmentation(augment)  # fails now, not at setup, on an unknown name
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    # --- what a subclass provides ---
    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image, known before any data is read."""

    @property
    @abstractmethod
    def classes(self) -> list[str]:
        """Class names, index = label."""

    @abstractmethod
    def load_splits(self) -> tuple[Dataset, Dataset | None]:
        """The training set and the data set's own test set (``None`` if it has none), both yielding
        ``(float image in [0, 1] of input_shape, int label)``."""

    # --- shared behaviour ---
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        full, test = self.load_splits()
        gen = torch.Generator().manual_seed(self.seed)
        if test is None:
            n_test = round(len(full) * self.test_fraction)  # type: ignore[arg-type]
            full, test = random_split(full, [len(full) - n_test, n_test], generator=gen)  # type: ignore[arg-type]
        n_val = round(len(full) * self.val_fraction)  # type: ignore[arg-type]
        train, val = random_split(full, [len(full) - n_val, n_val], generator=gen)  # type: ignore[arg-type]
        steps: list[Callable[[Tensor], Tensor]] = []
        if self.normalize:
            mean, std = self.mean_std or channel_mean_std(train)
            steps.append(Normalize(mean, std))
        self.train_set = Transformed(train, Compose(self.augmentation, *steps))
        self.val_set = Transformed(val, Compose(*steps))
        self.test_set = Transformed(test, Compose(*steps))

    def describe(self) -> dict[str, Any]:
        """Shape, classes and split sizes (after ``setup``): what the launch form and README show."""
        splits = (("train", self.train_set), ("val", self.val_set), ("test", self.test_set))
        sizes = {k: len(v) for k, v in splits if v is not None}  # type: ignore[arg-type]
        return {"input_shape": list(self.input_shape), "classes": self.classes, "sizes": sizes}


def channel_mean_std(dataset: Dataset, max_samples: int = 2000) -> tuple[list[float], list[float]]:
    """Per-channel mean and std over (at most ``max_samples`` of) ``dataset``'s images."""
    n = min(len(dataset), max_samples)  # type: ignore[arg-type]
    idx = torch.linspace(0, len(dataset) - 1, n).long().tolist()  # type: ignore[arg-type]
    batch = torch.stack([dataset[i][0] for i in idx])  # (n, C, H, W)
    mean = batch.mean(dim=(0, 2, 3))
    std = batch.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean.tolist(), std.tolist()


def subset_labels(dataset: Dataset) -> Tensor:
    """Labels of a (possibly nested ``Subset`` of a) ``TensorImages``, without reading the images."""
    if isinstance(dataset, Subset):
        return subset_labels(dataset.dataset)[torch.as_tensor(dataset.indices)]
    if isinstance(dataset, Transformed):
        return subset_labels(dataset.dataset)
    if isinstance(dataset, TensorImages):
        return dataset.labels
    raise TypeError(f"cannot read labels of {type(dataset).__name__} without loading it")

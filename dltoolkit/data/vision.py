"""The standard image sets, read from local folders: MNIST, Fashion-MNIST, CIFAR-10 and any ImageFolder.

    dm = FashionMNISTDataModule()                                   # finds Debian's copy, see below
    dm = MNISTDataModule(root="~/data", download=True)              # downloads only when asked
    dm = CIFAR10DataModule(root="~/data", augment="crop,flip")
    dm = ImageFolderDataModule(root="~/photos", image_size=64)      # one sub-folder per class

Where the files are looked for (``root``):

* ``root=None`` (the default) means ``$DLTOOLKIT_DATA`` if set, else ``~/.cache/dltoolkit/data``;
  Fashion-MNIST then also looks in ``/usr/share/datasets/fashion-mnist``, where Debian's package
  ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``) puts the real IDX files.
* MNIST and Fashion-MNIST accept torchvision's layout (``root/MNIST/raw/train-images-idx3-ubyte`` …,
  what ``download=True`` writes) or a folder holding the four IDX files directly, gzip'd or not
  (``root/train-images-idx3-ubyte.gz`` …, as Debian ships them).
* CIFAR-10 reads torchvision's layout, ``root/cifar-10-batches-py/{data_batch_1..5, test_batch,
  batches.meta}`` (``root`` may also be that folder itself, and a ``cifar-10-python.tar.gz`` found in
  ``root`` is unpacked); torchvision checks the files' MD5 sums.

Nothing is downloaded unless ``download=True``. The images are read once into memory as uint8 tensors
(Fashion-MNIST: 47 MB, CIFAR-10: 184 MB), so a batch costs an index, not a file read. MNIST-style
sets and CIFAR-10 come with their own test split; ImageFolder has none, so the base carves one
(``test_fraction``).
"""

from __future__ import annotations

import gzip
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from dltoolkit.catalog import register_data
from dltoolkit.data.base import ImageDataModule, TensorImages

#: Where data sets live when no ``root`` is given (overridden by the environment variable ``DLTOOLKIT_DATA``).
DEFAULT_ROOT = "~/.cache/dltoolkit/data"
#: Where Debian's ``dataset-fashion-mnist`` package installs the Fashion-MNIST IDX files.
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def default_root() -> Path:
    """The data folder used when ``root`` is not given: ``$DLTOOLKIT_DATA`` or ``~/.cache/dltoolkit/data``."""
    return Path(os.environ.get("DLTOOLKIT_DATA") or DEFAULT_ROOT).expanduser()


def read_idx(path: str | os.PathLike[str]) -> Tensor:
    """Read an IDX file of unsigned bytes (the MNIST format), gzip'd (``.gz``) or not, into a uint8 tensor.

    The format: two zero bytes, the type code (``0x08`` = unsigned byte), the number of dimensions ``n``,
    then ``n`` big-endian 32-bit sizes and the data in C order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise ValueError(f"{path}: IDX type code {data[2]:#04x} is not 0x08 (unsigned byte)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: header says shape {shape} ({expected} bytes) but holds {len(data) - header}"
        )
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(shape)


def _tensor_images(images: Tensor | np.ndarray, labels: Any) -> TensorImages:
    """``TensorImages`` from ``(N, H, W)`` grey or ``(N, H, W, 3)`` colour uint8 arrays."""
    x = torch.as_tensor(images)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    return TensorImages(x.contiguous(), torch.as_tensor(labels, dtype=torch.long))


class MNISTLikeDataModule(ImageDataModule):
    """Base of the 28x28 grey IDX-format sets (MNIST, Fashion-MNIST), read with torchvision.

    Args:
        root: folder holding the data set (see the module's docs for the layouts accepted);
            ``None``: ``$DLTOOLKIT_DATA`` or ``~/.cache/dltoolkit/data``.
        download: download the files into ``root`` if they are missing (needs internet).
    """

    #: torchvision's class name, also the folder it reads: ``root/<folder>/raw``.
    folder: ClassVar[str] = "MNIST"
    title: ClassVar[str] = "MNIST"
    class_names: ClassVar[Sequence[str]] = [str(d) for d in range(10)]
    files: ClassVar[tuple[str, ...]] = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    #: Extra folders looked in when ``root`` is not given.
    fallback_roots: ClassVar[tuple[str, ...]] = ()
    how_to_fetch: ClassVar[str] = ""

    def __init__(self, root: str | None = None, download: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root, self.download = root, download

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (1, 28, 28)

    @property
    def classes(self) -> list[str]:
        return list(self.class_names)

    def _roots(self) -> list[Path]:
        if self.root is not None:
            return [Path(self.root).expanduser()]
        return [default_root(), *(Path(r) for r in self.fallback_roots)]

    def _torchvision(self, root: Path, train: bool, download: bool) -> Any:
        import torchvision.datasets

        cls = getattr(torchvision.datasets, self.folder)
        return cls(str(root), train=train, download=download)

    def find_files(self) -> dict[str, Path] | None:
        """The four IDX files (plain or ``.gz``) from the first folder holding all of them, or ``None``."""
        for root in self._roots():
            for folder in (root / self.folder / "raw", root):
                found = {}
                for name in self.files:
                    for candidate in (folder / name, folder / f"{name}.gz"):
                        if candidate.is_file():
                            found[name] = candidate
                            break
                if len(found) == len(self.files):
                    return found
        return None

    def prepare_data(self) -> None:
        """Download the files into ``root`` when ``download=True`` and they are not there yet."""
        if self.download and self.find_files() is None:
            root = self._roots()[0]
            for train in (True, False):
                self._torchvision(root, train=train, download=True)

    def load_splits(self) -> tuple[Dataset, Dataset | None]:
        files = self.find_files()
        if files is None and self.download:
            self.prepare_data()
            files = self.find_files()
        if files is None:
            raise FileNotFoundError(self._missing_message())
        folder = files[self.files[0]].parent
        if (
            folder.name == "raw"
            and folder.parent.name == self.folder
            and all(p.suffix != ".gz" for p in files.values())
        ):
            # torchvision's own layout: let torchvision read it
            root = folder.parent.parent
            train, test = (self._torchvision(root, train=t, download=False) for t in (True, False))
            return _tensor_images(train.data, train.targets), _tensor_images(test.data, test.targets)
        # a folder of (gzip'd) IDX files, e.g. Debian's: torchvision reads only unpacked files in its layout
        tr_x, tr_y, te_x, te_y = (read_idx(files[name]) for name in self.files)
        for images, labels in ((tr_x, tr_y), (te_x, te_y)):
            if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
                raise ValueError(
                    f"IDX files in {folder}: {tuple(images.shape)} images but {tuple(labels.shape)} labels"
                )
        return _tensor_images(tr_x, tr_y), _tensor_images(te_x, te_y)

    def _missing_message(self) -> str:
        roots = self._roots()
        target = roots[0] / self.folder / "raw"
        names = ", ".join(self.files)
        where = " or ".join(f"{r / self.folder / 'raw'} or directly in {r}" for r in roots)
        return (
            f"{self.title} not found: expected the four IDX files {names} (each may be gzip'd, ending .gz) "
            f"in {where}. To fetch them: pass download=True to download them into {target}"
            f"{self.how_to_fetch}."
        )


@register_data("mnist")
class MNISTDataModule(MNISTLikeDataModule):
    """MNIST handwritten digits (28x28 grey, 10 classes, 60,000 training and 10,000 test images).

    Args:
        root: folder holding ``MNIST/raw/train-images-idx3-ubyte`` … (torchvision's layout, what
            ``download=True`` writes) or the four IDX files directly, gzip'd or not;
            ``None``: ``$DLTOOLKIT_DATA`` or ``~/.cache/dltoolkit/data``.
        download: download the files into ``root`` if they are missing (needs internet).
    """

    folder = "MNIST"
    title = "MNIST"
    mean_std = ((0.1307,), (0.3081,))
    how_to_fetch = (
        ", or fetch train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
        "t10k-labels-idx1-ubyte.gz from https://ossci-datasets.s3.amazonaws.com/mnist/ into that folder"
    )


@register_data("fashion_mnist")
class FashionMNISTDataModule(MNISTLikeDataModule):
    """Zalando's Fashion-MNIST clothing images (28x28 grey, 10 classes, 60,000 training and 10,000 test).

    Args:
        root: folder holding ``FashionMNIST/raw/train-images-idx3-ubyte`` … (torchvision's layout, what
            ``download=True`` writes) or the four IDX files directly, gzip'd or not (as Debian's
            ``dataset-fashion-mnist`` installs them in ``/usr/share/datasets/fashion-mnist``);
            ``None``: ``$DLTOOLKIT_DATA`` or ``~/.cache/dltoolkit/data``, then Debian's folder.
        download: download the files into ``root`` if they are missing (needs internet).
    """

    folder = "FashionMNIST"
    title = "Fashion-MNIST"
    mean_std = ((0.2860,), (0.3530,))
    class_names = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    fallback_roots = (DEBIAN_FASHION_MNIST,)
    how_to_fetch = (
        f", or install Debian's package (sudo apt-get install dataset-fashion-mnist) and pass "
        f"root='{DEBIAN_FASHION_MNIST}', or fetch the four .gz files from "
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ into that folder"
    )


@register_data("cifar10")
class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10 colour photos (32x32 RGB, 10 classes, 50,000 training and 10,000 test images).

    Args:
        root: folder holding ``cifar-10-batches-py/`` (torchvision's layout, what ``download=True``
            writes), or that folder itself; ``None``: ``$DLTOOLKIT_DATA`` or ``~/.cache/dltoolkit/data``.
        download: download the 163 MB archive into ``root`` if the files are missing (needs internet).
    """

    mean_std = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    base_folder: ClassVar[str] = "cifar-10-batches-py"
    archive: ClassVar[str] = "cifar-10-python.tar.gz"
    url: ClassVar[str] = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    files: ClassVar[tuple[str, ...]] = (
        *(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
    )

    def __init__(self, root: str | None = None, download: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root, self.download = root, download

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, 32, 32)

    @property
    def classes(self) -> list[str]:
        return ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def _root(self) -> Path:
        root = Path(self.root).expanduser() if self.root is not None else default_root()
        if root.name == self.base_folder and not (root / self.base_folder).exists():
            return root.parent  # pointed at cifar-10-batches-py itself
        return root

    def _missing(self, root: Path) -> list[str]:
        return [name for name in self.files if not (root / self.base_folder / name).is_file()]

    def prepare_data(self) -> None:
        """Unpack a local ``cifar-10-python.tar.gz``, or download it when ``download=True``."""
        import torchvision.datasets

        root = self._root()
        if not self._missing(root):
            return
        if (root / self.archive).is_file():
            with tarfile.open(root / self.archive, "r:gz") as tar:
                if hasattr(tarfile, "data_filter"):  # refuses absolute paths and links out of root
                    tar.extractall(root, filter="data")
                else:  # pragma: no cover - Python < 3.10.12
                    tar.extractall(root)
        elif self.download:
            torchvision.datasets.CIFAR10(str(root), train=True, download=True)

    def load_splits(self) -> tuple[Dataset, Dataset | None]:
        import torchvision.datasets

        root = self._root()
        self.prepare_data()
        missing = self._missing(root)
        if missing:
            raise FileNotFoundError(
                f"CIFAR-10 not found: expected {', '.join(self.files)} in {root / self.base_folder} "
                f"(missing: {', '.join(missing)}). To fetch them: pass download=True to download {self.url} "
                f"into {root}, or download that archive yourself and put it in {root} (it is unpacked)."
            )
        try:
            train, test = (
                torchvision.datasets.CIFAR10(str(root), train=t, download=False) for t in (True, False)
            )
        except RuntimeError as exc:  # torchvision says "not found or corrupted" when an MD5 sum differs
            raise RuntimeError(
                f"CIFAR-10 files in {root / self.base_folder} fail torchvision's MD5 check: corrupted or "
                f"not the official ones. Delete that folder and pass download=True. ({exc})"
            ) from exc
        return _tensor_images(train.data, train.targets), _tensor_images(test.data, test.targets)


@register_data("image_folder")
class ImageFolderDataModule(ImageDataModule):
    """Your own images, one sub-folder per class, resized to ``image_size`` and held in memory.

    The layout torchvision's ``ImageFolder`` reads: ``root/cat/1.jpg``, ``root/dog/2.png`` … Having no
    test split of its own, the set is split into train, val and test (``val_fraction``, ``test_fraction``).

    Args:
        root: folder with one sub-folder of images per class; the sorted sub-folder names are the classes.
        image_size: side of the square images fed to the model; each image is scaled so that its
            shorter side fits, then centre-cropped.
        channels: 1 (converted to grey) or 3 (RGB).
    """

    def __init__(self, root: str, image_size: int = 32, channels: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if image_size < 1:
            raise ValueError(f"image_size must be a positive number of pixels, got {image_size}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
        self.root, self.image_size, self.channels = root, image_size, channels
        self._classes: list[str] | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    @property
    def classes(self) -> list[str]:
        if self._classes is None:
            from torchvision.datasets.folder import find_classes

            folder = Path(self.root).expanduser()
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"image folder {folder} not found: expected one sub-folder per class holding its images "
                    f"({folder}/<class name>/<image>.png, .jpg, …)."
                )
            try:
                self._classes = find_classes(str(folder))[0]
            except FileNotFoundError as exc:
                raise FileNotFoundError(
                    f"image folder {folder} has no class sub-folders: expected "
                    f"{folder}/<class name>/<image>.png, .jpg, … (one sub-folder per class)."
                ) from exc
        return self._classes

    def load_splits(self) -> tuple[Dataset, Dataset | None]:
        from PIL import Image, ImageOps
        from torchvision.datasets import ImageFolder

        self.classes  # noqa: B018 - raises the clear error when the folder or its class folders are missing
        folder = Path(self.root).expanduser()
        try:
            samples = ImageFolder(str(folder)).samples
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"no images found under the class sub-folders of {folder}: {exc}"
            ) from exc
        mode = "L" if self.channels == 1 else "RGB"
        size = (self.image_size, self.image_size)
        images = np.empty((len(samples), self.channels, *size), dtype=np.uint8)
        for i, (path, _) in enumerate(samples):
            with Image.open(path) as img:
                fitted = ImageOps.fit(img.convert(mode), size, method=Image.Resampling.BILINEAR)
            pixels = np.asarray(fitted, dtype=np.uint8)
            images[i] = pixels[None] if self.channels == 1 else pixels.transpose(2, 0, 1)
        labels = torch.tensor([label for _, label in samples], dtype=torch.long)
        return TensorImages(torch.from_numpy(images), labels), None

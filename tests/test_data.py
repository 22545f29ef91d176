"""Data modules: shapes, splits, normalisation, augmentation and the real file formats, all offline.

MNIST, Fashion-MNIST, CIFAR-10 and ImageFolder read tiny sets generated here in the real formats
(gzip'd IDX files, CIFAR-10's pickled batches, PNG files); only the real Fashion-MNIST check needs
Debian's ``dataset-fashion-mnist`` and is skipped without it.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset

from dltoolkit.catalog import UnknownNameError, create_data, data_schema, get_data_spec, list_data
from dltoolkit.data.base import ImageDataModule, TensorImages, Transformed
from dltoolkit.data.shapes import SHAPES, generate_shapes
from dltoolkit.data.transforms import AUGMENTATIONS
from dltoolkit.data.vision import DEBIAN_FASHION_MNIST, FashionMNISTDataModule, read_idx

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
N_IDX_TRAIN, N_IDX_TEST = 50, 20
N_CIFAR_PER_BATCH, N_CIFAR_TEST = 8, 12
FOLDER_CLASSES = ("cat", "dog", "owl")  # sorted: labels 0, 1, 2
FOLDER_SHADES = (20, 128, 235)  # each class's grey level, so labels can be checked against folders
N_PER_FOLDER = 8
OWN_TEST_SPLIT = {"mnist", "fashion_mnist", "cifar10"}


# --- tiny data sets in the real formats ---


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes: 0, 0, type 0x08, ndim, big-endian int32 sizes, data (gzip'd if .gz)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def idx_arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        IDX_FILES[0]: rng.integers(0, 256, (N_IDX_TRAIN, 28, 28), dtype=np.uint8),
        IDX_FILES[1]: (np.arange(N_IDX_TRAIN) % 10).astype(np.uint8),
        IDX_FILES[2]: rng.integers(0, 256, (N_IDX_TEST, 28, 28), dtype=np.uint8),
        IDX_FILES[3]: (np.arange(N_IDX_TEST)[::-1] % 10).astype(np.uint8),
    }


def write_idx_set(folder: Path, arrays: dict[str, np.ndarray], gz: bool) -> None:
    for name, array in arrays.items():
        write_idx(folder / (f"{name}.gz" if gz else name), array)


def cifar_arrays(seed: int = 0) -> dict[str, dict[str, Any]]:
    """CIFAR-10's python batches: ``data`` (N, 3072) uint8 rows of R, G, B planes, ``labels`` lists."""
    rng = np.random.default_rng(seed)
    batches: dict[str, dict[str, Any]] = {}
    for i, n in [
        *((f"data_batch_{b}", N_CIFAR_PER_BATCH) for b in range(1, 6)),
        ("test_batch", N_CIFAR_TEST),
    ]:
        batches[i] = {
            "batch_label": i,
            "data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
            "labels": [int(v) for v in rng.integers(0, 10, n)],
            "filenames": [f"img_{k}.png" for k in range(n)],
        }
    return batches


def write_cifar(root: Path, batches: dict[str, dict[str, Any]]) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {
        "label_names": get_data_spec("cifar10").create().classes,
        "num_cases_per_batch": N_CIFAR_PER_BATCH,
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))


def write_image_folder(root: Path) -> None:
    from PIL import Image

    sizes = [(20, 30), (40, 24), (16, 16), (33, 33)]
    for label, (name, shade) in enumerate(zip(FOLDER_CLASSES, FOLDER_SHADES, strict=True)):
        (root / name).mkdir(parents=True)
        for k in range(N_PER_FOLDER):
            w, h = sizes[(k + label) % len(sizes)]
            if k % 2:  # mixed modes on disk: grey and colour files in one set
                Image.new("L", (w, h), shade).save(root / name / f"{k}.png")
            else:
                Image.new("RGB", (w, h), (shade, shade, shade)).save(root / name / f"{k}.png")
    (root / "cat" / "notes.txt").write_text("not an image: ignored")


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("data")
    write_idx_set(base / "mnist" / "MNIST" / "raw", idx_arrays(1), gz=False)  # torchvision's own layout
    write_idx_set(base / "fashion", idx_arrays(2), gz=True)  # Debian's: a folder of .gz files
    write_cifar(base / "cifar", cifar_arrays())
    write_image_folder(base / "folder")
    return {
        "mnist": base / "mnist",
        "fashion_mnist": base / "fashion",
        "cifar10": base / "cifar",
        "folder": base / "folder",
    }


@pytest.fixture
def no_cifar_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision checks the real CIFAR-10 files' MD5 sums; the tiny generated files only need to exist."""
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "train_list", [[name, None] for name, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[name, None] for name, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": None})


#: How each built-in data module is made offline and small; every built-in one must be here.
BUILDERS: dict[str, Callable[[dict[str, Path]], dict[str, Any]]] = {
    "digits": lambda r: {},
    "digits28": lambda r: {},
    "shapes": lambda r: {"num_samples": 240, "channels": 3},
    "mnist": lambda r: {"root": str(r["mnist"])},
    "fashion_mnist": lambda r: {"root": str(r["fashion_mnist"])},
    "cifar10": lambda r: {"root": str(r["cifar10"])},
    "image_folder": lambda r: {"root": str(r["folder"]), "image_size": 12},
}
NAMES = sorted(BUILDERS)


@pytest.fixture
def make_dm(roots: dict[str, Path], no_cifar_md5: None) -> Callable[..., ImageDataModule]:
    def make(name: str, **overrides: Any) -> ImageDataModule:
        return create_data(name, **{**BUILDERS[name](roots), **overrides})

    return make


def base_dataset(ds: Dataset) -> Dataset:
    while isinstance(ds, Transformed | Subset):
        ds = ds.dataset
    return ds


def base_indices(ds: Dataset) -> list[int]:
    """Indices into the underlying ``TensorImages`` of a ``Transformed``/nested ``Subset`` view."""
    if isinstance(ds, Transformed):
        return base_indices(ds.dataset)
    if isinstance(ds, Subset):
        parent = base_indices(ds.dataset)
        return [parent[i] for i in ds.indices]
    return list(range(len(ds)))  # type: ignore[arg-type]


def split_indices(dm: ImageDataModule) -> dict[str, list[int]]:
    return {k: base_indices(getattr(dm, f"{k}_set")) for k in ("train", "val", "test")}


# --- every registered data module ---


def test_every_built_in_data_module_is_tested_here() -> None:
    """Every built-in image data module is here; the environments (dltoolkit.rl.envs) are in test_rl.py."""
    from dltoolkit.data.base import ImageDataModule
    from dltoolkit.rl.envs import EnvDataModule

    built_in = {n for n in list_data() if get_data_spec(n).class_path.startswith("dltoolkit.")}
    images = {n for n in built_in if issubclass(get_data_spec(n).cls, ImageDataModule)}
    environments = {n for n in built_in if issubclass(get_data_spec(n).cls, EnvDataModule)}
    assert images == set(BUILDERS)
    assert environments == {"cartpole", "acrobot", "mountaincar", "pendulum"}
    assert built_in == images | environments  # nothing of a third kind goes untested


@pytest.mark.parametrize("name", NAMES)
def test_options_are_documented_for_the_cli_and_form(name: str) -> None:
    props = data_schema(name)["properties"]
    assert {"batch_size", "seed", "augment", "val_fraction"} <= set(props)
    undocumented = [p for p, schema in props.items() if not schema.get("description")]
    assert undocumented == []


@pytest.mark.parametrize("name", NAMES)
def test_batches_match_input_shape_and_labels_are_in_range(name: str, make_dm: Callable[..., Any]) -> None:
    dm = make_dm(name, batch_size=16)
    assert len(dm.classes) == dm.num_classes >= 3
    dm.setup("fit")
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        assert len(loader) > 0
        for x, y in loader:
            assert x.dtype == torch.float32 and y.dtype == torch.int64
            assert tuple(x.shape[1:]) == dm.input_shape and x.shape[0] == y.shape[0] <= 16
            assert torch.isfinite(x).all()
            assert int(y.min()) >= 0 and int(y.max()) < dm.num_classes
    sizes = dm.describe()["sizes"]
    assert sizes == {"train": len(dm.train_set), "val": len(dm.val_set), "test": len(dm.test_set)}


@pytest.mark.parametrize("name", NAMES)
def test_splits_are_seeded(name: str, make_dm: Callable[..., Any]) -> None:
    splits = []
    for seed in (0, 0, 1):
        dm = make_dm(name, seed=seed)
        dm.setup()
        splits.append(split_indices(dm))
    assert splits[0] == splits[1]
    assert splits[0]["train"] != splits[2]["train"]
    assert splits[0]["val"] != splits[2]["val"]


@pytest.mark.parametrize("name", NAMES)
def test_splits_are_disjoint_and_cover_the_data(name: str, make_dm: Callable[..., Any]) -> None:
    dm = make_dm(name, val_fraction=0.25, test_fraction=0.2)
    dm.setup()
    idx = split_indices(dm)
    train, val, test = (set(idx[k]) for k in ("train", "val", "test"))
    assert len(train) == len(idx["train"]) and len(val) == len(idx["val"]) and len(test) == len(idx["test"])
    full = base_dataset(dm.train_set)
    assert base_dataset(dm.val_set) is full
    if name in OWN_TEST_SPLIT:  # the data set's own test split, untouched
        own_test = base_dataset(dm.test_set)
        assert own_test is not full and test == set(range(len(own_test)))  # type: ignore[arg-type]
        n = len(full)  # type: ignore[arg-type]
        assert not train & val and train | val == set(range(n))
        assert len(val) == round(n * 0.25)
    else:  # carved out of the one set
        assert base_dataset(dm.test_set) is full
        n = len(full)  # type: ignore[arg-type]
        assert not train & val and not train & test and not val & test
        assert train | val | test == set(range(n))
        assert len(test) == round(n * 0.2) and len(val) == round((n - len(test)) * 0.25)


@pytest.mark.parametrize("name", NAMES)
def test_normalization_uses_the_training_split(name: str, make_dm: Callable[..., Any]) -> None:
    dm = make_dm(name)
    dm.setup()
    full = base_dataset(dm.train_set)
    train_idx = base_indices(dm.train_set)
    raw_train = torch.stack([full[i][0] for i in train_idx])  # (N, C, H, W) in [0, 1]
    assert raw_train.min() >= 0 and raw_train.max() <= 1
    if dm.mean_std is None:  # measured on the training split: standardised there
        mean, std = raw_train.mean(dim=(0, 2, 3)), raw_train.std(dim=(0, 2, 3))
        normed = torch.stack([dm.train_set[i][0] for i in range(len(dm.train_set))])
        assert torch.allclose(normed.mean(dim=(0, 2, 3)), torch.zeros(len(mean)), atol=0.02)
        assert torch.allclose(normed.std(dim=(0, 2, 3)), torch.ones(len(mean)), atol=0.02)
    else:  # a standard data set's published statistics (checked on the real data below)
        mean, std = (torch.tensor(v) for v in dm.mean_std)
        assert len(mean) == len(std) == dm.input_shape[0]
    mean, std = mean.view(-1, 1, 1), std.view(-1, 1, 1)
    # val and test are standardised with the training split's statistics, not their own
    for split in ("train", "val", "test"):
        ds = getattr(dm, f"{split}_set")
        source = base_dataset(ds)
        for k, i in enumerate(base_indices(ds)[:5]):
            assert torch.allclose(ds[k][0], (source[i][0] - mean) / std, atol=1e-4)
    plain = make_dm(name, normalize=False)
    plain.setup()
    assert torch.equal(plain.val_set[0][0], base_dataset(plain.val_set)[base_indices(plain.val_set)[0]][0])


@pytest.mark.parametrize("name", NAMES)
def test_bad_batch_size_or_fractions_are_value_errors(name: str, make_dm: Callable[..., Any]) -> None:
    for bad in ({"batch_size": 0}, {"val_fraction": 1.0}, {"val_fraction": -0.1}, {"test_fraction": 1.5}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            make_dm(name, **bad)


# --- augmentation ---


@pytest.mark.parametrize("spec", [*AUGMENTATIONS, "crop,flip,noise"])
@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_each_augmentation_changes_training_images_only(
    name: str, spec: str, make_dm: Callable[..., Any]
) -> None:
    plain, augmented = make_dm(name, augment="none"), make_dm(name, augment=spec)
    plain.setup()
    augmented.setup()
    torch.manual_seed(0)
    x_plain, y_plain = next(iter(plain.train_dataloader()))
    x_aug, y_aug = next(iter(augmented.train_dataloader()))
    assert torch.equal(y_plain, y_aug)  # same seeded shuffle: the same images
    assert x_aug.shape == x_plain.shape and x_aug.dtype == torch.float32
    assert not torch.equal(x_aug, x_plain)
    v_plain, v_aug = next(iter(plain.val_dataloader()))[0], next(iter(augmented.val_dataloader()))[0]
    assert torch.equal(v_plain, v_aug)  # never at evaluation


def test_unknown_augmentation_lists_the_known_ones(make_dm: Callable[..., Any]) -> None:
    with pytest.raises(UnknownNameError) as info:
        make_dm("shapes", augment="crop,blur")  # fails when built, not at the first batch
    message = str(info.value)
    assert "'blur'" in message
    for known in ("none", *AUGMENTATIONS):
        assert known in message


def test_datasets_pickle_for_worker_processes(make_dm: Callable[..., Any]) -> None:
    dm = make_dm("shapes", augment="crop,noise", num_workers=1, batch_size=32)
    dm.setup()
    copy = pickle.loads(pickle.dumps(dm.val_set))
    assert torch.equal(copy[3][0], dm.val_set[3][0])
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (32, *dm.input_shape)


# --- shapes ---


def test_shapes_are_reproducible_byte_for_byte() -> None:
    a, la = generate_shapes(24, seed=0)
    b, lb = generate_shapes(24, seed=0)
    assert a.tobytes() == b.tobytes() and np.array_equal(la, lb)
    assert a.dtype == np.uint8 and a.shape == (24, 1, 32, 32)
    assert not np.array_equal(generate_shapes(24, seed=1)[0], a)
    assert np.array_equal(generate_shapes(12, seed=0)[0], a[:12])  # image i depends on (seed, i) only
    # the same bytes on every machine: a change of drawing or RNG use shows here
    assert hashlib.sha256(generate_shapes(12, seed=0)[0].tobytes()).hexdigest() == (
        "31ba7f119159922f92bdb4df50fc9755fdf39f78de436bd2827b7d5d3172f081"
    )
    rgb = generate_shapes(12, image_size=20, channels=3, seed=0)[0]
    assert hashlib.sha256(rgb.tobytes()).hexdigest() == (
        "d2fc6eff47035e0198ba8940a3cf87fb49c5020c7368d6fea3fe3d73a289eb61"
    )


def test_shapes_data_module_is_seeded_by_data_seed(make_dm: Callable[..., Any]) -> None:
    images = []
    for data_seed, seed in ((0, 0), (0, 5), (3, 0)):
        dm = make_dm("shapes", data_seed=data_seed, seed=seed)
        full, _ = dm.load_splits()
        images.append(full.images)
    assert torch.equal(images[0], images[1])  # the split seed leaves the images alone
    assert not torch.equal(images[0], images[2])


def test_shapes_are_balanced_visible_and_not_linearly_trivial() -> None:
    images, labels = generate_shapes(900, image_size=24, seed=0)
    assert np.bincount(labels).tolist() == [150] * len(SHAPES)
    flat = images.reshape(len(images), -1).astype(np.float32)
    contrast = flat.max(axis=1) - flat.min(axis=1)
    assert contrast.min() >= 60  # every image shows its shape against the background
    assert len({img.tobytes() for img in images}) == len(images)
    # the best linear classifier on the pixels (least squares on one-hot targets, a little ridge) is poor
    x = np.hstack([flat / 255, np.ones((len(flat), 1), dtype=np.float32)]).astype(np.float64)
    onehot = np.eye(len(SHAPES))[labels]
    w = np.linalg.solve(x[:600].T @ x[:600] + 1.0 * np.eye(x.shape[1]), x[:600].T @ onehot[:600])
    train_acc = ((x[:600] @ w).argmax(1) == labels[:600]).mean()
    test_acc = ((x[600:] @ w).argmax(1) == labels[600:]).mean()
    assert train_acc > 0.5  # it can fit the training images...
    assert test_acc < 0.4  # ...but does not generalise (chance is 1/6; a small CNN reaches > 0.9)


def test_shapes_bad_options_are_value_errors() -> None:
    for bad in ({"num_samples": 3}, {"image_size": 8}, {"channels": 2}, {"noise": 0.9}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            create_data("shapes", **bad)


# --- MNIST and Fashion-MNIST: IDX files ---


def test_read_idx_rejects_malformed_files(tmp_path: Path) -> None:
    write_idx(tmp_path / "ok.gz", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    assert read_idx(tmp_path / "ok.gz").tolist() == np.arange(24).reshape(2, 3, 4).tolist()
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 2) + b"ab")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"ab")
    with pytest.raises(ValueError, match="shape"):
        read_idx(tmp_path / "short")


@pytest.mark.parametrize("layout", ["flat_gz", "flat_plain", "torchvision_raw", "torchvision_raw_gz"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_layouts_load_the_exact_images_and_labels(name: str, layout: str, tmp_path: Path) -> None:
    arrays = idx_arrays(7)
    folder = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}[name]
    target = tmp_path if layout.startswith("flat") else tmp_path / folder / "raw"
    write_idx_set(target, arrays, gz=layout.endswith("gz"))
    train, test = create_data(name, root=str(tmp_path)).load_splits()
    assert isinstance(train, TensorImages) and isinstance(test, TensorImages)
    assert train.images.dtype == torch.uint8 and train.images.shape == (N_IDX_TRAIN, 1, 28, 28)
    assert np.array_equal(train.images[:, 0].numpy(), arrays[IDX_FILES[0]])
    assert np.array_equal(train.labels.numpy(), arrays[IDX_FILES[1]])
    assert np.array_equal(test.images[:, 0].numpy(), arrays[IDX_FILES[2]])
    assert np.array_equal(test.labels.numpy(), arrays[IDX_FILES[3]])


@pytest.mark.parametrize(
    ("name", "how"),
    [
        ("mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
        ("fashion_mnist", "apt-get install dataset-fashion-mnist"),
    ],
)
def test_missing_idx_files_say_where_and_how_and_never_download(
    name: str, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.mnist

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("downloaded without download=True")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", no_network)
    write_idx_set(
        tmp_path, {k: v for k, v in idx_arrays(0).items() if k != IDX_FILES[3]}, gz=True
    )  # one missing
    dm = create_data(name, root=str(tmp_path))
    dm.prepare_data()  # what the Trainer calls first: a no-op without download=True
    with pytest.raises(FileNotFoundError) as info:
        dm.setup()
    message = str(info.value)
    folder = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}[name]
    for expected in (str(tmp_path / folder / "raw"), "t10k-labels-idx1-ubyte", "download=True", how):
        assert expected in message


def test_fashion_mnist_default_root_is_the_cache_then_debian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLTOOLKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(FashionMNISTDataModule, "fallback_roots", (str(tmp_path / "debian"),))
    with pytest.raises(FileNotFoundError) as info:
        create_data("fashion_mnist").setup()
    assert str(tmp_path / "cache" / "FashionMNIST" / "raw") in str(info.value)
    assert str(tmp_path / "debian") in str(info.value)
    arrays = idx_arrays(3)
    write_idx_set(tmp_path / "debian", arrays, gz=True)
    train, _ = create_data("fashion_mnist").load_splits()
    assert np.array_equal(train.images[:, 0].numpy(), arrays[IDX_FILES[0]])
    write_idx_set(
        tmp_path / "cache" / "FashionMNIST" / "raw", idx_arrays(4), gz=False
    )  # the cache comes first
    train, _ = create_data("fashion_mnist").load_splits()
    assert np.array_equal(train.images[:, 0].numpy(), idx_arrays(4)[IDX_FILES[0]])


def test_download_true_fetches_through_torchvision_into_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.mnist

    arrays, fetched = idx_arrays(5), []

    def fake_download(
        url: str, download_root: str, filename: str, md5: str
    ) -> None:  # what the mirror serves
        fetched.append(url)
        write_idx(Path(download_root) / filename.removesuffix(".gz"), arrays[filename.removesuffix(".gz")])

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", fake_download)
    dm = create_data("mnist", root=str(tmp_path), download=True)
    dm.prepare_data()
    assert sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir()) == sorted(IDX_FILES)
    assert len(fetched) == 4
    dm.setup()
    assert len(fetched) == 4  # already there: not fetched again
    _, y = next(iter(dm.test_dataloader()))
    assert y.tolist()[:5] == arrays[IDX_FILES[3]][:5].tolist()


@pytest.mark.skipif(
    not Path(DEBIAN_FASHION_MNIST).is_dir(),
    reason=f"real Fashion-MNIST not in {DEBIAN_FASHION_MNIST} (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_from_the_debian_package() -> None:
    dm = create_data("fashion_mnist", root=DEBIAN_FASHION_MNIST, batch_size=256)
    dm.setup()
    assert dm.describe()["sizes"] == {"train": 54000, "val": 6000, "test": 10000}
    test_labels = torch.cat([y for _, y in dm.test_dataloader()])
    assert torch.bincount(test_labels).tolist() == [1000] * 10
    sample = torch.stack([dm.train_set[i][0] for i in range(0, 54000, 9)])  # 6,000 training images
    assert abs(sample.mean().item()) < 0.02 and abs(sample.std().item() - 1) < 0.02  # the published mean/std
    x, _ = dm.test_set[0]
    assert x.shape == (1, 28, 28)


# --- CIFAR-10: pickled batches ---


@pytest.mark.usefixtures("no_cifar_md5")
def test_cifar10_reads_the_batches_in_order_as_chw(roots: dict[str, Path]) -> None:
    batches = cifar_arrays()
    train, test = create_data("cifar10", root=str(roots["cifar10"])).load_splits()
    assert isinstance(train, TensorImages) and isinstance(test, TensorImages)
    rows = np.concatenate([batches[f"data_batch_{b}"]["data"] for b in range(1, 6)])
    assert train.images.dtype == torch.uint8
    assert np.array_equal(train.images.numpy(), rows.reshape(-1, 3, 32, 32))  # R, G, B planes
    assert train.labels.tolist() == [v for b in range(1, 6) for v in batches[f"data_batch_{b}"]["labels"]]
    assert np.array_equal(test.images.numpy(), batches["test_batch"]["data"].reshape(-1, 3, 32, 32))
    # root may also name the batches folder itself
    train2, _ = create_data("cifar10", root=str(roots["cifar10"] / "cifar-10-batches-py")).load_splits()
    assert torch.equal(train2.images, train.images)


@pytest.mark.usefixtures("no_cifar_md5")
def test_cifar10_unpacks_a_local_archive(tmp_path: Path, roots: dict[str, Path]) -> None:
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(roots["cifar10"] / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    train, _ = create_data("cifar10", root=str(tmp_path)).load_splits()
    assert len(train) == 5 * N_CIFAR_PER_BATCH


def test_cifar10_corrupt_files_fail_the_md5_check(roots: dict[str, Path]) -> None:
    with pytest.raises(RuntimeError, match="MD5"):
        create_data("cifar10", root=str(roots["cifar10"])).setup()


def test_cifar10_missing_says_where_and_how_and_never_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.cifar

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("downloaded without download=True")

    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", no_network)
    dm = create_data("cifar10", root=str(tmp_path / "nowhere"))
    dm.prepare_data()  # what the Trainer calls first: a no-op without download=True
    with pytest.raises(FileNotFoundError) as info:
        dm.setup()
    message = str(info.value)
    for expected in (
        str(tmp_path / "nowhere" / "cifar-10-batches-py"),
        "data_batch_1",
        "batches.meta",
        "download=True",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    ):
        assert expected in message


# --- ImageFolder: your own images ---


@pytest.mark.parametrize("channels", [1, 3])
def test_image_folder_resizes_and_labels_by_sub_folder(channels: int, roots: dict[str, Path]) -> None:
    dm = create_data("image_folder", root=str(roots["folder"]), image_size=10, channels=channels)
    assert dm.classes == list(FOLDER_CLASSES) and dm.input_shape == (channels, 10, 10)
    full, test = dm.load_splits()
    assert test is None  # no test split of its own: the base carves one
    assert isinstance(full, TensorImages)
    assert full.images.shape == (len(FOLDER_CLASSES) * N_PER_FOLDER, channels, 10, 10)
    assert full.images.dtype == torch.uint8
    for label, shade in enumerate(FOLDER_SHADES):
        pixels = full.images[full.labels == label]
        assert len(pixels) == N_PER_FOLDER
        assert (pixels.int() - shade).abs().max() <= 1  # the images of that sub-folder


def test_image_folder_scales_the_shorter_side_and_centre_crops(tmp_path: Path) -> None:
    from PIL import Image

    wide = np.zeros((20, 40), dtype=np.uint8)  # (H, W): white left and right edges, a grey middle
    wide[:, :6], wide[:, 6:34], wide[:, 34:] = 255, 100, 255
    (tmp_path / "only").mkdir()
    Image.fromarray(wide).save(tmp_path / "only" / "wide.png")
    full, _ = create_data("image_folder", root=str(tmp_path), image_size=10, channels=1).load_splits()
    pixels = full.images[0, 0]
    assert pixels.shape == (10, 10)
    assert (pixels.int() - 100).abs().max() <= 1  # the white edges were cropped away, not squeezed in


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing")):
        create_data("image_folder", root=str(tmp_path / "missing")).setup()
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="class sub-folders"):
        create_data("image_folder", root=str(tmp_path / "flat")).setup()
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no images"):
        create_data("image_folder", root=str(tmp_path / "empty")).setup()
    for bad in ({"channels": 2}, {"image_size": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            create_data("image_folder", root=str(tmp_path), **bad)
    with pytest.raises(TypeError, match="root"):
        create_data("image_folder")  # root is required

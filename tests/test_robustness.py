"""Attacks stay in their ε-ball and in [0, 1], raise the loss and leave the model as it was; the pixel
wrapper is exact; adversarial training really trains on PGD batches; bit squeezing masks gradients."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from dltoolkit.catalog import UnknownNameError, create_data, create_model
from dltoolkit.robustness import (
    AdversarialTraining,
    BitSqueezing,
    PixelSpaceModel,
    attack,
    data_normalization,
    evaluate_defence,
    pixel_test_data,
    robustness_curve,
    squeeze_bits,
)

EPS_ATTACKS = {
    "fgsm": {},
    "pgd": {"steps": 3},
    "mifgsm": {"steps": 3},
    "square": {"n_queries": 30},
    "autoattack": {"steps": 2, "n_queries": 20},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # tiny models on a shared 2-core machine run ~30x faster on one thread than on two contended ones
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> Any:
    dm = create_data("digits", augment="none", batch_size=64)
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def trained(digits: Any) -> tuple[PixelSpaceModel, Tensor, Tensor]:
    """An MLP trained 8 epochs on digits (~97 % test accuracy), in pixel space, and 96 test images."""
    pl.seed_everything(0, verbose=False)
    model = create_model("mlp", data=digits, hidden_sizes=[64], lr=3e-3)
    trainer = pl.Trainer(
        max_epochs=8,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, digits)
    images, labels = pixel_test_data(digits, max_samples=96)
    return PixelSpaceModel(model, *data_normalization(digits)), images, labels


def _loss(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model(images), labels))


# --- pixel space ---------------------------------------------------------------------------------


def test_pixel_space_model_equals_the_model_on_normalised_inputs(digits: Any) -> None:
    model = create_model("lenet", data=digits).eval()
    mean, std = data_normalization(digits)
    assert len(mean) == len(std) == 1 and 0 < mean[0] < 1 and std[0] > 0
    images, labels = pixel_test_data(digits, max_samples=16)
    assert images.shape == (16, 1, 8, 8) and images.min() >= 0 and images.max() <= 1
    # the raw test images, normalised, are exactly what the data module's test set yields
    normalised = torch.stack([digits.test_set[i][0] for i in range(16)])
    assert torch.allclose((images - mean[0]) / std[0], normalised, atol=1e-6)
    assert labels.tolist() == [digits.test_set[i][1] for i in range(16)]
    with torch.no_grad():
        assert torch.allclose(PixelSpaceModel(model, mean, std)(images), model(normalised), atol=1e-5)
    identity = create_data("digits", normalize=False)
    assert data_normalization(identity) == ([0.0], [1.0])


def test_pixel_space_model_rejects_bad_mean_std() -> None:
    with pytest.raises(ValueError, match="std must be positive"):
        PixelSpaceModel(nn.Identity(), [0.5], [0.0])
    with pytest.raises(ValueError, match="one length"):
        PixelSpaceModel(nn.Identity(), [0.5, 0.5], [0.2])
    with pytest.raises(TypeError, match="ImageDataModule"):
        data_normalization(object())


# --- attacks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EPS_ATTACKS))
def test_eps_attacks_raise_the_loss_within_the_ball_and_the_box(
    name: str, trained: tuple[PixelSpaceModel, Tensor, Tensor]
) -> None:
    model, images, labels = trained
    images, labels = images[:48], labels[:48]
    eps = 0.15
    model.train()  # the attack must run in eval mode and hand the model back in train mode
    result = attack(model, (images, labels), name, eps=eps, **EPS_ATTACKS[name])
    assert model.training and all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters()) and all(
        p.grad is None for p in model.parameters()
    )
    model.eval()
    assert result.attack == name and result.eps == eps
    assert result.adversarial.shape == images.shape and result.labels.tolist() == labels.tolist()
    assert result.perturbation.abs().max() <= eps + 1e-6
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    assert torch.allclose(result.adversarial - result.perturbation, images, atol=1e-6)
    assert _loss(model, result.adversarial, labels) > _loss(model, images, labels)
    assert result.clean_accuracy > 0.8
    assert result.adversarial_accuracy < result.clean_accuracy
    predictions = model(result.adversarial).argmax(1)
    assert result.adversarial_predictions.tolist() == predictions.tolist()


@pytest.mark.parametrize(
    ("name", "options"), [("cw", {"steps": 20, "c": 1.0, "lr": 0.05}), ("deepfool", {"steps": 50})]
)
def test_minimum_norm_attacks_raise_the_loss_and_take_no_eps(
    name: str, options: dict[str, Any], trained: tuple[PixelSpaceModel, Tensor, Tensor]
) -> None:
    model, images, labels = trained
    images, labels = images[:16], labels[:16]
    result = attack(model, (images, labels), name, **options)
    assert result.eps is None
    assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    assert result.adversarial_accuracy < result.clean_accuracy
    assert _loss(model, result.adversarial, labels) > _loss(model, images, labels)
    assert all(p.grad is None for p in model.parameters())  # CW's backward() left no weight gradients
    with pytest.raises(ValueError, match="takes no eps"):
        attack(model, (images, labels), name, eps=0.1)


def test_attack_iterates_a_data_loader_and_keeps_the_callers_random_stream(
    trained: tuple[PixelSpaceModel, Tensor, Tensor],
) -> None:
    model, images, labels = trained
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    attack(model, (images[:8], labels[:8]), "square", eps=0.2, n_queries=20)  # Square calls manual_seed
    assert torch.equal(torch.rand(3), expected)
    loader = DataLoader(TensorDataset(images[:40], labels[:40]), batch_size=16)
    result = attack(model, loader, "square", eps=0.2, n_queries=20)
    assert len(result.labels) == 40 and result.labels.tolist() == labels[:40].tolist()
    assert result.adversarial.shape == (40, 1, 8, 8)
    single = attack(model, (images[:40], labels[:40]), "pgd", eps=0.0)
    assert (
        torch.equal(single.adversarial, images[:40]) and single.adversarial_accuracy == single.clean_accuracy
    )


def test_robustness_curve_falls_from_the_clean_accuracy(
    trained: tuple[PixelSpaceModel, Tensor, Tensor],
) -> None:
    model, images, labels = trained
    eps_list = [0.0, 0.05, 0.1, 0.2, 0.3]
    curve = robustness_curve(model, (images, labels), "pgd", eps_list, steps=5)
    assert [p.eps for p in curve] == eps_list
    clean = attack(model, (images, labels), "fgsm", eps=0.0).clean_accuracy
    assert curve[0].adversarial_accuracy == curve[0].clean_accuracy == clean
    accuracies = [p.adversarial_accuracy for p in curve]
    assert all(b <= a + 0.03 for a, b in itertools.pairwise(accuracies))  # PGD starts at random
    assert accuracies[-1] < 0.2 < clean - 0.5


def test_bad_attack_inputs_are_clear_errors(trained: tuple[PixelSpaceModel, Tensor, Tensor]) -> None:
    model, images, labels = trained
    x, y = images[:4], labels[:4]
    with pytest.raises(UnknownNameError, match=r"did you mean 'pgd'.*Known: autoattack, cw, deepfool"):
        attack(model, (x, y), "pdg")
    assert attack(model, (x, y), "MI-FGSM", eps=0.1, steps=1).attack == "mifgsm"
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        attack(model, (x, y), "pgd", eps=-0.1)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*pixel_test_data"):
        attack(model, ((x - 0.5) / 0.2, y), "pgd", eps=0.1)
    with pytest.raises(ValueError, match=r"batch \(N, C, H, W\)"):
        attack(model, (x[0], y), "pgd", eps=0.1)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        attack(model, (x, y[:3]), "pgd", eps=0.1)
    with pytest.raises(ValueError, match="integer class indices"):
        attack(model, (x, y.float()), "pgd", eps=0.1)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        attack(model, (x, y + 10), "pgd", eps=0.1)
    with pytest.raises(TypeError, match=r"unknown option.*stpes.*accepts: eps, alpha, steps"):
        attack(model, (x, y), "pgd", eps=0.1, stpes=3)
    with pytest.raises(TypeError, match="data must be a batch"):
        attack(model, x, "pgd", eps=0.1)
    with pytest.raises(ValueError, match="eps-bounded attack"):
        robustness_curve(model, (x, y), "deepfool", [0.1])


def test_missing_torchattacks_names_the_no_deps_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from dltoolkit.robustness.attacks import import_torchattacks

    monkeypatch.setitem(sys.modules, "torchattacks", None)  # makes `import torchattacks` fail
    with pytest.raises(ImportError, match="pip install --no-deps torchattacks"):
        import_torchattacks()


def test_importing_the_package_is_light() -> None:
    code = "import sys, dltoolkit.robustness; print('torch' in sys.modules, 'torchattacks' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- adversarial training ------------------------------------------------------------------------


class Recording(pl.LightningModule):
    """A linear classifier on normalised 8x8 images that records what its training_step saw."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        self.seen: list[Tensor] = []
        self.modes: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch
        self.seen.append(x.detach().clone())
        self.modes.append(self.training and all(p.requires_grad for p in self.parameters()))
        return F.cross_entropy(self(x), y)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_adversarial_training_replaces_the_batch_within_eps(fast_trainer: Any, digits: Any) -> None:
    eps = 0.2
    model = Recording()
    # the data module's own normalisation is found through trainer.datamodule
    fast_trainer(fast_dev_run=1, callbacks=[AdversarialTraining(eps=eps, steps=3)]).fit(model, digits)
    clean, _ = next(iter(digits.train_dataloader()))  # seeded shuffle: the same first batch
    mean, std = data_normalization(digits)
    seen_pixels, clean_pixels = model.seen[0] * std[0] + mean[0], clean * std[0] + mean[0]
    delta = (seen_pixels - clean_pixels).abs()
    assert delta.max() <= eps + 1e-5 and delta.max() > eps / 2
    assert seen_pixels.min() >= -1e-5 and seen_pixels.max() <= 1 + 1e-5
    assert model.modes == [True]  # back in train mode with trainable weights for the real step


def test_adversarial_training_with_explicit_normalisation_and_tuple_batches(fast_trainer: Any) -> None:
    pixels = torch.rand(8, 1, 8, 8)
    mean, std = [0.3], [0.25]
    normalised = (pixels - mean[0]) / std[0]
    dataset = TensorDataset(normalised.clone(), torch.arange(8) % 10)
    loader = DataLoader(
        dataset,
        batch_size=8,
        collate_fn=lambda b: (
            torch.stack([x for x, _ in b]),
            torch.stack([y for _, y in b]),
        ),
    )
    model = Recording()
    callback = AdversarialTraining(eps=0.1, steps=2, mean=mean, std=std)
    fast_trainer(fast_dev_run=1, callbacks=[callback]).fit(model, loader)
    delta = (model.seen[0] * std[0] + mean[0] - pixels).abs()
    assert 0.05 < delta.max() <= 0.1 + 1e-5
    assert torch.equal(dataset.tensors[0], normalised)  # the data set itself is untouched
    with pytest.raises(ValueError, match="needs the data's normalisation"):
        fast_trainer(fast_dev_run=1, callbacks=[AdversarialTraining(eps=0.1)]).fit(Recording(), loader)
    with pytest.raises(ValueError, match="mean and std together"):
        AdversarialTraining(mean=[0.5])
    with pytest.raises(ValueError, match="eps must be"):
        AdversarialTraining(eps=0)
    assert AdversarialTraining(eps=0.3, warmup_epochs=2).current_eps(1.0) == pytest.approx(0.15)


# --- bit squeezing -------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 3, 8])
def test_bit_squeezing_keeps_two_to_the_bits_levels(bits: int) -> None:
    x = torch.linspace(0, 1, 1001)
    squeezed = squeeze_bits(x, bits)
    levels = torch.arange(2**bits) / (2**bits - 1)
    assert torch.allclose(torch.unique(squeezed), levels)
    assert (squeezed - x).abs().max() <= 0.5 / (2**bits - 1) + 1e-6  # rounds to the nearest level
    assert squeeze_bits(torch.tensor([0.49, 0.51]), 1).tolist() == [0.0, 1.0]


def test_bit_squeezing_masks_gradients_unless_straight_through() -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    x = torch.full((1, 1, 2, 2), 0.3, requires_grad=True)
    BitSqueezing(net, bits=2)(x).sum().backward()
    assert x.grad is not None and torch.count_nonzero(x.grad) == 0
    x.grad = None
    BitSqueezing(net, bits=2, straight_through=True)(x).sum().backward()
    assert x.grad is not None and torch.count_nonzero(x.grad) == 4
    for bits in (0, 9, 2.5):
        with pytest.raises(ValueError, match="bits must be an integer from 1 to 8"):
            BitSqueezing(net, bits=bits)


def test_evaluate_defence_reports_bit_squeezing_as_gradient_masking(
    trained: tuple[PixelSpaceModel, Tensor, Tensor],
) -> None:
    model, images, labels = trained
    report = evaluate_defence(BitSqueezing(model, bits=1), (images, labels), eps=0.3, square_queries=300)
    assert report.gradient_masking and "gradient masking" in report.verdict
    assert report.square_accuracy < report.pgd_accuracy - 0.05
    assert report.robust_accuracy <= report.square_accuracy
    honest = evaluate_defence(model, (images, labels), eps=0.3, square_queries=50)
    assert not honest.gradient_masking and honest.pgd_accuracy < 0.2

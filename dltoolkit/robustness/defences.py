"""Defences: PGD adversarial training (a Lightning callback) and bit-depth squeezing (a wrapper module).

    trainer = pl.Trainer(max_epochs=30, callbacks=[AdversarialTraining(eps=0.3, steps=7)])
    trainer.fit(create_model("lenet", data=dm), dm)        # mean/std read from the data module

    squeezed = BitSqueezing(PixelSpaceModel(model, mean, std), bits=1)   # rounds pixels to 2 levels

Adversarial training is a ``Callback`` rather than a mixin or a ``training_step`` override: it composes
with any catalog classifier (and any LightningModule taking ``(images, labels)`` batches) without a new
class, leaves the model's checkpoints and hyperparameters untouched, and is switched on or off in the
Trainer's callback list like early stopping. ``on_train_batch_start`` runs after the batch is on the
model's device and before ``training_step`` receives that same batch object, so replacing the images
there is all it takes; validation and test batches stay clean (``val/acc`` is clean accuracy).

Input transformations such as bit squeezing often only hide the gradient (rounding has zero gradient
almost everywhere): evaluate them with a gradient-free attack (``square``) besides PGD, or with
``straight_through=True`` (BPDA, Athalye et al. 2018); see ``evaluate_defence``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

from dltoolkit.robustness.attacks import attack_mode, build_attack
from dltoolkit.robustness.pixel import PixelSpaceModel, data_normalization


class AdversarialTraining(Callback):
    """PGD adversarial training (Madry et al., 2018): every training batch is replaced by PGD examples.

    The inner maximisation ``max_{‖δ‖∞ ≤ ε} L(f(x + δ), y)`` is torchattacks' PGD in pixel space (the
    batch is un-normalised, attacked in [0, 1], normalised again), with the model in eval mode so that
    BatchNorm statistics are not updated by the attack's probes; the outer minimisation is the model's
    own ``training_step`` on the returned batch.

    Args:
        eps: L∞ budget in [0, 1] pixel units.
        steps: PGD iterations per batch (each costs about one forward and backward pass).
        alpha: PGD step size (default ``2.5 · eps / steps``).
        mean: per-channel mean the data module normalises with (with ``std``); by default read from
            ``datamodule`` or the Trainer's data module (``data_normalization``).
        std: per-channel standard deviation, given together with ``mean``.
        datamodule: a dltoolkit image data module to read ``mean``/``std`` from.
        random_start: start PGD at a uniformly random point of the ε-ball (as Madry et al.).
        warmup_epochs: ramp ε linearly from 0 over this many epochs (helps small models converge).

    >>> trainer = pl.Trainer(max_epochs=30, callbacks=[AdversarialTraining(eps=0.3, steps=7)])
    """

    def __init__(
        self,
        eps: float = 0.3,
        steps: int = 7,
        alpha: float | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        datamodule: Any = None,
        random_start: bool = True,
        warmup_epochs: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not math.isfinite(eps) or eps <= 0:
            raise ValueError(f"eps must be a finite number > 0 (pixel units), got {eps!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if alpha is not None and not alpha > 0:
            raise ValueError(f"alpha must be positive, got {alpha!r}")
        if (mean is None) != (std is None):
            raise ValueError("give mean and std together (or neither, to read them from the data module)")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.eps, self.steps, self.alpha = float(eps), steps, alpha
        self.random_start, self.warmup_epochs = random_start, float(warmup_epochs)
        self.mean, self.std, self.datamodule = mean, std, datamodule
        self._pixel_model: PixelSpaceModel | None = None
        self._attack: Any = None

    def current_eps(self, epoch_progress: float) -> float:
        """ε after ``epoch_progress`` epochs (fractional): the linear warm-up, then ``eps``."""
        if self.warmup_epochs <= 0:
            return self.eps
        return self.eps * min(1.0, epoch_progress / self.warmup_epochs)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        mean, std = self.mean, self.std
        if mean is None or std is None:
            source = self.datamodule if self.datamodule is not None else getattr(trainer, "datamodule", None)
            if source is None:
                raise ValueError(
                    "AdversarialTraining needs the data's normalisation: pass mean= and std= "
                    "(or datamodule=), or fit with a dltoolkit data module"
                )
            mean, std = data_normalization(source)
        self._pixel_model = PixelSpaceModel(pl_module, mean, std)
        self._attack = None  # built on the first batch, once the model is on its device

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._pixel_model is None:
            raise RuntimeError("AdversarialTraining.setup did not run: use it as a Trainer callback")
        if not isinstance(batch, list | tuple) or len(batch) < 2 or not isinstance(batch[0], Tensor):
            raise TypeError(
                f"AdversarialTraining expects (images, labels) batches, got {type(batch).__name__}"
            )
        images, labels = batch[0], batch[1]
        pixel_model = self._pixel_model
        if pixel_model.mean.device != images.device:  # the model is already there; move mean/std once
            pixel_model.to(images.device)
        batches_per_epoch = max(1.0, float(trainer.num_training_batches))
        eps = self.current_eps(trainer.current_epoch + batch_idx / batches_per_epoch)
        if eps <= 0:
            return
        if self._attack is None:
            self._attack = build_attack(
                pixel_model, "pgd", eps, steps=self.steps, random_start=self.random_start
            )
        self._attack.eps = eps
        self._attack.alpha = self.alpha if self.alpha is not None else 2.5 * eps / self.steps
        self._attack.set_device(images.device)
        # the clamp only absorbs float error of the round trip (and out-of-box augmentation such as noise)
        clean = pixel_model.denormalize(images.detach()).clamp(0, 1)
        with attack_mode(pl_module), torch.enable_grad():
            adversarial = self._attack(clean, labels)
        adversarial = pixel_model.normalize(adversarial).to(images.dtype)
        if isinstance(batch, list):
            batch[0] = adversarial  # the very list object that training_step receives next
        else:
            # a tuple cannot be re-bound: write into the collated tensor, which is fresh for every batch
            images.copy_(adversarial)


def squeeze_bits(images: Tensor, bits: int) -> Tensor:
    """Round pixel values in [0, 1] to ``2**bits`` evenly spaced levels (Xu et al., 2018, feature squeezing).

    >>> squeeze_bits(torch.tensor([0.1, 0.4, 0.6, 0.9]), bits=1)
    tensor([0., 0., 1., 1.])
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"bits must be an integer from 1 to 8, got {bits!r}")
    levels = 2**bits - 1
    return torch.round(images.clamp(0, 1) * levels) / levels


class BitSqueezing(nn.Module):
    """Input-transformation defence: ``model(squeeze_bits(x, bits))`` for pixel images ``x`` in [0, 1].

    Rounding has zero gradient almost everywhere, so gradient attacks (FGSM, PGD) see a flat loss: a high
    PGD accuracy here is gradient masking unless a gradient-free attack (Square) agrees.
    ``straight_through=True`` passes gradients through the rounding as if it were the identity (BPDA,
    Athalye et al., 2018), the adaptive attack on this defence.

    Args:
        model: a pixel-space classifier (e.g. ``PixelSpaceModel``).
        bits: colour depth kept, 1 to 8 (1: black or white).
        straight_through: identity gradient through the rounding (for evaluating the defence).

    >>> defended = BitSqueezing(PixelSpaceModel(model, mean, std), bits=1)
    """

    def __init__(self, model: nn.Module, bits: int = 1, straight_through: bool = False) -> None:
        super().__init__()
        squeeze_bits(torch.zeros(1), bits)  # validates bits now, not at the first forward
        self.model, self.bits, self.straight_through = model, bits, straight_through

    def forward(self, x: Tensor) -> Tensor:
        squeezed = squeeze_bits(x, self.bits)
        if self.straight_through:
            squeezed = x + (squeezed - x).detach()  # forward: squeezed; backward: identity
        return self.model(squeezed)

"""The base of every image classifier: loss, metrics, optimiser and schedule as hyperparameters.

A subclass builds ``self.net`` (a module mapping ``(B, *input_shape)`` to logits ``(B, num_classes)``)
and nothing else; the training, validation and test steps, the logged metric names
(``train/loss``, ``val/loss``, ``val/acc``, ``test/acc`` …) and ``configure_optimizers`` are here::

    class Linear(ImageClassifier):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(self.input_shape), self.num_classes))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from dltoolkit.training.losses import LossName, build_loss
from dltoolkit.training.optim import OptimizerName, ScheduleName, build_optimizer, build_schedule


class ImageClassifier(pl.LightningModule):
    """Image classifier base.

    Args:
        input_shape: ``(C, H, W)`` of one input image (set from the data module by the CLI).
        num_classes: number of classes (set from the data module by the CLI).
        loss: ``cross_entropy``, ``mse`` (on softmax probabilities) or ``nll``.
        label_smoothing: ε of label smoothing, in [0, 1).
        optimizer: ``sgd``, ``adam``, ``adamw`` or ``rmsprop``.
        lr: learning rate (the peak rate for ``onecycle``).
        weight_decay: L2 penalty (decoupled for ``adamw``).
        momentum: momentum of SGD and RMSprop.
        nesterov: Nesterov momentum for SGD.
        scheduler: learning-rate schedule: ``none``, ``step``, ``cosine``, ``onecycle`` or ``plateau``.
        warmup_epochs: epochs of linear warm-up before the schedule.
        step_epochs: epochs between decays for ``step`` (and twice the patience for ``plateau``).
        gamma: decay factor for ``step`` and ``plateau``.
        early_stopping_patience: stop after this many epochs without a better ``val/loss`` (0: never).
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 8, 8),
        num_classes: int = 10,
        loss: LossName = "cross_entropy",
        label_smoothing: float = 0.0,
        optimizer: OptimizerName = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        nesterov: bool = False,
        scheduler: ScheduleName = "none",
        warmup_epochs: float = 0.0,
        step_epochs: int = 10,
        gamma: float = 0.1,
        early_stopping_patience: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()  # collects the subclass's __init__ arguments too
        self.input_shape = tuple(int(d) for d in input_shape)
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be (C, H, W) with positive sizes, got {tuple(input_shape)}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = num_classes
        self.criterion = build_loss(loss, label_smoothing)
        self.example_input_array = torch.zeros(2, *self.input_shape)
        # one metric object per stage: torchmetrics accumulates over the epoch, no mixing of stages
        # one metric object per stage, so stages never mix; the loss already checks the labels, so
        # torchmetrics' own per-batch argument validation is skipped
        for stage in ("train", "val", "test"):
            setattr(
                self, f"{stage}_acc", MulticlassAccuracy(num_classes, average="micro", validate_args=False)
            )
            setattr(self, f"{stage}_loss", MeanMetric())
        self.net: nn.Module = nn.Identity()  # replaced by the subclass

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` of images ``(B, C, H, W)``; a wrong shape is a ``ValueError``."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (B, {', '.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}"
            )
        return self.net(x)

    def _shared_step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = self.criterion(logits, y)
        # Epoch values accumulate in torchmetrics objects, logged once an epoch (see below): a
        # `self.log` call costs about a millisecond on CPU, a third of a small model's whole step.
        getattr(self, f"{stage}_acc").update(logits.detach(), y)
        getattr(self, f"{stage}_loss").update(loss.detach(), weight=len(y))
        every: int = getattr(self.trainer, "log_every_n_steps", 50)  # set by the Trainer at run time
        if stage == "train" and (self.global_step + 1) % max(1, every) == 0:
            # step values only where the logger writes them anyway (Trainer's log_every_n_steps)
            self.log("train/loss", loss, prog_bar=True)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._shared_step(batch, "test")

    def _log_epoch(self, stage: str, loss_name: str) -> None:
        # logging a Metric object: Lightning computes it, logs it and resets it for the next epoch
        self.log(loss_name, getattr(self, f"{stage}_loss"), prog_bar=stage == "val")
        self.log(f"{stage}/acc", getattr(self, f"{stage}_acc"), prog_bar=stage == "val")

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train", "train/loss_epoch")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", "val/loss")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", "test/loss")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return self(x).softmax(-1)

    def configure_optimizers(self) -> Any:
        hp: Any = self.hparams  # an AttributeDict of the __init__ arguments
        opt = build_optimizer(
            self.parameters(), hp.optimizer, hp.lr, hp.weight_decay, hp.momentum, hp.nesterov
        )
        total = int(self.trainer.estimated_stepping_batches)
        epochs = max(1, self.trainer.max_epochs or 1)
        schedule = build_schedule(
            opt,
            hp.scheduler,
            total_steps=total,
            steps_per_epoch=max(1, total // epochs),
            warmup_epochs=hp.warmup_epochs,
            step_epochs=hp.step_epochs,
            gamma=hp.gamma,
        )
        return opt if schedule is None else {"optimizer": opt, "lr_scheduler": schedule}

    def configure_callbacks(self) -> list[Callback]:
        patience: int = self.hparams["early_stopping_patience"]
        if patience > 0:
            return [EarlyStopping("val/loss", patience=patience)]
        return []

    def on_fit_start(self) -> None:
        n = sum(p.numel() for p in self.parameters())
        if not getattr(self.trainer, "fast_dev_run", False):
            self.print(f"{type(self).__name__}: {n / 1e3:.1f}k parameters")

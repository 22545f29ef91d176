"""A small tabular classifier (logistic regression or MLP) whose loss takes per-sample weights.

    model = TabularClassifier(in_features=dm.in_features)          # logistic regression
    model = TabularClassifier(in_features=4, hidden_sizes=(32,))    # one hidden layer
    pl.Trainer(max_epochs=20).fit(model, TabularFairnessDataModule(reweigh=True))

Batches are ``(x, y, a)`` or ``(x, y, a, w)``: with weights the training loss is the weighted cross-entropy
``mean_i(w_i · CE_i)`` (reweighing, Kamiran & Calders 2012, see ``dltoolkit.fairness.mitigation``).
Besides ``val/loss`` and ``val/acc`` it logs the fairness gaps of its thresholded predictions on the
validation and test data, ``val/dp_diff`` and ``val/eo_diff`` (definitions in ``dltoolkit.fairness.metrics``),
from torchmetrics' per-group confusion counts.

The catalog's MLP is an image classifier (``(B, C, H, W)`` input), hence this model; it is not registered
in the catalog (its data module is not a catalog data set either).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryGroupStatRates, MulticlassAccuracy

from dltoolkit.training.optim import OptimizerName, build_optimizer


class TabularClassifier(pl.LightningModule):
    """Logistic regression (no hidden layer) or an MLP on feature vectors, trained with an optional
    per-sample weighted loss.

    Args:
        in_features: features per sample (``TabularFairnessDataModule.in_features``).
        num_classes: classes (2 for the fairness metrics logged during training).
        hidden_sizes: widths of the hidden layers; empty: logistic regression.
        num_groups: values of the sensitive attribute, coded ``0 .. num_groups - 1``.
        optimizer: ``sgd``, ``adam``, ``adamw`` or ``rmsprop``.
        lr: learning rate.
        weight_decay: L2 penalty.
    """

    def __init__(
        self,
        in_features: int = 4,
        num_classes: int = 2,
        hidden_sizes: Sequence[int] = (),
        num_groups: int = 2,
        optimizer: OptimizerName = "adam",
        lr: float = 0.01,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if in_features < 1 or num_classes < 2 or num_groups < 2:
            raise ValueError(
                "in_features must be ≥ 1, num_classes ≥ 2 and num_groups ≥ 2, "
                f"got {in_features}, {num_classes} and {num_groups}"
            )
        if any(h < 1 for h in hidden_sizes):
            raise ValueError(f"hidden_sizes must be positive, got {list(hidden_sizes)}")
        self.in_features, self.num_classes = in_features, num_classes
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden_sizes:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, num_classes))  # (B, F) -> (B, K)
        self.example_input_array = torch.zeros(2, in_features)
        for stage in ("val", "test"):
            setattr(
                self, f"{stage}_acc", MulticlassAccuracy(num_classes, average="micro", validate_args=False)
            )
            setattr(self, f"{stage}_loss", MeanMetric())
            if num_classes == 2:  # per-group confusion counts, for the fairness gaps
                setattr(self, f"{stage}_groups", BinaryGroupStatRates(num_groups, validate_args=False))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` of features ``(B, in_features)``."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"TabularClassifier expects input of shape (B, {self.in_features}), got {tuple(x.shape)}"
            )
        return self.net(x)

    def training_step(self, batch: Sequence[Tensor], batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        per_sample = F.cross_entropy(self(x), y, reduction="none")  # (B,)
        # reweighing: the weights average 1 over the training set, so the mean keeps the loss's scale
        loss = (batch[3] * per_sample).mean() if len(batch) > 3 else per_sample.mean()
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def _eval_step(self, batch: Sequence[Tensor], stage: str) -> None:
        x, y, a = batch[0], batch[1], batch[2]
        logits = self(x)
        getattr(self, f"{stage}_loss").update(F.cross_entropy(logits, y), weight=len(y))
        getattr(self, f"{stage}_acc").update(logits, y)
        if self.num_classes == 2:
            getattr(self, f"{stage}_groups").update(logits.softmax(-1)[:, 1], y, a)

    def _log_epoch(self, stage: str) -> None:
        self.log(f"{stage}/loss", getattr(self, f"{stage}_loss"), prog_bar=stage == "val")
        self.log(f"{stage}/acc", getattr(self, f"{stage}_acc"), prog_bar=stage == "val")
        if self.num_classes != 2:
            return
        metric = getattr(self, f"{stage}_groups")
        rates = torch.stack(list(metric.compute().values()))  # (G, 4): shares of tp, fp, tn, fn per group
        metric.reset()
        tp, fp, tn, fn = rates.unbind(-1)
        selection = tp + fp  # P(ŷ=1 | A=a)
        tpr, fpr = tp / (tp + fn), fp / (fp + tn)  # NaN for a group without positives (negatives)
        self.log(f"{stage}/dp_diff", selection.max() - selection.min())
        self.log(f"{stage}/eo_diff", torch.maximum(tpr.max() - tpr.min(), fpr.max() - fpr.min()))

    def validation_step(self, batch: Sequence[Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: Sequence[Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        """Class probabilities ``(B, num_classes)``; the batch may carry labels and groups after ``x``."""
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return self(x).softmax(-1)

    def configure_optimizers(self) -> Any:
        hp: Any = self.hparams
        return build_optimizer(self.parameters(), hp.optimizer, hp.lr, hp.weight_decay)

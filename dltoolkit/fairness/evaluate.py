"""Run a trained (Lightning) classifier over data that carries a sensitive attribute and report its fairness.

    report = evaluate_fairness(model, dm)                      # the data module's test split
    report = evaluate_fairness(model, loader, thresholds=post) # any DataLoader of (x, y, a, ...) batches
    print(report.table())

The predictions come from Lightning's ``Trainer.predict`` (the model's own ``predict_step``, which must
return class probabilities ``(B, K)``, as ``TabularClassifier`` and the catalog's ``ImageClassifier`` do,
reading ``x`` from ``batch[0]``); the labels and groups from the same loader, which therefore must not
shuffle.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, SequentialSampler

from dltoolkit.fairness.metrics import FairnessReport, group_metrics
from dltoolkit.fairness.mitigation import GroupThresholds

STAGES = ("train", "val", "test")


def _loader(data: DataLoader | pl.LightningDataModule, stage: str) -> DataLoader:
    if isinstance(data, DataLoader):
        loader = data
    elif isinstance(data, pl.LightningDataModule):
        if stage not in STAGES:
            from dltoolkit.catalog import unknown_name

            raise unknown_name("stage", stage, list(STAGES))
        data.setup("fit" if stage != "test" else "test")
        loader = {"train": data.train_dataloader, "val": data.val_dataloader, "test": data.test_dataloader}[
            stage
        ]()
    else:
        raise TypeError(f"data must be a DataLoader or a LightningDataModule, got {type(data).__name__}")
    if not isinstance(loader.sampler, SequentialSampler):
        # the predictions and the (label, group) pairs are read in two passes: they must line up
        raise ValueError(f"the {stage!r} loader shuffles; pass a loader with shuffle=False")
    return loader


def predict_with_groups(
    model: pl.LightningModule,
    data: DataLoader | pl.LightningDataModule,
    stage: str = "test",
    trainer: pl.Trainer | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(y_true (N,), class probabilities (N, K), sensitive (N,))`` of ``model`` on ``data``.

    ``data`` is a DataLoader, or a data module whose ``stage`` split (``train``, ``val``, ``test``) is read;
    its batches are ``(x, y, a, ...)``.

    >>> y, prob, a = predict_with_groups(model, dm, "val")
    """
    loader = _loader(data, stage)
    labels, groups = [], []
    for batch in loader:
        if not isinstance(batch, list | tuple) or len(batch) < 3:
            raise ValueError(
                "batches must be (features, label, sensitive, ...): the loader yields no sensitive attribute"
            )
        labels.append(torch.as_tensor(batch[1]).reshape(-1))
        groups.append(torch.as_tensor(batch[2]).reshape(-1))
    trainer = trainer or pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    outputs: Any = trainer.predict(model, dataloaders=loader)
    prob = torch.cat([torch.as_tensor(o) for o in outputs]).float()
    if prob.ndim != 2:
        raise ValueError(
            f"the model's predict_step must return class probabilities (B, K), got shape {tuple(prob.shape)}"
        )
    return torch.cat(labels).numpy(), prob.numpy(), torch.cat(groups).numpy()


def evaluate_fairness(
    model: pl.LightningModule,
    data: DataLoader | pl.LightningDataModule,
    *,
    stage: str = "test",
    thresholds: GroupThresholds | None = None,
    pos_label: Hashable | None = None,
    n_bins: int = 10,
    trainer: pl.Trainer | None = None,
) -> FairnessReport:
    """``group_metrics`` of ``model``'s predictions on ``data`` (a DataLoader or a data module's ``stage``).

    Predictions are the argmax class, or with ``thresholds`` (binary models) the per-group decisions
    ``1[P(y=1) ≥ thresholds[a]]``. With ``pos_label`` a multiclass model is measured one-vs-rest.

    >>> print(evaluate_fairness(model, dm, stage="test").table())
    """
    y, prob, a = predict_with_groups(model, data, stage, trainer)
    pred = prob.argmax(1) if thresholds is None else thresholds.predict(prob, a, pos_label)
    return group_metrics(y, pred, a, prob, pos_label=pos_label, n_bins=n_bins)

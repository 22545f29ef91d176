"""A synthetic hiring data set with a sensitive attribute and historically biased labels, and its data module.

    data = make_hiring_data(4000, seed=0)            # numpy arrays: features, labels, sensitive, qualified
    dm = TabularFairnessDataModule(seed=0)           # Lightning: batches (x, y, a), or (x, y, a, w) reweighed
    dm.setup("fit"); x, y, a = next(iter(dm.val_dataloader()))

No data set with a sensitive attribute ships offline here, so the bias is generated, with a process one
can read and vary (``make_hiring_data``'s docstring): both groups are equally qualified, the labels are
not, and one feature is a proxy of the group, so a model that never sees the attribute still learns the
historical bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from dltoolkit.data.base import SplitLoaders
from dltoolkit.fairness.mitigation import reweighing_weights

GROUP_NAMES = ("majority", "minority")
FEATURE_NAMES = ("test_score", "experience", "postcode", "noise")


@dataclass(frozen=True)
class HiringData:
    """The arrays of ``make_hiring_data``: ``N`` applicants, ``D`` features.

    ``labels`` are the historical (biased) hiring decisions a model is trained on; ``qualified`` the
    decisions an unbiased process would have made from the same latent qualification and noise.
    """

    features: np.ndarray  # (N, D) float32, raw (not standardised)
    labels: np.ndarray  # (N,) int64: hired (1) or not (0), historically
    sensitive: np.ndarray  # (N,) int64: 0 majority, 1 minority
    qualified: np.ndarray  # (N,) int64: hired without the bias
    feature_names: tuple[str, ...] = FEATURE_NAMES
    group_names: tuple[str, ...] = GROUP_NAMES

    def __len__(self) -> int:
        return len(self.labels)


def make_hiring_data(
    n_samples: int = 4000,
    *,
    bias: float = 1.0,
    proxy_strength: float = 2.0,
    minority_fraction: float = 0.4,
    include_sensitive: bool = False,
    seed: int = 0,
) -> HiringData:
    """Generate ``n_samples`` applicants, deterministically for a given ``seed``.

    The generating process (``rng = numpy.random.default_rng(seed)``), per applicant:

    1. group ``A ~ Bernoulli(minority_fraction)``: 1 is the minority, the group the history is biased against;
    2. latent qualification ``Q ~ N(0, 1)``, independent of ``A``: both groups are equally qualified;
    3. features (what the model sees):
       ``test_score = Q + N(0, 0.5²)``, ``experience = 0.6·Q + N(0, 0.8²)`` (informative, independent of A),
       ``postcode = proxy_strength·A + N(0, 1)`` (a proxy: carries the group, nothing of Q),
       ``noise = N(0, 1)``; plus ``A`` itself as a last column when ``include_sensitive``;
    4. ``qualified = 1[Q + ε > 0]`` with ``ε ~ N(0, 0.5²)``: the unbiased decision (selection rate ½ in
       both groups);
    5. ``labels = 1[Q + ε - bias·A > 0]`` (same ε): the historical decisions held the minority to a bar
       ``bias`` standard deviations of Q higher. With ``bias = 1`` the selection rate of the labels is
       ½ for the majority and ``P(N(0, 1.25) > 1) ≈ 0.19`` for the minority.

    >>> data = make_hiring_data(1000, seed=0)
    >>> rate = {a: data.labels[data.sensitive == a].mean().round(2) for a in (0, 1)}
    >>> data.features.shape, bool(rate[1] < rate[0])
    ((1000, 4), True)
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    if not 0.0 < minority_fraction < 1.0:
        raise ValueError(f"minority_fraction must be in (0, 1), got {minority_fraction}")
    if bias < 0 or proxy_strength < 0:
        raise ValueError(f"bias and proxy_strength must be non-negative, got {bias} and {proxy_strength}")
    rng = np.random.default_rng(seed)
    group = (rng.random(n_samples) < minority_fraction).astype(np.int64)  # (N,)
    quality = rng.standard_normal(n_samples)
    test_score = quality + 0.5 * rng.standard_normal(n_samples)
    experience = 0.6 * quality + 0.8 * rng.standard_normal(n_samples)
    postcode = proxy_strength * group + rng.standard_normal(n_samples)
    noise = rng.standard_normal(n_samples)
    columns = [test_score, experience, postcode, noise]
    names: tuple[str, ...] = FEATURE_NAMES
    if include_sensitive:
        columns.append(group.astype(float))
        names = (*FEATURE_NAMES, "group")
    merit = quality + 0.5 * rng.standard_normal(n_samples)
    return HiringData(
        features=np.stack(columns, axis=1).astype(np.float32),  # (N, D)
        labels=(merit - bias * group > 0).astype(np.int64),
        sensitive=group,
        qualified=(merit > 0).astype(np.int64),
        feature_names=names,
    )


class FairnessDataset(Dataset):
    """Rows ``(features (D,), label, sensitive)``, or ``(…, weight)`` when ``weights`` is given."""

    def __init__(
        self, features: Tensor, labels: Tensor, sensitive: Tensor, weights: Tensor | None = None
    ) -> None:
        n = len(features)
        for name, t in (("labels", labels), ("sensitive", sensitive), ("weights", weights)):
            if t is not None and len(t) != n:
                raise ValueError(f"{n} feature rows but {len(t)} {name}")
        self.features, self.labels, self.sensitive, self.weights = features, labels, sensitive, weights

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> tuple[Tensor, ...]:
        row = (self.features[i], self.labels[i], self.sensitive[i])
        return row if self.weights is None else (*row, self.weights[i])


class TabularFairnessDataModule(SplitLoaders, pl.LightningDataModule):
    """The synthetic hiring data (``make_hiring_data``), split, standardised and batched as ``(x, y, a)``.

    With ``reweigh=True`` training batches are ``(x, y, a, w)`` with Kamiran & Calders' reweighing weights
    ``w(a, y) = P(a)·P(y) / P(a, y)`` measured on the training split (``reweighing_weights``); validation
    and test batches stay unweighted, so they measure the real distribution.

    Args:
        n_samples: applicants generated (before the split).
        bias: how much higher the historical bar was for the minority (standard deviations of Q).
        proxy_strength: how strongly ``postcode`` reveals the group.
        minority_fraction: share of the minority group.
        include_sensitive: give the model the attribute itself as a feature (by default only the proxy).
        reweigh: add reweighing weights to the training batches.
        batch_size: samples per batch.
        val_fraction: share held out for validation.
        test_fraction: share held out for testing.
        seed: seed of the data and of the splits.
        num_workers: data-loading worker processes.
    """

    def __init__(
        self,
        n_samples: int = 4000,
        bias: float = 1.0,
        proxy_strength: float = 2.0,
        minority_fraction: float = 0.4,
        include_sensitive: bool = False,
        reweigh: bool = False,
        batch_size: int = 128,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if not (
            0.0 < val_fraction < 1.0 and 0.0 < test_fraction < 1.0 and val_fraction + test_fraction < 1.0
        ):
            raise ValueError(
                "val_fraction and test_fraction must be in (0, 1) with a sum below 1, "
                f"got {val_fraction} and {test_fraction}"
            )
        self.save_hyperparameters()
        self.data = make_hiring_data(
            n_samples,
            bias=bias,
            proxy_strength=proxy_strength,
            minority_fraction=minority_fraction,
            include_sensitive=include_sensitive,
            seed=seed,
        )
        self.reweigh, self.batch_size, self.seed, self.num_workers = reweigh, batch_size, seed, num_workers
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.splits: dict[str, np.ndarray] = {}  # stage -> row indices into self.data
        self.train_set: FairnessDataset | None = None
        self.val_set: FairnessDataset | None = None
        self.test_set: FairnessDataset | None = None

    @property
    def in_features(self) -> int:
        return int(self.data.features.shape[1])

    @property
    def num_groups(self) -> int:
        return len(self.data.group_names)

    @property
    def group_names(self) -> tuple[str, ...]:
        return self.data.group_names

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        n = len(self.data)
        order = np.random.default_rng([self.seed, 1]).permutation(n)  # its own stream: data stays unchanged
        n_test, n_val = round(n * self.test_fraction), round(n * self.val_fraction)
        self.splits = {
            "test": order[:n_test],
            "val": order[n_test : n_test + n_val],
            "train": order[n_test + n_val :],
        }
        train = self.splits["train"]
        # standardise with the training split's statistics only
        mean = self.data.features[train].mean(axis=0)
        std = self.data.features[train].std(axis=0).clip(min=1e-6)
        features = torch.from_numpy((self.data.features - mean) / std).float()
        labels, sensitive = torch.from_numpy(self.data.labels), torch.from_numpy(self.data.sensitive)

        def subset(rows: np.ndarray, weighted: bool = False) -> FairnessDataset:
            index = torch.from_numpy(rows)
            weights = None
            if weighted:
                weights = torch.from_numpy(
                    reweighing_weights(self.data.labels[rows], self.data.sensitive[rows])
                )
            return FairnessDataset(features[index], labels[index], sensitive[index], weights)

        self.train_set = subset(train, weighted=self.reweigh)
        self.val_set = subset(self.splits["val"])
        self.test_set = subset(self.splits["test"])

    def split_arrays(self, stage: str) -> HiringData:
        """The raw arrays of one split (``train``, ``val`` or ``test``), after ``setup``."""
        if stage not in ("train", "val", "test"):
            from dltoolkit.catalog import unknown_name

            raise unknown_name("split", stage, ["train", "val", "test"])
        if not self.splits:
            raise RuntimeError("call setup() before asking for a split")
        rows = self.splits[stage]
        d = self.data
        return HiringData(
            d.features[rows],
            d.labels[rows],
            d.sensitive[rows],
            d.qualified[rows],
            d.feature_names,
            d.group_names,
        )

    def describe(self) -> dict[str, Any]:
        """Features, groups, split sizes and each split's label selection rate per group (after ``setup``)."""
        info: dict[str, Any] = {"features": list(self.data.feature_names), "groups": list(self.group_names)}
        for stage, rows in self.splits.items():
            y, a = self.data.labels[rows], self.data.sensitive[rows]
            info[stage] = {
                "size": len(rows),
                "label_rate": {g: float(y[a == i].mean()) for i, g in enumerate(self.group_names)},
            }
        return info

"""Two bias mitigations: reweighing before training, per-group thresholds after it (numpy only).

    w = reweighing_weights(y_train, a_train)            # one weight per sample, for a weighted loss
    post = GroupThresholds.fit(y_val, p_val, a_val)     # thresholds that equalise selection rates
    y_hat = post.predict(p_test, a_test)

*Reweighing* (Kamiran & Calders, 2012, "Data preprocessing techniques for classification without
discrimination", Knowledge and Information Systems 33(1)) gives every sample of group a and label y the
weight ``w(a, y) = P(A=a)·P(Y=y) / P(A=a, Y=y)``: under those weights the label is independent of the group
(``P_w(a, y) = P(a)·P(y)``) while each group keeps its size and each label its frequency. A model trained
with the weighted loss ``Σ_i w_i·loss_i`` no longer profits from predicting the group.

*Group thresholds* post-process a trained model's probabilities with one threshold per group, chosen on
validation data so that every group gets the same selection rate (demographic parity) or the same
true-positive rate (equal opportunity, Hardt, Price & Srebro, 2016). Unlike Hardt et al.'s optimal
post-processing they are deterministic (no randomised mixing), so the equality holds up to ties and to
the difference between validation and test data. They use the attribute at decision time, which is
disparate treatment: lawful in some settings, not in others.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from dltoolkit.fairness.metrics import (
    ArrayLike,
    _binarize,
    _check_1d,
    _groups,
    _positive_probability,
    as_numpy,
)

Criterion = Literal["demographic_parity", "equal_opportunity"]
CRITERIA: tuple[str, ...] = ("demographic_parity", "equal_opportunity")


def reweighing_table(labels: ArrayLike, sensitive: ArrayLike) -> dict[tuple[Any, Any], float]:
    """``w(a, y) = P(A=a)·P(Y=y) / P(A=a, Y=y)`` for every (group, label) pair that occurs.

    Labels may be any classes (not only 0/1); pairs that never occur have no weight (no sample needs it).

    >>> reweighing_table([1, 1, 0, 0, 0, 0], ["a", "a", "a", "b", "b", "b"])  # P(a)=P(b)=½, P(y=1)=⅓
    {('a', 0): 2.0, ('a', 1): 0.5, ('b', 0): 0.6666666666666666}
    """
    y = _check_1d(as_numpy(labels, "labels"), "labels")
    attr, groups = _groups(sensitive, len(y))
    classes = [c.item() if isinstance(c, np.generic) else c for c in np.unique(y)]
    table = {}
    for a in groups:
        p_a = float(np.mean(attr == a))
        for c in classes:
            p_ay = float(np.mean((attr == a) & (y == c)))
            if p_ay > 0:
                table[(a, c)] = p_a * float(np.mean(y == c)) / p_ay
    return table


def reweighing_weights(labels: ArrayLike, sensitive: ArrayLike) -> np.ndarray:
    """Each sample's reweighing weight ``w(a_i, y_i)`` (float32, mean 1 over the samples).

    >>> reweighing_weights([1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1]).tolist()
    [0.5, 0.5, 2.0, 0.6666666865348816, 0.6666666865348816, 0.6666666865348816]
    """
    y = as_numpy(labels, "labels")
    attr = as_numpy(sensitive, "sensitive")
    table = reweighing_table(y, attr)
    keys = zip(attr.tolist(), y.tolist(), strict=True)
    return np.array([table[key] for key in keys], dtype=np.float32)


def _threshold_for_rate(scores: np.ndarray, rate: float) -> float:
    """A threshold t such that the share of ``scores >= t`` is as close to ``rate`` as ties allow."""
    ranked = np.sort(scores)[::-1]  # descending
    k = round(rate * len(ranked))  # how many to select
    if k <= 0:
        return float(np.nextafter(ranked[0], np.inf))  # just above the best: nobody selected
    if k >= len(ranked):
        return float(ranked[-1])
    return float((ranked[k - 1] + ranked[k]) / 2)  # between the k-th and the (k+1)-th


@dataclass(frozen=True)
class GroupThresholds:
    """One decision threshold per group: ``ŷ = 1[p ≥ thresholds[a]]``.

    ``fit`` chooses them on held-out data; ``predict`` applies them. ``target`` is the selection rate
    (``demographic_parity``) or true-positive rate (``equal_opportunity``) every group is brought to.
    """

    thresholds: dict[Any, float]
    criterion: Criterion = "demographic_parity"
    target: float = field(default=float("nan"))

    @classmethod
    def fit(
        cls,
        y_true: ArrayLike,
        y_prob: ArrayLike,
        sensitive: ArrayLike,
        criterion: Criterion = "demographic_parity",
        target: float | None = None,
        pos_label: Hashable | None = None,
    ) -> GroupThresholds:
        """Thresholds that give every group the same selection rate or TPR on this (validation) data.

        Args:
            y_true: labels ``(N,)`` (0/1 unless ``pos_label``; only ``equal_opportunity`` reads them).
            y_prob: probability of the positive class ``(N,)`` or class probabilities ``(N, K)``.
            sensitive: the group of each sample ``(N,)``.
            criterion: ``demographic_parity`` (equal selection rates) or ``equal_opportunity`` (equal TPRs).
            target: the common rate; default: the overall rate at threshold 0.5 on this data, so the
                number of people selected stays about what the model selected.
            pos_label: the positive class, for a multiclass model (one-vs-rest).

        >>> post = GroupThresholds.fit([1, 0, 1, 0], [0.9, 0.6, 0.4, 0.2], ["a", "a", "b", "b"])
        >>> post.predict([0.9, 0.6, 0.4, 0.2], ["a", "a", "b", "b"]).tolist()
        [1, 0, 1, 0]
        """
        if criterion not in CRITERIA:
            from dltoolkit.catalog import unknown_name

            raise unknown_name("criterion", criterion, list(CRITERIA))
        truth = _binarize(_check_1d(as_numpy(y_true, "y_true"), "y_true"), "y_true", pos_label)
        prob = _positive_probability(y_prob, len(truth), pos_label)
        attr, groups = _groups(sensitive, len(truth))
        if criterion == "equal_opportunity":
            without = [g for g in groups if not (truth & (attr == g)).any()]
            if without:
                raise ValueError(f"groups {without} have no positive labels: their TPR cannot be equalised")
        if target is None:
            chosen = prob >= 0.5
            target = float(chosen.mean() if criterion == "demographic_parity" else chosen[truth].mean())
        if not 0.0 <= target <= 1.0:
            raise ValueError(f"target must be a rate in [0, 1], got {target}")
        thresholds = {}
        for g in groups:
            mine = attr == g
            # demographic parity ranks everyone in the group; equal opportunity only its positives
            scores = prob[mine] if criterion == "demographic_parity" else prob[mine & truth]
            thresholds[g] = _threshold_for_rate(scores, target)
        return cls(thresholds=thresholds, criterion=criterion, target=target)

    def predict(
        self, y_prob: ArrayLike, sensitive: ArrayLike, pos_label: Hashable | None = None
    ) -> np.ndarray:
        """0/1 decisions ``1[p ≥ thresholds[a]]`` (int64); a group not seen by ``fit`` is a ``ValueError``."""
        attr = _check_1d(as_numpy(sensitive, "sensitive"), "sensitive")
        prob = _positive_probability(y_prob, len(attr), pos_label)
        unknown = sorted(
            {g.item() if isinstance(g, np.generic) else g for g in np.unique(attr)} - set(self.thresholds),
            key=str,
        )
        if unknown:
            raise ValueError(f"no threshold for groups {unknown}; fitted groups: {list(self.thresholds)}")
        cut = np.array([self.thresholds[g] for g in attr.tolist()])
        return (prob >= cut).astype(np.int64)

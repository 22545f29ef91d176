"""Group-fairness metrics of any classifier's predictions, given a sensitive attribute (numpy only).

    report = group_metrics(y_true, y_pred, sensitive, y_prob=p)   # arrays, lists or tensors
    print(report.table())                                           # one row per group, then the gaps
    report.demographic_parity_difference, report.equalized_odds_difference

Definitions (``ŷ`` the prediction, ``y`` the label, ``A`` the sensitive attribute, ``a`` one of its values;
the differences are fairlearn's ``between_groups`` definitions, max - min over the groups):

* selection rate of group a: ``P(ŷ = 1 | A = a)``;
* demographic parity difference: ``max_a P(ŷ=1|A=a) - min_a P(ŷ=1|A=a)`` (0: every group selected alike);
* true/false-positive rate of group a: ``P(ŷ=1 | Y=1, A=a)`` and ``P(ŷ=1 | Y=0, A=a)``;
* equalized odds difference: ``max(TPR gap, FPR gap)``, each gap max - min over the groups. Equalized
  odds (Hardt, Price & Srebro, 2016, "Equality of Opportunity in Supervised Learning") asks ŷ ⟂ A | Y,
  i.e. both gaps zero; fairlearn's ``equalized_odds_difference`` reports the larger gap, as here;
* expected calibration error (ECE) of group a: with ``n_bins`` equal-width bins of the predicted
  probability of the positive class, ``Σ_b (n_b / n) · |mean(1[y = 1] in b) - mean(p in b)|`` (Naeini et
  al., 2015; Guo et al., 2017). Bin b holds ``p`` in ``[b/n_bins, (b+1)/n_bins)``, the last bin also p = 1.
  This is the calibration of ``P(y = positive)``, not of the top-label confidence: for a binary
  classifier the two differ and this one is the one whose reliability diagram compares groups.

Labels must be binary, 0/1 (or booleans), unless ``pos_label`` names the positive class: then every
binary metric is one-vs-rest for that class (``y == pos_label`` against the rest) while ``accuracy`` stays
the plain multiclass accuracy ``mean(ŷ == y)``. ``y_prob`` is the probability of the positive class
``(N,)``, or a matrix of class probabilities ``(N, K)`` whose column ``pos_label`` (1 by default, for
``K = 2``) is used.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ArrayLike = Any  # a numpy array, a list or a torch tensor: converted by ``as_numpy``


def as_numpy(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` (numpy array, list, tuple or torch tensor) as a numpy array; a tensor is detached first."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor, without importing torch
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a 1-D sequence, got {type(values).__name__}: {exc}") from exc
    if array.dtype == object and array.ndim == 1 and any(isinstance(v, list | tuple) for v in array):
        raise ValueError(f"{name} must be a 1-D sequence of scalars, got nested sequences")
    return array


def _check_1d(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per sample), got shape {array.shape}")
    if len(array) == 0:
        raise ValueError(f"{name} is empty")
    return array


def _binarize(labels: np.ndarray, name: str, pos_label: Hashable | None) -> np.ndarray:
    """``labels == pos_label``, or the 0/1 labels as booleans when ``pos_label`` is None (checked)."""
    if pos_label is not None:
        return np.asarray(labels == pos_label, dtype=bool)
    values = set(np.unique(labels).tolist())
    if not values <= {0, 1}:  # True == 1 and False == 0, so booleans pass too
        shown = sorted(values, key=str)[:6]
        raise ValueError(
            f"{name} must be binary (0/1) for this metric, got values {shown}; "
            "pass pos_label=<class> for one-vs-rest metrics of a multiclass problem"
        )
    return np.asarray(labels, dtype=float) == 1.0


def _positive_probability(y_prob: ArrayLike, n: int, pos_label: Hashable | None) -> np.ndarray:
    """The probability of the positive class ``(N,)`` from ``(N,)`` or ``(N, K)`` input, checked."""
    prob = as_numpy(y_prob, "y_prob")
    if prob.dtype.kind not in "biuf":
        raise ValueError(f"y_prob must be numeric probabilities, got dtype {prob.dtype}")
    if prob.ndim == 2:
        k = prob.shape[1]
        if pos_label is None:
            if k != 2:
                raise ValueError(
                    f"y_prob has {k} columns: pass pos_label=<class index> to take that class's column"
                )
            column = 1
        elif isinstance(pos_label, int | np.integer) and 0 <= int(pos_label) < k:
            column = int(pos_label)
        else:
            raise ValueError(f"pos_label must be a column index of y_prob (0..{k - 1}), got {pos_label!r}")
        prob = prob[:, column]
    prob = _check_1d(prob, "y_prob").astype(float)
    if len(prob) != n:
        raise ValueError(f"y_prob has {len(prob)} values but y_true has {n}")
    if np.isnan(prob).any() or prob.min() < 0.0 or prob.max() > 1.0:
        bad = prob[np.isnan(prob) | (prob < 0) | (prob > 1)][0]
        raise ValueError(
            f"y_prob must be probabilities in [0, 1], got {bad!r} (pass softmax/sigmoid outputs, not logits)"
        )
    return prob


def _groups(sensitive: ArrayLike, n: int) -> tuple[np.ndarray, list[Any]]:
    """The sensitive attribute as an array and its distinct values (sorted), checked: ≥ 2 groups."""
    attr = _check_1d(as_numpy(sensitive, "sensitive"), "sensitive")
    if len(attr) != n:
        raise ValueError(f"sensitive has {len(attr)} values but the labels have {n}")
    groups = [g.item() if isinstance(g, np.generic) else g for g in np.unique(attr)]
    if len(groups) < 2:
        raise ValueError(
            f"sensitive has a single group ({groups[0]!r}): group-fairness metrics compare at least two"
        )
    return attr, groups


def _labels(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    truth = _check_1d(as_numpy(y_true, "y_true"), "y_true")
    pred = _check_1d(as_numpy(y_pred, "y_pred"), "y_pred")
    if len(truth) != len(pred):
        raise ValueError(f"y_true has {len(truth)} values but y_pred has {len(pred)}")
    return truth, pred


def _rate(hits: np.ndarray) -> float:
    """Mean of a boolean array; NaN when it is empty (a rate over no samples is undefined)."""
    return float(hits.mean()) if len(hits) else float("nan")


def _gap(values: Sequence[float]) -> float:
    """max - min; NaN when any value is NaN (an undefined rate makes the gap undefined)."""
    if any(np.isnan(v) for v in values):
        return float("nan")
    return float(max(values) - min(values))


def _ece(bins: Sequence[ReliabilityBin]) -> float:
    n = sum(b.count for b in bins)
    return float(sum(b.count / n * abs(b.frac_positive - b.mean_prob) for b in bins if b.count))


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram: probabilities in ``[lower, upper)`` (the last bin includes 1).

    ``mean_prob`` is the average predicted probability of the positive class in the bin, ``frac_positive``
    the share of positive labels there (a calibrated model has them equal); both NaN for an empty bin.
    """

    lower: float
    upper: float
    count: int
    mean_prob: float
    frac_positive: float


def reliability_bins(
    y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10, pos_label: Hashable | None = None
) -> list[ReliabilityBin]:
    """The ``n_bins`` equal-width bins of a reliability diagram (empty ones included, with NaN means).

    >>> [b.count for b in reliability_bins([0, 1, 1, 1], [0.1, 0.7, 0.8, 0.95], n_bins=2)]
    [1, 3]
    """
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    truth = _binarize(_check_1d(as_numpy(y_true, "y_true"), "y_true"), "y_true", pos_label)
    prob = _positive_probability(y_prob, len(truth), pos_label)
    # bin b holds [b/n, (b+1)/n); p = 1 goes to the last bin
    index = np.minimum((prob * n_bins).astype(int), n_bins - 1)
    bins = []
    for b in range(n_bins):
        inside = index == b
        bins.append(
            ReliabilityBin(
                lower=b / n_bins,
                upper=(b + 1) / n_bins,
                count=int(inside.sum()),
                mean_prob=_rate(prob[inside]),
                frac_positive=_rate(truth[inside]),
            )
        )
    return bins


def expected_calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10, pos_label: Hashable | None = None
) -> float:
    """ECE = Σ_b (n_b / n)·|frac_positive_b - mean_prob_b| over equal-width bins of P(y = positive).

    >>> expected_calibration_error([0, 1, 1, 1], [0.25, 0.75, 0.75, 0.75], n_bins=4)  # 1/4·0.25 + 3/4·0.25
    0.25
    """
    return _ece(reliability_bins(y_true, y_prob, n_bins, pos_label))


def selection_rates(
    y_pred: ArrayLike, sensitive: ArrayLike, pos_label: Hashable | None = None
) -> dict[Any, float]:
    """``P(ŷ = 1 | A = a)`` for every group a.

    >>> selection_rates([1, 0, 1, 1], ["a", "a", "b", "b"])
    {'a': 0.5, 'b': 1.0}
    """
    pred = _check_1d(as_numpy(y_pred, "y_pred"), "y_pred")
    selected = _binarize(pred, "y_pred", pos_label)
    attr, groups = _groups(sensitive, len(pred))
    return {g: _rate(selected[attr == g]) for g in groups}


def demographic_parity_difference(
    y_pred: ArrayLike, sensitive: ArrayLike, pos_label: Hashable | None = None
) -> float:
    """max - min over the groups of the selection rate ``P(ŷ = 1 | A = a)``.

    >>> demographic_parity_difference([1, 0, 1, 1], ["a", "a", "b", "b"])
    0.5
    """
    return _gap(list(selection_rates(y_pred, sensitive, pos_label).values()))


def equalized_odds_difference(
    y_true: ArrayLike, y_pred: ArrayLike, sensitive: ArrayLike, pos_label: Hashable | None = None
) -> float:
    """max(TPR gap, FPR gap), each gap max - min over the groups (Hardt et al., 2016; fairlearn's definition).

    A group without positive (or negative) labels has no TPR (FPR): that is a ``ValueError``.

    >>> equalized_odds_difference([1, 1, 0, 0, 1, 1, 0, 0], [1, 1, 0, 0, 1, 0, 1, 0], list("aaaabbbb"))
    0.5
    """
    truth, pred = _labels(y_true, y_pred)
    attr, groups = _groups(sensitive, len(truth))
    positive, selected = _binarize(truth, "y_true", pos_label), _binarize(pred, "y_pred", pos_label)
    tprs: list[float] = []
    fprs: list[float] = []
    for g in groups:
        mine = attr == g
        for rates, label, kind in ((tprs, True, "positive"), (fprs, False, "negative")):
            relevant = mine & (positive == label)
            if not relevant.any():
                raise ValueError(
                    f"group {g!r} has no {kind} labels, so its {'TPR' if label else 'FPR'} and the "
                    "equalized odds difference are undefined"
                )
            rates.append(_rate(selected[relevant]))
    return max(_gap(tprs), _gap(fprs))


@dataclass(frozen=True)
class GroupReport:
    """The metrics of one group (rates are NaN where undefined, e.g. a TPR without positive labels)."""

    group: Any
    count: int
    base_rate: float  # P(y = 1 | A = a): the labels' own selection rate
    selection_rate: float  # P(ŷ = 1 | A = a)
    accuracy: float  # mean(ŷ == y), multiclass when pos_label is set
    true_positive_rate: float
    false_positive_rate: float
    ece: float | None = None  # only with y_prob
    reliability: tuple[ReliabilityBin, ...] = ()


@dataclass(frozen=True)
class FairnessReport:
    """What ``group_metrics`` measured: one ``GroupReport`` per group, then the gaps between them.

    ``equalized_odds_difference`` is NaN when a group has no positive or no negative labels.
    """

    groups: tuple[GroupReport, ...]
    accuracy: float
    demographic_parity_difference: float
    demographic_parity_ratio: float  # min / max selection rate (the "80 % rule" compares it with 0.8)
    true_positive_rate_difference: float
    false_positive_rate_difference: float
    equalized_odds_difference: float
    ece: float | None = None  # over all samples, with y_prob
    pos_label: Any = None
    n_bins: int = 10

    def group(self, name: Any) -> GroupReport:
        """The report of group ``name``: ``report.group("b").selection_rate``."""
        for g in self.groups:
            if g.group == name:
                return g
        raise KeyError(f"no group {name!r}; groups: {[g.group for g in self.groups]}")

    def rows(self) -> list[dict[str, Any]]:
        """One dict per group (what ``table`` prints), reliability bins left out."""
        columns = ("group", "count", "base_rate", "selection_rate", "accuracy")
        rows = []
        for g in self.groups:
            row = {c: getattr(g, c) for c in columns}
            row |= {"tpr": g.true_positive_rate, "fpr": g.false_positive_rate}
            if g.ece is not None:
                row["ece"] = g.ece
            rows.append(row)
        return rows

    def summary(self) -> dict[str, float]:
        """The gaps between the groups and the overall accuracy (and ECE): one number each."""
        out = {
            "accuracy": self.accuracy,
            "demographic_parity_difference": self.demographic_parity_difference,
            "demographic_parity_ratio": self.demographic_parity_ratio,
            "equalized_odds_difference": self.equalized_odds_difference,
            "true_positive_rate_difference": self.true_positive_rate_difference,
            "false_positive_rate_difference": self.false_positive_rate_difference,
        }
        if self.ece is not None:
            out["ece"] = self.ece
        return out

    def table(self) -> str:
        """A plain-text table: one line per group, then the summary."""
        rows = [{k: _fmt(v) for k, v in row.items()} for row in self.rows()]
        columns = list(rows[0])
        widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
        lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines.append("-|-".join("-" * w for w in widths))
        lines += [" | ".join(r[c].ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
        lines.append("")
        lines += [f"{k}: {_fmt(v)}" for k, v in self.summary().items()]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (NaN stays a float NaN)."""
        return asdict(self)

    def __str__(self) -> str:
        return self.table()


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def group_metrics(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sensitive: ArrayLike,
    y_prob: ArrayLike | None = None,
    *,
    pos_label: Hashable | None = None,
    n_bins: int = 10,
) -> FairnessReport:
    """Per-group selection rate, accuracy, TPR, FPR (and ECE with reliability bins) and the gaps.

    Args:
        y_true: labels ``(N,)``; 0/1 unless ``pos_label`` is given.
        y_pred: predicted labels ``(N,)`` (thresholded already: see ``GroupThresholds`` for per-group ones).
        sensitive: the sensitive attribute ``(N,)``: any values (ints, strings), at least two distinct.
        y_prob: optional probability of the positive class ``(N,)`` or class probabilities ``(N, K)``:
            adds per-group ECE and reliability bins.
        pos_label: the positive class, for one-vs-rest metrics of a multiclass problem.
        n_bins: equal-width probability bins of the calibration metrics.

    >>> r = group_metrics([1, 0, 1, 0], [1, 0, 0, 0], ["a", "a", "b", "b"])
    >>> r.demographic_parity_difference, r.group("a").accuracy
    (0.5, 1.0)
    """
    truth, pred = _labels(y_true, y_pred)
    attr, groups = _groups(sensitive, len(truth))
    positive, selected = _binarize(truth, "y_true", pos_label), _binarize(pred, "y_pred", pos_label)
    prob = None if y_prob is None else _positive_probability(y_prob, len(truth), pos_label)
    correct = np.asarray(truth == pred, dtype=bool)
    reports = []
    for g in groups:
        mine = attr == g
        ece: float | None = None
        bins: tuple[ReliabilityBin, ...] = ()
        if prob is not None:
            bins = tuple(reliability_bins(positive[mine], prob[mine], n_bins))
            ece = _ece(bins)
        reports.append(
            GroupReport(
                group=g,
                count=int(mine.sum()),
                base_rate=_rate(positive[mine]),
                selection_rate=_rate(selected[mine]),
                accuracy=_rate(correct[mine]),
                true_positive_rate=_rate(selected[mine & positive]),
                false_positive_rate=_rate(selected[mine & ~positive]),
                ece=ece,
                reliability=bins,
            )
        )
    rates = [r.selection_rate for r in reports]
    tpr_gap = _gap([r.true_positive_rate for r in reports])  # NaN if any group's TPR is undefined
    fpr_gap = _gap([r.false_positive_rate for r in reports])
    return FairnessReport(
        groups=tuple(reports),
        accuracy=_rate(correct),
        demographic_parity_difference=_gap(rates),
        demographic_parity_ratio=min(rates) / max(rates) if max(rates) > 0 else float("nan"),
        true_positive_rate_difference=tpr_gap,
        false_positive_rate_difference=fpr_gap,
        equalized_odds_difference=float("nan")
        if np.isnan([tpr_gap, fpr_gap]).any()
        else max(tpr_gap, fpr_gap),
        ece=None if prob is None else expected_calibration_error(positive, prob, n_bins),
        pos_label=pos_label,
        n_bins=n_bins,
    )

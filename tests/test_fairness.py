"""Group-fairness metrics against hand-computed cases, the biased synthetic data, reweighing and thresholds.

The small cases below are worked out by hand in the comments; the trained-model tests use the synthetic
hiring data with fixed seeds and one torch thread (a 4-feature logistic regression trains in about a
second that way).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from dltoolkit.catalog import UnknownNameError
from dltoolkit.fairness.metrics import (
    demographic_parity_difference,
    equalized_odds_difference,
    expected_calibration_error,
    group_metrics,
    reliability_bins,
    selection_rates,
)
from dltoolkit.fairness.mitigation import GroupThresholds, reweighing_table, reweighing_weights

# Two groups of five (hand-computed in test_group_metrics_by_hand):
#   group a: y = 1 1 1 0 0, ŷ = 1 1 0 1 0  -> selection 3/5, accuracy 3/5, TPR 2/3, FPR 1/2
#   group b: y = 1 1 0 0 0, ŷ = 1 0 0 0 0  -> selection 1/5, accuracy 4/5, TPR 1/2, FPR 0/3
GROUPS = ["a"] * 5 + ["b"] * 5
Y_TRUE = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0]
Y_PRED = [1, 1, 0, 1, 0, 1, 0, 0, 0, 0]


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # a tiny model on a shared 2-core machine: several threads only contend
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_group_metrics_by_hand() -> None:
    r = group_metrics(Y_TRUE, Y_PRED, GROUPS)
    a, b = r.group("a"), r.group("b")
    assert (a.count, b.count) == (5, 5)
    assert a.base_rate == pytest.approx(3 / 5) and b.base_rate == pytest.approx(2 / 5)
    assert a.selection_rate == pytest.approx(3 / 5) and b.selection_rate == pytest.approx(1 / 5)
    assert a.accuracy == pytest.approx(3 / 5) and b.accuracy == pytest.approx(4 / 5)
    assert a.true_positive_rate == pytest.approx(2 / 3) and b.true_positive_rate == pytest.approx(1 / 2)
    assert a.false_positive_rate == pytest.approx(1 / 2) and b.false_positive_rate == pytest.approx(0.0)
    assert r.accuracy == pytest.approx(7 / 10)
    assert r.demographic_parity_difference == pytest.approx(3 / 5 - 1 / 5)
    assert r.demographic_parity_ratio == pytest.approx(1 / 3)
    assert r.true_positive_rate_difference == pytest.approx(2 / 3 - 1 / 2)
    assert r.false_positive_rate_difference == pytest.approx(1 / 2)
    assert r.equalized_odds_difference == pytest.approx(1 / 2)  # max(1/6, 1/2)
    assert r.ece is None and a.ece is None
    # the standalone functions agree
    assert demographic_parity_difference(Y_PRED, GROUPS) == pytest.approx(0.4)
    assert equalized_odds_difference(Y_TRUE, Y_PRED, GROUPS) == pytest.approx(0.5)
    assert selection_rates(Y_PRED, GROUPS) == pytest.approx({"a": 0.6, "b": 0.2})


def test_three_groups_take_max_minus_min() -> None:
    # selection rates: x 1/2, y 1, z 0 -> gap 1; TPRs: x 1, y 1, z 0 -> 1; FPRs: x 0, y 1, z 0 -> 1
    y_true = [1, 0, 1, 0, 1, 0]
    y_pred = [1, 0, 1, 1, 0, 0]
    groups = [0, 0, 1, 1, 2, 2]
    assert selection_rates(y_pred, groups) == {0: 0.5, 1: 1.0, 2: 0.0}
    assert demographic_parity_difference(y_pred, groups) == 1.0
    assert equalized_odds_difference(y_true, y_pred, groups) == 1.0
    # only the FPR differs: TPRs 1, 1 and FPRs 0, 1/2 -> equalized odds difference 1/2
    assert equalized_odds_difference([1, 0, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1]) == 0.5


def test_lists_arrays_and_tensors_give_the_same_report() -> None:
    from_lists = group_metrics(Y_TRUE, Y_PRED, GROUPS).summary()
    codes = [0 if g == "a" else 1 for g in GROUPS]
    from_numpy = group_metrics(np.array(Y_TRUE), np.array(Y_PRED, dtype=bool), np.array(codes)).summary()
    from_torch = group_metrics(torch.tensor(Y_TRUE), torch.tensor(Y_PRED), torch.tensor(codes)).summary()
    assert from_lists == pytest.approx(from_numpy) and from_lists == pytest.approx(from_torch)


def test_one_vs_rest_for_multiclass() -> None:
    # pos_label=2: group a predicts 2 for 2 of 3, group b for 1 of 3; accuracy stays multiclass (2/3 each)
    y_true = [0, 1, 2, 2, 1, 0]
    y_pred = [0, 2, 2, 2, 1, 1]
    groups = list("aaabbb")
    r = group_metrics(y_true, y_pred, groups, pos_label=2)
    assert r.group("a").selection_rate == pytest.approx(2 / 3) and r.group(
        "b"
    ).selection_rate == pytest.approx(1 / 3)
    assert r.group("a").accuracy == pytest.approx(2 / 3) and r.group("b").accuracy == pytest.approx(2 / 3)
    # TPR of class 2: a has one true 2, predicted 2 (1); b has one true 2, predicted 2 (1). FPR: a 1/2, b 0/2
    assert r.true_positive_rate_difference == 0.0 and r.equalized_odds_difference == pytest.approx(0.5)
    with pytest.raises(ValueError, match="pass pos_label"):
        group_metrics(y_true, y_pred, groups)
    # class probabilities (N, 3): column 2 is the positive class
    prob = np.eye(3)[y_pred] * 0.8 + 0.2 / 3
    assert group_metrics(y_true, y_pred, groups, prob, pos_label=2).ece is not None


def test_calibration_of_a_perfectly_calibrated_toy_model() -> None:
    # p = 0.25 on four samples with one positive, p = 0.75 on four with three: calibrated in each bin
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    p = [0.25] * 4 + [0.75] * 4
    assert expected_calibration_error(y, p, n_bins=4) == pytest.approx(0.0)
    bins = reliability_bins(y, p, n_bins=4)
    assert [b.count for b in bins] == [0, 4, 0, 4]
    assert bins[1].mean_prob == pytest.approx(0.25) and bins[1].frac_positive == pytest.approx(0.25)
    assert bins[3].mean_prob == pytest.approx(0.75) and bins[3].frac_positive == pytest.approx(0.75)
    assert np.isnan(bins[0].mean_prob) and (bins[0].lower, bins[0].upper) == (0.0, 0.25)


def test_calibration_error_by_hand_and_per_group() -> None:
    # bin [0.25, 0.5): one sample, p 0.25, no positive -> |0 - 0.25|; bin [0.75, 1]: three samples, p 0.75,
    # all positive -> |1 - 0.75|; ECE = 1/4 * 0.25 + 3/4 * 0.25 = 0.25
    assert expected_calibration_error([0, 1, 1, 1], [0.25, 0.75, 0.75, 0.75], n_bins=4) == pytest.approx(0.25)
    assert expected_calibration_error([1], [1.0], n_bins=10) == 0.0  # p = 1 falls in the last bin
    # group a calibrated (the toy above), group b the miscalibrated case: per-group ECE 0 and 0.25
    y = [*[1, 0, 0, 0, 1, 1, 1, 0], *[0, 1, 1, 1]]
    p = [0.25] * 4 + [0.75] * 4 + [0.25, 0.75, 0.75, 0.75]
    r = group_metrics(y, [int(q > 0.5) for q in p], ["a"] * 8 + ["b"] * 4, p, n_bins=4)
    assert r.group("a").ece == pytest.approx(0.0) and r.group("b").ece == pytest.approx(0.25)
    # overall the bins pool both groups: [0.25, 0.5) has 5 samples, 1 positive; [0.75, 1] 7, 6 positive
    assert r.ece == pytest.approx(5 / 12 * abs(1 / 5 - 0.25) + 7 / 12 * abs(6 / 7 - 0.75))
    assert [b.count for b in r.group("b").reliability] == [0, 1, 0, 3]


def test_calibration_matches_torchmetrics_on_random_data() -> None:
    from torchmetrics.functional.classification import binary_calibration_error

    gen = torch.Generator().manual_seed(0)
    p = torch.rand(500, generator=gen)
    y = (torch.rand(500, generator=gen) < p**2).long()
    ours = expected_calibration_error(y, p, n_bins=15)
    assert ours == pytest.approx(binary_calibration_error(p, y, n_bins=15, norm="l1").item(), abs=1e-6)
    assert ours > 0.05  # p² is not p: the model is visibly miscalibrated


def test_report_rows_and_table() -> None:
    p = [0.9, 0.8, 0.4, 0.6, 0.1, 0.7, 0.3, 0.2, 0.1, 0.2]
    r = group_metrics(Y_TRUE, Y_PRED, GROUPS, y_prob=p)
    rows = r.rows()
    assert [row["group"] for row in rows] == ["a", "b"] and rows[0]["tpr"] == pytest.approx(2 / 3)
    assert set(rows[0]) == {"group", "count", "base_rate", "selection_rate", "accuracy", "tpr", "fpr", "ece"}
    text = r.table()
    assert "selection_rate" in text and "demographic_parity_difference: 0.400" in text
    assert r.as_dict()["groups"][1]["selection_rate"] == pytest.approx(0.2)


def test_undefined_rates_are_nan_in_the_report_and_an_error_alone() -> None:
    # group b has no positive label: its TPR, and so the equalized odds difference, is undefined
    y_true, y_pred, groups = [1, 0, 0, 0], [1, 0, 1, 0], ["a", "a", "b", "b"]
    r = group_metrics(y_true, y_pred, groups)
    assert np.isnan(r.group("b").true_positive_rate) and np.isnan(r.equalized_odds_difference)
    assert r.false_positive_rate_difference == pytest.approx(0.5)
    with pytest.raises(ValueError, match="group 'b' has no positive labels"):
        equalized_odds_difference(y_true, y_pred, groups)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: group_metrics([1, 0, 1], [1, 0], ["a", "b", "a"]), "y_true has 3 values but y_pred has 2"),
        (lambda: group_metrics([1, 0], [1, 0], ["a", "b", "a"]), "sensitive has 3 values"),
        (lambda: group_metrics([1, 0, 1], [1, 0, 1], ["a", "a", "a"]), "single group"),
        (lambda: group_metrics([0, 1, 2], [0, 1, 1], ["a", "b", "b"]), r"must be binary \(0/1\)"),
        (lambda: demographic_parity_difference([0.2, 0.7], ["a", "b"]), "y_pred must be binary"),
        (lambda: group_metrics([1, 0], [1, 0], ["a", "b"], [0.5, 1.5]), r"probabilities in \[0, 1\]"),
        (lambda: group_metrics([1, 0], [1, 0], ["a", "b"], [-2.0, 3.0]), "not logits"),
        (lambda: group_metrics([1, 0], [1, 0], ["a", "b"], [0.5, float("nan")]), r"in \[0, 1\]"),
        (lambda: group_metrics([1, 0], [1, 0], ["a", "b"], [0.5]), "y_prob has 1 values"),
        (lambda: group_metrics([1, 0], [1, 0], ["a", "b"], np.full((2, 3), 1 / 3)), "y_prob has 3 columns"),
        (lambda: group_metrics([[1, 0]], [[1, 0]], [["a", "b"]]), "must be 1-D"),
        (lambda: group_metrics([], [], []), "is empty"),
        (lambda: reliability_bins([1, 0], [0.2, 0.3], n_bins=0), "n_bins must be a positive integer"),
        (lambda: reweighing_table([1, 0, 1], [0, 0, 0]), "single group"),
    ],
)
def test_bad_input_is_a_clear_value_error(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_reweighing_weights_match_the_formula_on_a_hand_made_table() -> None:
    # a: 3 positives, 1 negative; b: 1 positive, 5 negatives. P(a)=0.4, P(b)=0.6, P(y=1)=0.4, P(y=0)=0.6
    y = [*[1, 1, 1, 0], *[1, 0, 0, 0, 0, 0]]
    a = ["a"] * 4 + ["b"] * 6
    table = reweighing_table(y, a)
    expected = {
        ("a", 1): 0.4 * 0.4 / 0.3,  # 8/15
        ("a", 0): 0.4 * 0.6 / 0.1,  # 2.4
        ("b", 1): 0.6 * 0.4 / 0.1,  # 2.4
        ("b", 0): 0.6 * 0.6 / 0.5,  # 0.72
    }
    assert table == pytest.approx(expected)
    w = reweighing_weights(y, a)
    assert w.dtype == np.float32 and w.mean() == pytest.approx(1.0)
    assert w.tolist() == pytest.approx([8 / 15] * 3 + [2.4, 2.4] + [0.72] * 5)
    # under the weights, group and label are independent: P_w(a, y) = P_w(a)·P_w(y) in every cell
    y_arr, a_arr = np.array(y), np.array(a)
    total = w.sum()
    for g in ("a", "b"):
        for label in (0, 1):
            joint = w[(a_arr == g) & (y_arr == label)].sum() / total
            marginal = w[a_arr == g].sum() / total * w[y_arr == label].sum() / total
            assert joint == pytest.approx(marginal)


def test_synthetic_data_is_deterministic_and_biased() -> None:
    from dltoolkit.fairness.data import make_hiring_data

    first, again, other = (make_hiring_data(3000, seed=s) for s in (3, 3, 4))
    for name in ("features", "labels", "sensitive", "qualified"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert not np.array_equal(first.features, other.features)
    a, y, q = first.sensitive, first.labels, first.qualified
    label_gap = y[a == 0].mean() - y[a == 1].mean()
    assert 0.22 < label_gap < 0.42  # ≈ 0.5 - 0.19 by construction
    assert abs(q[a == 0].mean() - q[a == 1].mean()) < 0.06  # the qualification itself is not biased
    corr = np.corrcoef(first.features.T, a)[-1, :-1]  # each feature's correlation with the group
    assert dict(zip(first.feature_names, corr.round(2), strict=True))["postcode"] > 0.5
    assert np.all(np.abs(np.delete(corr, 2)) < 0.08)  # test_score, experience, noise carry no group
    assert make_hiring_data(100, include_sensitive=True).features.shape == (100, 5)
    with pytest.raises(ValueError, match="minority_fraction"):
        make_hiring_data(100, minority_fraction=1.0)


def test_data_module_batches_splits_and_weights() -> None:
    from dltoolkit.fairness.data import TabularFairnessDataModule

    dm = TabularFairnessDataModule(n_samples=1000, batch_size=50, seed=1)
    dm.setup("fit")
    x, y, a = next(iter(dm.val_dataloader()))
    assert x.shape == (50, 4) and x.dtype == torch.float32 and y.dtype == a.dtype == torch.int64
    sizes = {s: len(dm.split_arrays(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 600, "val": 200, "test": 200}
    described = dm.describe()
    assert described["val"]["size"] == 200 and described["groups"] == ["majority", "minority"]
    assert described["train"]["label_rate"]["majority"] > described["train"]["label_rate"]["minority"] + 0.15
    train = dm.train_set
    assert train is not None and train.features.mean(0).abs().max() < 1e-5  # standardised on train
    weighted = TabularFairnessDataModule(n_samples=1000, batch_size=50, seed=1, reweigh=True)
    weighted.setup("fit")
    _, y2, a2, w = next(iter(weighted.train_dataloader()))
    assert w.dtype == torch.float32 and w.shape == (50,)
    split = weighted.split_arrays("train")
    expected = reweighing_table(split.labels, split.sensitive)
    assert w.tolist() == pytest.approx([expected[(int(g), int(c))] for g, c in zip(a2, y2, strict=True)])
    assert len(next(iter(weighted.val_dataloader()))) == 3  # evaluation stays unweighted
    with pytest.raises(UnknownNameError, match="did you mean 'test'"):
        dm.split_arrays("tset")


@pytest.fixture(scope="module")
def demo() -> Any:
    from dltoolkit.fairness.demo import bias_demonstration

    return bias_demonstration(seed=0, max_epochs=10)


def test_reweighing_reduces_demographic_parity_difference(demo: Any) -> None:
    base, reweighed, post = (demo.reports[m] for m in ("baseline", "reweighing", "group thresholds"))
    # the baseline never sees the group, yet learns the historical bias through the postcode
    assert base.demographic_parity_difference > 0.12 and base.accuracy > 0.75
    # measured at seed 0: about 0.20 -> 0.05 (reweighing) and 0.07 (thresholds); the margin leaves room
    assert reweighed.demographic_parity_difference < base.demographic_parity_difference - 0.07
    assert post.demographic_parity_difference < base.demographic_parity_difference - 0.07
    assert reweighed.accuracy > 0.7 and post.accuracy > 0.65
    assert demo.label_selection_rates["majority"] - demo.label_selection_rates["minority"] > 0.2
    assert "reweighing" in demo.table()


def test_evaluate_fairness_matches_group_metrics_and_the_logged_gaps(fast_trainer: Any) -> None:
    from torch.utils.data import DataLoader

    from dltoolkit.fairness.data import TabularFairnessDataModule
    from dltoolkit.fairness.demo import train_tabular
    from dltoolkit.fairness.evaluate import evaluate_fairness, predict_with_groups

    dm = TabularFairnessDataModule(n_samples=1500, seed=2)
    model = train_tabular(dm, max_epochs=5, seed=2)
    y, prob, a = predict_with_groups(model, dm, "val")
    assert prob.shape == (300, 2) and np.allclose(prob.sum(1), 1.0, atol=1e-5)
    report = evaluate_fairness(model, dm, stage="val")
    assert report.summary() == pytest.approx(group_metrics(y, prob.argmax(1), a, prob).summary())
    # the model's own validation logging (torchmetrics' per-group counts) gives the same gaps
    logged = fast_trainer().validate(model, dm, verbose=False)[0]
    assert logged["val/dp_diff"] == pytest.approx(report.demographic_parity_difference, abs=1e-5)
    assert logged["val/eo_diff"] == pytest.approx(report.equalized_odds_difference, abs=1e-5)
    assert logged["val/acc"] == pytest.approx(report.accuracy, abs=1e-5)
    # per-group thresholds applied by evaluate_fairness
    post = GroupThresholds.fit(y, prob, a)
    assert evaluate_fairness(model, dm, stage="val", thresholds=post).demographic_parity_difference < 0.02
    with pytest.raises(ValueError, match="shuffles"):
        evaluate_fairness(model, DataLoader(dm.val_set, batch_size=8, shuffle=True))
    assert dm.val_set is not None
    no_groups = DataLoader(
        torch.utils.data.TensorDataset(torch.zeros(4, 4), torch.zeros(4).long()), batch_size=2
    )
    with pytest.raises(ValueError, match="no sensitive attribute"):
        evaluate_fairness(model, no_groups)
    with pytest.raises(UnknownNameError, match="unknown stage"):
        evaluate_fairness(model, dm, stage="validation")


def test_group_thresholds_by_hand() -> None:
    # demographic parity, target 1/2 (the share with p ≥ 0.5): each group selects its top half
    p = [0.9, 0.6, 0.55, 0.1, 0.45, 0.4, 0.3, 0.2]
    groups = ["a"] * 4 + ["b"] * 4
    y = [1, 1, 0, 0, 1, 0, 1, 0]
    post = GroupThresholds.fit(y, p, groups)
    assert post.target == pytest.approx(3 / 8)  # 0.9, 0.6, 0.55 of 8 pass 0.5
    # 3/8 of four is 1.5 -> round to 2 in each group: a between 0.6 and 0.55, b between 0.4 and 0.3
    assert post.thresholds == pytest.approx({"a": 0.575, "b": 0.35})
    assert post.predict(p, groups).tolist() == [1, 1, 0, 0, 1, 1, 0, 0]
    # equal opportunity with target TPR 1/2: a's positives 0.9, 0.6 -> cut 0.75; b's 0.45, 0.3 -> 0.375
    eo = GroupThresholds.fit(y, p, groups, "equal_opportunity", target=0.5)
    assert eo.thresholds == pytest.approx({"a": 0.75, "b": 0.375})
    assert GroupThresholds.fit(y, p, groups, target=0.0).predict(p, groups).sum() == 0
    assert GroupThresholds.fit(y, p, groups, target=1.0).predict(p, groups).sum() == 8
    with pytest.raises(ValueError, match=r"no threshold for groups \['c'\]"):
        post.predict([0.5], ["c"])
    with pytest.raises(UnknownNameError, match="did you mean 'equal_opportunity'"):
        GroupThresholds.fit(y, p, groups, "equal_oportunity")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no positive labels"):
        GroupThresholds.fit([1, 0, 0, 0], [0.9, 0.1, 0.5, 0.4], ["a", "a", "b", "b"], "equal_opportunity")
    with pytest.raises(ValueError, match="target must be a rate"):
        GroupThresholds.fit(y, p, groups, target=1.5)


def test_tabular_classifier_checks_its_input() -> None:
    from dltoolkit.fairness.model import TabularClassifier

    model = TabularClassifier(in_features=3, hidden_sizes=(8,))
    assert model(torch.zeros(5, 3)).shape == (5, 2)
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 3\)"):
        model(torch.zeros(5, 4))
    with pytest.raises(ValueError, match="num_groups"):
        TabularClassifier(num_groups=1)


def test_importing_the_package_and_its_metrics_does_not_import_torch() -> None:
    code = (
        "import sys, dltoolkit.fairness, dltoolkit.fairness.metrics, dltoolkit.fairness.mitigation\n"
        "from dltoolkit.fairness import group_metrics\n"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

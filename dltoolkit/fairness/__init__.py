"""Group fairness: metrics, a biased synthetic data set, a tabular classifier and two mitigations.

    from dltoolkit.fairness import group_metrics, bias_demonstration

    report = group_metrics(y_true, y_pred, sensitive, y_prob=p)    # numpy arrays, lists or tensors
    print(report.table())                                            # per group, then the gaps
    print(bias_demonstration(seed=0).table())                        # baseline vs reweighing vs thresholds

``metrics`` and ``mitigation`` need only numpy; ``data``, ``model``, ``evaluate`` and ``demo`` load torch
and Lightning, on first use of one of their names (importing this package stays light).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dltoolkit._lazy import export, listing

if TYPE_CHECKING:
    from dltoolkit.fairness.data import HiringData, TabularFairnessDataModule, make_hiring_data
    from dltoolkit.fairness.demo import BiasDemonstration, bias_demonstration, train_tabular
    from dltoolkit.fairness.evaluate import evaluate_fairness, predict_with_groups
    from dltoolkit.fairness.metrics import (
        FairnessReport,
        GroupReport,
        ReliabilityBin,
        demographic_parity_difference,
        equalized_odds_difference,
        expected_calibration_error,
        group_metrics,
        reliability_bins,
        selection_rates,
    )
    from dltoolkit.fairness.mitigation import GroupThresholds, reweighing_table, reweighing_weights
    from dltoolkit.fairness.model import TabularClassifier

_LAZY = {
    **dict.fromkeys(
        (
            "FairnessReport",
            "GroupReport",
            "ReliabilityBin",
            "demographic_parity_difference",
            "equalized_odds_difference",
            "expected_calibration_error",
            "group_metrics",
            "reliability_bins",
            "selection_rates",
        ),
        "dltoolkit.fairness.metrics",
    ),
    **dict.fromkeys(
        ("GroupThresholds", "reweighing_table", "reweighing_weights"), "dltoolkit.fairness.mitigation"
    ),
    **dict.fromkeys(
        ("HiringData", "TabularFairnessDataModule", "make_hiring_data"), "dltoolkit.fairness.data"
    ),
    **dict.fromkeys(("BiasDemonstration", "bias_demonstration", "train_tabular"), "dltoolkit.fairness.demo"),
    **dict.fromkeys(("evaluate_fairness", "predict_with_groups"), "dltoolkit.fairness.evaluate"),
    "TabularClassifier": "dltoolkit.fairness.model",
}

__all__ = [
    "BiasDemonstration",
    "FairnessReport",
    "GroupReport",
    "GroupThresholds",
    "HiringData",
    "ReliabilityBin",
    "TabularClassifier",
    "TabularFairnessDataModule",
    "bias_demonstration",
    "demographic_parity_difference",
    "equalized_odds_difference",
    "evaluate_fairness",
    "expected_calibration_error",
    "group_metrics",
    "make_hiring_data",
    "predict_with_groups",
    "reliability_bins",
    "reweighing_table",
    "reweighing_weights",
    "selection_rates",
    "train_tabular",
]


def __getattr__(name: str) -> Any:
    return export(__name__, _LAZY, name)


def __dir__() -> list[str]:
    return listing(globals(), _LAZY)

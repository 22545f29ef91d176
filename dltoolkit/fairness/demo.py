"""The bias demonstration: a model learns historical bias through a proxy, and two mitigations.

    demo = bias_demonstration(seed=0)
    print(demo.table())               # labels, baseline, reweighing, group thresholds: accuracy and gaps

On the synthetic hiring data (``make_hiring_data``) both groups are equally qualified but the historical
labels favour the majority; the model never sees the group, yet learns it from ``postcode``. Three
logistic regressions (``TabularClassifier``) are compared on the same test split:

* ``baseline``: trained on the biased labels;
* ``reweighing``: the same, with Kamiran & Calders' weights in the loss;
* ``group thresholds``: the baseline's probabilities with per-group thresholds fitted on validation data
  to equalise selection rates.

Each is also scored against ``qualified`` (the decisions without the historical bias): fairer models
lose accuracy on the biased labels and may gain it on the unbiased ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl

from dltoolkit.fairness.data import TabularFairnessDataModule
from dltoolkit.fairness.evaluate import predict_with_groups
from dltoolkit.fairness.metrics import FairnessReport, group_metrics
from dltoolkit.fairness.mitigation import GroupThresholds
from dltoolkit.fairness.model import TabularClassifier

METHODS = ("baseline", "reweighing", "group thresholds")


def train_tabular(
    dm: TabularFairnessDataModule,
    *,
    max_epochs: int = 15,
    seed: int = 0,
    trainer_kwargs: dict[str, Any] | None = None,
    **model_kwargs: Any,
) -> TabularClassifier:
    """Fit a ``TabularClassifier`` on ``dm`` with a quiet CPU Lightning ``Trainer`` (seeded) and return it.

    >>> model = train_tabular(TabularFairnessDataModule(reweigh=True), max_epochs=10)
    """
    pl.seed_everything(seed, verbose=False)
    model = TabularClassifier(in_features=dm.in_features, num_groups=dm.num_groups, **model_kwargs)
    kwargs: dict[str, Any] = {
        "max_epochs": max_epochs,
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
        "num_sanity_val_steps": 0,
    }
    kwargs.update(trainer_kwargs or {})
    pl.Trainer(**kwargs).fit(model, dm)
    return model


@dataclass(frozen=True)
class BiasDemonstration:
    """Test-split reports per method (against the historical labels), the labels' own gap, and the
    accuracy of each method against the unbiased decisions."""

    reports: dict[str, FairnessReport]
    label_selection_rates: dict[str, float]  # P(y=1 | A=a) of the test labels, by group name
    unbiased_accuracy: dict[str, float] = field(default_factory=dict)
    thresholds: GroupThresholds | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One row per method: accuracy, unbiased accuracy, the gaps and each group's selection rate."""
        rows = []
        for name, r in self.reports.items():
            row: dict[str, Any] = {
                "method": name,
                "accuracy": r.accuracy,
                "unbiased acc": self.unbiased_accuracy[name],
            }
            row |= {"dp diff": r.demographic_parity_difference, "eo diff": r.equalized_odds_difference}
            row |= {f"sel {g.group}": g.selection_rate for g in r.groups}
            rows.append(row)
        return rows

    def table(self) -> str:
        rows = [
            {k: f"{v:.3f}" if isinstance(v, float) else str(v) for k, v in r.items()} for r in self.rows()
        ]
        columns = list(rows[0])
        widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
        lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines.append("-|-".join("-" * w for w in widths))
        lines += [" | ".join(r[c].ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
        rates = ", ".join(f"{g} {v:.3f}" for g, v in self.label_selection_rates.items())
        return "\n".join([f"test labels' selection rate: {rates}", *lines])


def bias_demonstration(
    seed: int = 0,
    *,
    max_epochs: int = 15,
    n_samples: int = 4000,
    bias: float = 1.0,
    proxy_strength: float = 2.0,
    hidden_sizes: tuple[int, ...] = (),
    methods: tuple[str, ...] = METHODS,
    trainer_kwargs: dict[str, Any] | None = None,
) -> BiasDemonstration:
    """Train the baseline and the mitigated models on one seed of the hiring data; report on its test split.

    >>> demo = bias_demonstration(seed=1, max_epochs=10)
    >>> gap = {m: r.demographic_parity_difference for m, r in demo.reports.items()}
    >>> gap["reweighing"] < gap["baseline"]
    True
    """
    for m in methods:
        if m not in METHODS:
            from dltoolkit.catalog import unknown_name

            raise unknown_name("method", m, list(METHODS))
    data_kwargs: dict[str, Any] = {
        "n_samples": n_samples,
        "bias": bias,
        "proxy_strength": proxy_strength,
        "seed": seed,
    }
    train: dict[str, Any] = {"max_epochs": max_epochs, "seed": seed, "trainer_kwargs": trainer_kwargs}
    dm = TabularFairnessDataModule(**data_kwargs)
    dm.setup("fit")
    test = dm.split_arrays("test")
    names = dm.group_names
    reports: dict[str, FairnessReport] = {}
    unbiased: dict[str, float] = {}
    thresholds = None

    def record(name: str, pred: Any, prob: Any) -> None:
        reports[name] = group_metrics(test.labels, pred, [names[a] for a in test.sensitive], prob)
        unbiased[name] = float((pred == test.qualified).mean())

    if "baseline" in methods or "group thresholds" in methods:
        base = train_tabular(dm, hidden_sizes=hidden_sizes, **train)
        _, prob, _ = predict_with_groups(base, dm, "test")
        if "baseline" in methods:
            record("baseline", prob.argmax(1), prob)
        if "group thresholds" in methods:
            y_val, prob_val, a_val = predict_with_groups(base, dm, "val")
            thresholds = GroupThresholds.fit(y_val, prob_val, a_val, "demographic_parity")
            record("group thresholds", thresholds.predict(prob, test.sensitive), prob)
    if "reweighing" in methods:
        dm_weighted = TabularFairnessDataModule(
            reweigh=True, **data_kwargs
        )  # same seed: same data and splits
        model = train_tabular(dm_weighted, hidden_sizes=hidden_sizes, **train)
        _, prob, _ = predict_with_groups(model, dm_weighted, "test")
        record("reweighing", prob.argmax(1), prob)
    label_rates = {names[a]: float(test.labels[test.sensitive == a].mean()) for a in range(len(names))}
    order = [m for m in METHODS if m in reports]
    return BiasDemonstration(
        reports={m: reports[m] for m in order},
        label_selection_rates=label_rates,
        unbiased_accuracy={m: unbiased[m] for m in order},
        thresholds=thresholds,
    )

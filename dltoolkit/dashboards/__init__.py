"""Notebook dashboards: anywidget widgets for JupyterLab, Notebook 7 and VS Code.

    from dltoolkit.dashboards import TrainingDashboard, RunsPanel

    dash = TrainingDashboard()          # a Lightning Callback and a widget
    dash                                # shows it: live curves of every logged metric, progress, Stop
    dash.fit(model, dm, max_epochs=20)  # or pl.Trainer(callbacks=[dash]).fit(model, dm)

    RunsPanel()                         # the runs under ./dltoolkit-runs: status, curves, Stop/Resume/Delete

    ExplainDashboard(model, dm)         # a test image, a method, a class: heatmap overlay, top classes
    AttackDashboard(model, dm)          # an attack and eps: adversarial image, ‖δ‖∞, accuracy vs eps

    EpisodePlayer.record(agent, "CartPole-v1")   # one episode of an RL agent: play/pause, slider, return

Their front ends are ES modules built from ``widgets/`` into ``dltoolkit/dashboards/static/``.
Importing this package is light: each dashboard loads (with Lightning, for ``TrainingDashboard``) on
first use (the inspection dashboards with torch, Captum and torchattacks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dltoolkit._lazy import export, listing

if TYPE_CHECKING:
    from dltoolkit.dashboards.episode import EpisodePlayer
    from dltoolkit.dashboards.inspect import AttackDashboard, ExplainDashboard
    from dltoolkit.dashboards.runs import RunsPanel
    from dltoolkit.dashboards.training import TrainingDashboard

_LAZY = {
    "TrainingDashboard": "dltoolkit.dashboards.training",
    "RunsPanel": "dltoolkit.dashboards.runs",
    "ExplainDashboard": "dltoolkit.dashboards.inspect",
    "AttackDashboard": "dltoolkit.dashboards.inspect",
    "EpisodePlayer": "dltoolkit.dashboards.episode",
}

__all__ = ["AttackDashboard", "EpisodePlayer", "ExplainDashboard", "RunsPanel", "TrainingDashboard"]


def __getattr__(name: str) -> Any:
    return export(__name__, _LAZY, name)


def __dir__() -> list[str]:
    return listing(globals(), _LAZY)

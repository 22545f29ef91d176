"""Run folders: launch training as its own process, watch it, stop it, resume it.

    from dltoolkit.runs import launch, list_runs
    run = launch("mlp", model_args={"hidden_sizes": [16]}, trainer_args={"max_epochs": 2})
    run.wait(timeout=120)["state"]     # "finished"
    run.metrics()                      # rows of <run>/metrics.csv, written by Lightning's CSVLogger
    [r.run_id for r in list_runs()]    # newest first

A run is the folder ``<runs_root>/<run_id>/`` (runs root: argument, else ``$DLTOOLKIT_RUNS``, else
``./dltoolkit-runs``) holding ``config.yaml`` (a LightningCLI config: ``dltoolkit fit --config`` reproduces
the run), ``status.json`` (replaced atomically), ``metrics.csv`` and ``hparams.yaml`` (CSVLogger),
``checkpoints/`` (``last.ckpt`` plus the latest epoch), ``process.log`` (stdout and stderr) and ``pid``.

This module imports no torch: the Lightning side (status callback, atomic checkpoints, the appending
CSV logger) lives in :mod:`dltoolkit.runs.callbacks`, loaded by the training process only.
"""

from __future__ import annotations

from dltoolkit.runs.run import (
    FINAL_STATES,
    RUN_ID_PATTERN,
    Run,
    launch,
    list_runs,
    make_run_id,
    resolve_runs_root,
    validate_run_id,
    write_json_atomic,
)

__all__ = [
    "FINAL_STATES",
    "RUN_ID_PATTERN",
    "Run",
    "launch",
    "list_runs",
    "make_run_id",
    "resolve_runs_root",
    "validate_run_id",
    "write_json_atomic",
]

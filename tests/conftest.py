"""Shared fixtures: quiet, CPU-only, deterministic trainers for fast tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def fast_trainer(tmp_path: Any) -> Any:
    """A factory for small Lightning Trainers writing into ``tmp_path``: ``fast_trainer(max_epochs=2)``."""
    import lightning.pytorch as pl

    def make(**overrides: Any) -> pl.Trainer:
        kwargs: dict[str, Any] = {
            "default_root_dir": tmp_path,
            "accelerator": "cpu",
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "enable_checkpointing": False,
        }
        kwargs.update(overrides)
        return pl.Trainer(**kwargs)

    return make

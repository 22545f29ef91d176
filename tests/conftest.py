"""Shared fixtures: quiet, CPU-only, deterministic trainers for fast tests."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def _poll(what: Callable[[], Any], timeout: float = 90.0, interval: float = 0.05) -> Any:
    """Call ``what`` until it returns something truthy (and return that); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def poll() -> Callable[..., Any]:
    """Wait for a condition that another process or thread makes true: ``poll(lambda: run.done)``."""
    return _poll

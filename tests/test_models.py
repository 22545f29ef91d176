"""Every catalog model, without anyone adding a test: shapes, a fast_dev_run fit, exact checkpoint round trip,
and a clear error for a wrong input shape. Parametrized over ``list_models()`` (timm's habit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from dltoolkit.catalog import create_data, create_model, get_spec, list_models

# RL agents act on environments, not image batches: tests/test_rl.py runs the same checks (a fast_dev_run fit,
# exact checkpoint round trip, wrong-shape error) over every ``rl`` model, also without anyone adding a test.
MODELS = [name for name in list_models() if get_spec(name).topic != "rl"]


def _model_and_data(name: str) -> tuple[Any, Any]:
    spec = get_spec(name)
    dm = create_data(spec.data, **{**spec.data_hparams, "batch_size": 16})
    return create_model(name, data=dm), dm


@pytest.mark.parametrize("name", MODELS)
def test_output_shape(name: str) -> None:
    model, dm = _model_and_data(name)
    model.eval()
    x = torch.rand(3, *dm.input_shape)
    out = model(x)
    assert out.shape == (3, dm.num_classes)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_wrong_input_shape_names_the_expected_one(name: str) -> None:
    model, dm = _model_and_data(name)
    c, h, w = dm.input_shape
    with pytest.raises(
        ValueError, match=rf"expects input of shape \(B, {c}, {h}, {w}\), got \(2, {c + 2}, {h}, {w}\)"
    ):
        model(torch.rand(2, c + 2, h, w))
    with pytest.raises(ValueError, match="expects input of shape"):
        model(torch.rand(c, h, w))  # a single image without its batch axis


@pytest.mark.parametrize("name", MODELS)
def test_fast_dev_run_fit_and_exact_checkpoint_round_trip(
    name: str, fast_trainer: Any, tmp_path: Path
) -> None:
    model, dm = _model_and_data(name)
    trainer = fast_trainer(fast_dev_run=2)
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit(model, dm)
    changed = any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed, "a training step must update the weights"
    ckpt = tmp_path / "model.ckpt"
    trainer.save_checkpoint(ckpt)
    restored = type(model).load_from_checkpoint(ckpt, map_location="cpu")
    assert dict(restored.hparams) == dict(model.hparams)
    model.eval()
    restored.eval()
    x = torch.rand(4, *dm.input_shape)
    with torch.no_grad():
        assert torch.equal(model(x), restored(x))

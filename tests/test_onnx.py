"""ONNX export: checker, onnxruntime parity on real digits, dynamic batch, and the predictor's checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dltoolkit.catalog import create_data, create_model
from dltoolkit.deploy import OnnxPredictor, export_onnx


@pytest.fixture(scope="module")
def digits() -> dict[str, torch.Tensor]:
    """Real test images, normalised as the models take them: 8x8 and 28x28."""
    out = {}
    for name, kwargs in (("digits", {}), ("digits28", {})):
        dm = create_data(name, **kwargs)
        dm.setup("test")
        out[name] = torch.stack([dm.test_set[i][0] for i in range(64)])
    return out


@pytest.mark.parametrize(("name", "data"), [("mlp", "digits"), ("lenet", "digits28"), ("resnet", "digits")])
def test_export_matches_pytorch_on_real_images_at_any_batch_size(
    name: str, data: str, digits: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = create_model(name, data=create_data(data)).eval()
    images = digits[data]
    result = export_onnx(model, tmp_path / f"{name}.onnx", inputs=images)
    assert result.max_abs_diff <= 1e-4 and result.verified_batch_sizes == (64, 1)
    assert result.opset >= 17 and result.size_bytes == result.path.stat().st_size
    predictor = OnnxPredictor(result.path)
    assert predictor.input_shape == (None, *images.shape[1:])  # the batch axis is dynamic
    for batch in (images[:1], images[:7], images):
        with torch.no_grad():
            expected = model(batch).numpy()
        assert np.abs(predictor(batch.numpy()) - expected).max() <= 1e-4
    assert not model.training


def test_predictor_says_what_it_expected(tmp_path: Path) -> None:
    model = create_model("mlp", hidden_sizes=[8])
    path = export_onnx(model, tmp_path / "mlp.onnx").path
    predictor = OnnxPredictor(path)
    assert predictor(np.zeros((2, 1, 8, 8), dtype=np.float64)).shape == (2, 10)  # float64 is cast
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, 1, 8, 8\), got \(2, 8, 8\)"):
        predictor(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, 1, 8, 8\), got \(1, 1, 9, 9\)"):
        predictor(np.zeros((1, 1, 9, 9)))
    with pytest.raises(ValueError, match="at least one sample"):
        predictor(np.zeros((0, 1, 8, 8)))
    with pytest.raises(ValueError, match="must be numbers"):
        predictor(np.array([["a"]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        predictor(np.full((1, 1, 8, 8), np.nan))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="is not a loadable ONNX model"):
        OnnxPredictor(broken)
    with pytest.raises(FileNotFoundError, match="no ONNX file"):
        OnnxPredictor(tmp_path / "none.onnx")


def test_bad_exports_are_refused_and_leave_no_file(tmp_path: Path) -> None:
    model = create_model("mlp", hidden_sizes=[8])
    with pytest.raises(ValueError, match=r"inputs must be \(B, 1, 8, 8\), got \(4, 3, 8, 8\)"):
        export_onnx(model, tmp_path / "a.onnx", inputs=torch.zeros(4, 3, 8, 8))
    with pytest.raises(ValueError, match="disagrees with PyTorch"):
        export_onnx(model, tmp_path / "b.onnx", tolerance=-1.0)  # nothing can pass a negative tolerance
    assert not list(tmp_path.iterdir())

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


@pytest.fixture(scope="module")
def trained_lenet() -> tuple[torch.nn.Module, torch.Tensor, np.ndarray]:
    """A LeNet trained 3 epochs on 28x28 digits, and the whole test split (what it takes, labels)."""
    import lightning.pytorch as pl

    pl.seed_everything(0, verbose=False)
    dm = create_data("digits28")
    model = create_model("lenet", data=dm)
    pl.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(model, dm)  # fmt: skip
    dm.setup("test")
    images = torch.stack([dm.test_set[i][0] for i in range(len(dm.test_set))])
    labels = np.array([dm.test_set[i][1] for i in range(len(dm.test_set))])
    return model.eval(), images, labels


def test_int8_quantisation_shrinks_the_file_and_keeps_accuracy(
    trained_lenet: tuple[torch.nn.Module, torch.Tensor, np.ndarray], tmp_path: Path
) -> None:
    from dltoolkit.deploy.optimize import onnx_accuracy, quantize_onnx

    model, images, labels = trained_lenet
    float_file = export_onnx(model, tmp_path / "lenet.onnx", inputs=images[:64]).path
    int8_file = quantize_onnx(float_file, tmp_path / "lenet.int8.onnx")
    assert int8_file.stat().st_size < 0.35 * float_file.stat().st_size
    full, int8 = onnx_accuracy(float_file, images, labels), onnx_accuracy(int8_file, images, labels)
    assert full > 0.9 and int8 >= full - 0.02, (full, int8)
    assert not list(tmp_path.glob(".*prepared*"))  # the intermediate file is cleaned up
    with pytest.raises(ValueError, match="dst must differ from src"):
        quantize_onnx(float_file, float_file)
    with pytest.raises(FileNotFoundError):
        quantize_onnx(tmp_path / "none.onnx", tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="359 images but 3 labels"):
        onnx_accuracy(float_file, images, labels[:3])


def test_pruning_zeroes_the_smallest_weights_of_a_copy(
    trained_lenet: tuple[torch.nn.Module, torch.Tensor, np.ndarray],
) -> None:
    from dltoolkit.deploy.optimize import prune_model, sparsity

    model, images, labels = trained_lenet
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = prune_model(model, amount=0.5)
    assert abs(sparsity(pruned) - 0.5) < 0.01 and sparsity(model) == 0.0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the original is intact
    assert not [n for n, _ in pruned.named_buffers() if n.endswith("_mask")]  # made permanent
    with torch.no_grad():
        accuracy = float((pruned(images).argmax(-1).numpy() == labels).mean())
    assert accuracy > 0.9, accuracy
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
        prune_model(model, amount=1.0)
    with pytest.raises(ValueError, match="no Linear or Conv layer"):
        prune_model(torch.nn.ReLU())

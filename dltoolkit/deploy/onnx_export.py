"""ONNX: export with a dynamic batch axis, verified twice (``onnx.checker`` and onnxruntime parity), and
``OnnxPredictor``, which runs the file with onnxruntime alone (no torch needed to serve it).

    result = export_onnx(model, "lenet.onnx", inputs=test_images)   # raises if ORT disagrees (> 1e-4)
    result.max_abs_diff                                              # e.g. 4e-07
    predictor = OnnxPredictor("lenet.onnx")
    predictor(images).argmax(-1)                                     # numpy logits (B, num_classes)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Largest |ONNX Runtime - PyTorch| accepted on the verification inputs.
TOLERANCE = 1e-4
INPUT_NAME, OUTPUT_NAME = "input", "logits"


@dataclass(frozen=True)
class OnnxExport:
    """What ``export_onnx`` wrote and checked."""

    path: Path
    opset: int
    max_abs_diff: float  # over the verification inputs, ONNX Runtime vs PyTorch
    verified_batch_sizes: tuple[int, ...]
    size_bytes: int


def export_onnx(
    model: Any,
    path: str | os.PathLike[str],
    inputs: Any = None,
    example: Any = None,
    tolerance: float = TOLERANCE,
) -> OnnxExport:
    """Export ``model`` (eval mode) to ONNX with a dynamic batch axis, then verify it: ``onnx.checker``
    (full check) and onnxruntime's outputs against PyTorch's on ``inputs`` (real data, ideally; default:
    the example batch) and on one sample, so two batch sizes are run. A disagreement above ``tolerance``
    is a ``ValueError`` (and the file is removed).

    Args:
        model: a ``torch.nn.Module`` taking one tensor (every catalog classifier).
        path: where the ``.onnx`` file goes.
        inputs: a batch ``(B, ...)`` to verify on (tensor or array).
        example: the batch to trace with (default ``model.example_input_array``).
    """
    import onnx
    import torch

    x = example if example is not None else getattr(model, "example_input_array", None)
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{type(model).__name__} has no example_input_array: pass example= (a batch it takes)"
        )
    check = x if inputs is None else torch.as_tensor(np.asarray(inputs), dtype=x.dtype)
    if tuple(check.shape[1:]) != tuple(x.shape[1:]):
        raise ValueError(f"inputs must be (B, {', '.join(map(str, x.shape[1:]))}), got {tuple(check.shape)}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        batch = torch.export.Dim("batch", min=1)
        program = torch.onnx.export(
            model, (x,), dynamo=True, dynamic_shapes=({0: batch},),
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        )  # fmt: skip
        if program is None:  # (only the legacy exporter returns nothing)
            raise RuntimeError("torch.onnx.export returned no program")
        program.save(str(target))
        onnx.checker.check_model(onnx.load(str(target)), full_check=True)
        predictor = OnnxPredictor(target)
        worst = 0.0
        sizes = []
        with torch.no_grad():
            for batch_inputs in (check, check[:1]):
                expected = model(batch_inputs).cpu().numpy()
                got = predictor(batch_inputs.cpu().numpy())
                worst = max(worst, float(np.abs(got - expected).max()))
                sizes.append(len(batch_inputs))
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    finally:
        model.train(was_training)
    if not worst <= tolerance:
        target.unlink(missing_ok=True)
        raise ValueError(
            f"ONNX Runtime disagrees with PyTorch by {worst:.2e} (> {tolerance:.0e}); not exported"
        )
    opset = next((o.version for o in onnx.load(str(target)).opset_import if o.domain in ("", "ai.onnx")), 0)
    return OnnxExport(target, opset, worst, tuple(sizes), target.stat().st_size)


class OnnxPredictor:
    """An ``.onnx`` classifier run by onnxruntime: ``OnnxPredictor(path)(batch) -> logits``.

    Inputs are checked against the file's own input shape and type (a wrong one is a ``ValueError``
    that says what was expected), so a server can answer a clear 400.
    """

    def __init__(
        self, path: str | os.PathLike[str], providers: list[str] | None = None, threads: int | None = None
    ) -> None:
        import onnxruntime as ort

        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"no ONNX file {source}")
        options = ort.SessionOptions()
        if threads is not None:  # default: onnxruntime's own choice (every core)
            options.intra_op_num_threads = options.inter_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(
                str(source), options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's own errors: a corrupt or truncated file
            raise ValueError(f"{source} is not a loadable ONNX model: {exc}") from exc
        self.path = source
        spec = self.session.get_inputs()[0]
        self.input_name = spec.name
        # (None, 1, 8, 8): None where the axis is dynamic (the batch)
        self.input_shape: tuple[int | None, ...] = tuple(
            d if isinstance(d, int) else None for d in spec.shape
        )
        self.input_dtype = np.float32 if spec.type == "tensor(float)" else np.dtype(spec.type[7:-1])

    def check(self, batch: Any) -> np.ndarray:
        """``batch`` as the array the model takes, or a ``ValueError`` naming the expected shape."""
        array = np.asarray(batch)
        if not np.issubdtype(array.dtype, np.number):
            raise ValueError(f"inputs must be numbers, got dtype {array.dtype}")
        expected = "(" + ", ".join("B" if d is None else str(d) for d in self.input_shape) + ")"
        if array.ndim != len(self.input_shape) or any(
            d is not None and d != n for d, n in zip(self.input_shape, array.shape, strict=True)
        ):
            raise ValueError(f"inputs must have shape {expected}, got {tuple(array.shape)}")
        if len(array) == 0:
            raise ValueError(f"inputs must hold at least one sample of shape {expected}")
        array = array.astype(self.input_dtype, copy=False)
        if not np.isfinite(array).all():
            raise ValueError("inputs contain NaN or infinite values")
        return array

    def __call__(self, batch: Any) -> np.ndarray:
        """Logits ``(B, num_classes)`` of ``batch``."""
        out: np.ndarray = self.session.run(None, {self.input_name: self.check(batch)})[0]
        return out

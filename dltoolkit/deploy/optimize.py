"""Edge optimisation: dynamic int8 quantisation of an ONNX file (onnxruntime) and magnitude pruning of a
PyTorch model (``torch.nn.utils.prune``), each measured by what it costs in accuracy.

    quantize_onnx("lenet.onnx", "lenet.int8.onnx")             # weights int8, activations quantised per batch
    pruned = prune_model(model, amount=0.5)                      # a copy, half its weights zero (global L1)
    sparsity(pruned)                                             # 0.5
    onnx_accuracy("lenet.int8.onnx", images, labels)            # top-1 on real data
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np


def quantize_onnx(src: str | os.PathLike[str], dst: str | os.PathLike[str], per_channel: bool = True) -> Path:
    """Dynamic int8 quantisation of ``src`` into ``dst`` (onnxruntime's ``quantize_dynamic``): weights
    stored as int8, activations quantised on the fly per batch, so no calibration data is needed. The
    model is pre-processed first (shape inference, graph optimisation), as onnxruntime recommends.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, target = Path(src), Path(dst)
    if not source.is_file():
        raise FileNotFoundError(f"no ONNX file {source}")
    if source.resolve() == target.resolve():
        raise ValueError("dst must differ from src: the float model is kept")
    target.parent.mkdir(parents=True, exist_ok=True)
    prepared = target.with_name(f".{target.name}.prepared.onnx")
    try:
        quant_pre_process(str(source), str(prepared))
        quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        prepared.unlink(missing_ok=True)
    return target


def prune_model(model: Any, amount: float = 0.5) -> Any:
    """A copy of ``model`` whose ``amount`` smallest-magnitude weights (over every Linear and Conv layer
    together: global L1 pruning, Han et al. 2015) are zero, made permanent (no masks left behind).
    The original is not changed."""
    import torch.nn.utils.prune as prune
    from torch import nn

    if not 0.0 <= amount < 1.0:
        raise ValueError(f"amount must be in [0, 1), got {amount}")
    pruned = copy.deepcopy(model)
    targets = [
        (module, "weight")
        for module in pruned.modules()
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d)
    ]
    if not targets:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to prune")
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
    for module, name in targets:
        prune.remove(module, name)  # weight = weight_orig * mask, as a plain parameter again
    return pruned


def sparsity(model: Any) -> float:
    """The share of zero weights over the model's Linear and Conv layers."""
    from torch import nn

    total = zeros = 0
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d):
            total += module.weight.numel()
            zeros += int((module.weight == 0).sum())
    return zeros / total if total else 0.0


def onnx_accuracy(path: str | os.PathLike[str], images: Any, labels: Any, batch_size: int = 256) -> float:
    """Top-1 accuracy of the ONNX classifier at ``path`` on ``images`` (as it takes them) and ``labels``."""
    from dltoolkit.deploy.onnx_export import OnnxPredictor

    predictor = OnnxPredictor(path)
    x, y = np.asarray(images), np.asarray(labels)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    predicted = np.concatenate(
        [predictor(x[i : i + batch_size]).argmax(-1) for i in range(0, len(x), batch_size)]
    )
    return float((predicted == y).mean())

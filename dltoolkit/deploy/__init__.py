"""Deployment (curriculum 13): portable save/load with no pickle, TorchScript and ``torch.export``.

    from dltoolkit.deploy import load, save
    save(model, "mlp.safetensors")          # weights (safetensors) + class and hyperparameters (JSON)
    model = load("mlp.safetensors")         # the same model, in eval mode; nothing unpickled
    export_onnx(model, "mlp.onnx", inputs=x)   # dynamic batch; checked by onnx.checker and onnxruntime
    OnnxPredictor("mlp.onnx")(x)            # logits from onnxruntime alone

Names load on first use: ``import dltoolkit.deploy`` imports no torch.
"""

from __future__ import annotations

from typing import Any

from dltoolkit._lazy import export, listing

_WHERE = {
    "FORMAT": "dltoolkit.deploy.portable",
    "save": "dltoolkit.deploy.portable",
    "load": "dltoolkit.deploy.portable",
    "read_header": "dltoolkit.deploy.portable",
    "export_torchscript": "dltoolkit.deploy.portable",
    "export_program": "dltoolkit.deploy.portable",
    "export_onnx": "dltoolkit.deploy.onnx_export",
    "OnnxExport": "dltoolkit.deploy.onnx_export",
    "OnnxPredictor": "dltoolkit.deploy.onnx_export",
    "quantize_onnx": "dltoolkit.deploy.optimize",
    "prune_model": "dltoolkit.deploy.optimize",
    "sparsity": "dltoolkit.deploy.optimize",
    "onnx_accuracy": "dltoolkit.deploy.optimize",
    "ServedModel": "dltoolkit.deploy.serve",
    "load_served_model": "dltoolkit.deploy.serve",
    "create_app": "dltoolkit.deploy.serve",
    "BackgroundServer": "dltoolkit.deploy.serve",
    "serve": "dltoolkit.deploy.serve",
    "export_run_onnx": "dltoolkit.deploy.run_actions",
    "RunServers": "dltoolkit.deploy.run_actions",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    return export(__name__, _WHERE, name)


def __dir__() -> list[str]:
    return listing(globals(), _WHERE)

"""Deployment (curriculum 13): portable save/load with no pickle, TorchScript and ``torch.export``.

    from dltoolkit.deploy import load, save
    save(model, "mlp.safetensors")          # weights (safetensors) + class and hyperparameters (JSON)
    model = load("mlp.safetensors")         # the same model, in eval mode; nothing unpickled

Names load on first use: ``import dltoolkit.deploy`` imports no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "FORMAT": "dltoolkit.deploy.portable",
    "save": "dltoolkit.deploy.portable",
    "load": "dltoolkit.deploy.portable",
    "read_header": "dltoolkit.deploy.portable",
    "export_torchscript": "dltoolkit.deploy.portable",
    "export_program": "dltoolkit.deploy.portable",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'dltoolkit.deploy' has no attribute {name!r}")

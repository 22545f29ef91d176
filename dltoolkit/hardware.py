"""What this machine offers to training: CPU cores, GPUs/TPUs, the accelerator Lightning will pick, and
the versions of the stack (``dltoolkit env``). Curriculum 16.

    from dltoolkit.hardware import describe_environment
    info = describe_environment()
    info["accelerator"]          # "cpu", "cuda", "mps" or "tpu": what Trainer(accelerator="auto") uses
    info["versions"]["torch"]    # "2.14.1"
"""

from __future__ import annotations

import logging
import os
import platform
from importlib import metadata
from typing import Any

#: The distributions whose versions ``dltoolkit env`` reports (absent ones say so).
STACK = (
    "dltoolkit", "torch", "torchvision", "lightning", "torchmetrics", "numpy", "captum", "torchattacks",
    "gymnasium", "onnx", "onnxruntime", "safetensors", "jupyterlab", "anywidget",
)  # fmt: skip


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def describe_environment() -> dict[str, Any]:
    """The hardware and the software stack, JSON-ready.

    ``accelerator`` and ``devices`` are what Lightning itself chooses for ``Trainer(accelerator="auto")``
    (a Trainer is built to ask it, so the answer cannot drift from Lightning's rules).
    """
    import lightning.pytorch as pl
    import torch

    gpus = [
        {
            "index": i,
            "name": torch.cuda.get_device_name(i),
            "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
        }
        for i in range(torch.cuda.device_count())
    ]
    # Lightning announces its choice on its loggers ("GPU available: ..."): quiet while asking it here
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        trainer = pl.Trainer(accelerator="auto", devices="auto", logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)
    accelerator = type(trainer.accelerator).__name__.removesuffix("Accelerator").lower()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpus": gpus,
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "accelerator": "tpu" if accelerator == "xla" else accelerator,
        "devices": trainer.num_devices,
        "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
        "versions": {name: _version(name) for name in STACK},
    }

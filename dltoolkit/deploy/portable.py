"""A model in one portable file, loadable with no pickle; TorchScript and ``torch.export`` exports.

``save`` writes a safetensors file: the weights as tensors and, in its JSON header, the model's class
path and hyperparameters (``model.hparams``, what ``save_hyperparameters()`` recorded). ``load``
rebuilds the class from them and copies the weights in: no code is read from the file (a Lightning
checkpoint is a pickle, which can run anything when it is opened).

    save(model, "lenet.safetensors")
    model = load("lenet.safetensors")               # eval mode, on the CPU
    read_header("lenet.safetensors")["class_path"]  # 'dltoolkit.models.cnn.LeNet'
    export_torchscript(model, "lenet.pt")           # torch.jit.load("lenet.pt")
    export_program(model, "lenet.pt2")              # torch.export.load("lenet.pt2").module()
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

#: The header's ``format`` value: what ``load`` knows how to read.
FORMAT = "dltoolkit-portable/1"


def _jsonable(value: Any, where: str) -> Any:
    """Hyperparameters as JSON (tuples become lists; the classes take any sequence)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(
        f"hyperparameter {where} is a {type(value).__name__}, which a portable file cannot hold "
        "(numbers, strings, booleans, None, lists and dicts of them)"
    )


def _example_input(model: nn.Module, example: Tensor | None) -> Tensor:
    if example is not None:
        return example
    found = getattr(model, "example_input_array", None)
    if not isinstance(found, Tensor):
        raise ValueError(
            f"{type(model).__name__} has no example_input_array: pass example= (a batch it takes)"
        )
    return found


def save(model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` to ``path`` (``.safetensors``): weights, class path and hyperparameters.

    The file is written beside its final name and renamed into place, so a crash never leaves a half
    file under the name. Returns the path.

    >>> save(create_model("mlp"), "mlp.safetensors")
    PosixPath('mlp.safetensors')
    """
    from safetensors.torch import save_model

    cls = type(model)
    if "<locals>" in cls.__qualname__:
        raise ValueError(f"{cls.__qualname__} is defined inside a function: load() could not find it by name")
    hparams = _jsonable(dict(getattr(model, "hparams", {}) or {}), "hparams")
    metadata = {
        "format": FORMAT,
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "hparams": json.dumps(hparams),
        "torch": torch.__version__,
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        save_model(model, str(partial), metadata=metadata)  # handles tied (shared) weights
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The file's header: ``{"format", "class_path", "hparams" (a dict), "torch"}``; a file that is
    missing, truncated, corrupt or not a dltoolkit model is a clear error."""
    from safetensors import safe_open

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"no model file {source}")
    try:
        with safe_open(str(source), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as exc:  # safetensors' own error type: a truncated or corrupt file
        raise ValueError(
            f"{source} is not a readable safetensors file (truncated or corrupt?): {exc}"
        ) from exc
    if metadata.get("format") != FORMAT or "class_path" not in metadata:
        raise ValueError(
            f"{source} is a safetensors file but not a dltoolkit model (expected format {FORMAT!r}, "
            f"got {metadata.get('format')!r}): save it with dltoolkit.deploy.save"
        )
    try:
        hparams = json.loads(metadata.get("hparams", "{}"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: its hyperparameters are not valid JSON: {exc}") from exc
    return {**metadata, "hparams": hparams}


def _model_class(class_path: str) -> type[nn.Module]:
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"the model class {class_path!r} cannot be imported here: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{class_path!r} is not a torch.nn.Module class")
    return cls


def load(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """The model saved at ``path``, rebuilt from its class and hyperparameters, in eval mode on
    ``device``. Every weight must match: a missing or unexpected tensor, or a wrong shape, is an error.

    >>> load("mlp.safetensors")(torch.zeros(1, 1, 8, 8)).shape
    torch.Size([1, 10])
    """
    from safetensors.torch import load_model

    header = read_header(path)
    cls = _model_class(header["class_path"])
    model = cls(**header["hparams"])
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device=str(device))
    except Exception as exc:  # shapes that disagree, a tensor that cannot be read
        raise ValueError(f"{path}: its weights do not fit {cls.__name__}{header['hparams']}: {exc}") from exc
    if missing or unexpected:
        raise ValueError(
            f"{path}: its weights do not match {cls.__name__}: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
    return model.to(device).eval()


def export_torchscript(model: nn.Module, path: str | os.PathLike[str], example: Tensor | None = None) -> Path:
    """Trace ``model`` (eval mode) with ``example`` (default ``model.example_input_array``) into a
    TorchScript file that ``torch.jit.load`` runs without dltoolkit."""
    import lightning.pytorch as pl

    x = _example_input(model, example)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, pl.LightningModule):  # Lightning's own export knows its module's attributes
            model.to_torchscript(file_path=str(target), method="trace", example_inputs=x)
        else:
            with torch.no_grad():
                torch.jit.save(torch.jit.trace(model, x), str(target))
    finally:
        model.train(was_training)
    return target


def export_program(model: nn.Module, path: str | os.PathLike[str], example: Tensor | None = None) -> Path:
    """``torch.export`` ``model`` (eval mode) with a dynamic batch axis into a ``.pt2`` file:
    ``torch.export.load(path).module()(x)`` runs it for any batch size."""
    x = _example_input(model, example)
    was_training = model.training
    model.eval()
    try:
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    finally:
        model.train(was_training)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(target))
    return target

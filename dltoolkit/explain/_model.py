"""What every explanation needs from a model: eval mode for the call, checked inputs and targets, layers.

Shared by ``attributions``, ``sequence``, ``quality`` and ``visualize``; nothing here changes a model
for longer than one call.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from dltoolkit.catalog import unknown_name

#: What a target may be: ``None`` (the predicted class), one class for the whole batch, or one per sample.
Target = int | Sequence[int] | Tensor | None


def submodules(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` and every module inside it, depth first.

    Unlike ``model.modules()`` it keeps no set of the modules seen: that set hashes every module, and a
    torchmetrics ``Metric`` (the catalog's models hold six) hashes its whole state, which made the
    module walk a tenth of a small model's explanation. A module shared twice is visited twice.
    """
    stack = [model]
    while stack:
        module = stack.pop()
        yield module
        stack.extend(child for child in module._modules.values() if child is not None)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for a ``with`` block, then give every submodule its own mode back.

    Dropout and batch norm must not change an explanation from one call to the next; restoring each
    submodule's flag (rather than calling ``train()``) keeps a partly frozen model as it was::

        with eval_mode(model):
            logits = model(x)
    """
    switched = [m for m in submodules(model) if m.training]  # only these change (none if already eval)
    for module in switched:
        module.training = False
    try:
        yield model
    finally:
        for module in switched:
            module.training = True


def expected_input_shape(model: nn.Module) -> tuple[int, ...] | None:
    """The shape of one input, ``(C, H, W)``, from ``model.input_shape`` or ``model.hparams.input_shape``."""
    shape = getattr(model, "input_shape", None)
    if shape is None:
        hparams: Any = getattr(model, "hparams", None)
        shape = hparams.get("input_shape") if hasattr(hparams, "get") else None
    return tuple(int(d) for d in shape) if shape is not None else None


def num_classes_of(model: nn.Module) -> int | None:
    """``model.num_classes`` (or ``model.hparams.num_classes``) when the model says it, else ``None``."""
    n = getattr(model, "num_classes", None)
    if n is None:
        hparams: Any = getattr(model, "hparams", None)
        n = hparams.get("num_classes") if hasattr(hparams, "get") else None
    return int(n) if n is not None else None


def model_device(model: nn.Module) -> torch.device | None:
    """Where the model's parameters live (``None`` for a model without parameters)."""
    for module in submodules(model):  # not model.parameters(): see `submodules`
        for param in module._parameters.values():
            if param is not None:
                return param.device
    return None


def check_inputs(model: nn.Module, inputs: Any) -> Tensor:
    """``inputs`` checked against what ``model`` takes (on the model's device: they are not moved).

    Inputs are what the model's ``forward`` takes: for the catalog's image classifiers a float batch
    ``(B, C, H, W)`` already normalised as the data module normalises it (``Normalize(mean, std)``).
    A wrong type, shape or a NaN/infinite value is a ``TypeError``/``ValueError`` that says what was
    expected: ``check_inputs(model, torch.zeros(4, 1, 8, 8))``.
    """
    if not isinstance(inputs, Tensor):
        raise TypeError(
            f"inputs must be a torch.Tensor (a batch the model takes), got {type(inputs).__name__}"
        )
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must be a floating-point tensor, got dtype {inputs.dtype}")
    shape = expected_input_shape(model)
    if shape is not None and (inputs.ndim != len(shape) + 1 or tuple(inputs.shape[1:]) != shape):
        hint = "; for one image use x.unsqueeze(0)" if tuple(inputs.shape) == shape else ""
        raise ValueError(
            f"{type(model).__name__} takes inputs of shape (B, {', '.join(map(str, shape))}), "
            f"got {tuple(inputs.shape)}{hint}"
        )
    if inputs.ndim == 0 or len(inputs) == 0:
        raise ValueError(f"inputs must be a non-empty batch, got shape {tuple(inputs.shape)}")
    # A finite sum means every value is finite (a NaN or an infinity makes the sum NaN or infinite), and
    # one sum costs a third of an elementwise isfinite here; only a sum that overflows needs the full test.
    if not math.isfinite(float(inputs.sum())) and not torch.isfinite(inputs).all():
        raise ValueError("inputs contain NaN or infinite values; explanations need finite inputs")
    return inputs


def resolve_target(model: nn.Module, inputs: Tensor, target: Target) -> Tensor:
    """One class index per sample, ``(B,)`` long: ``target`` checked, or the predicted class if ``None``.

    ``resolve_target(model, x, None)`` is ``model(x).argmax(-1)`` (in eval mode); an int applies to
    every sample; a sequence or tensor gives one class per sample. Out of ``[0, num_classes)`` is a
    ``ValueError``.
    """
    batch = len(inputs)
    if target is None:
        with torch.no_grad(), eval_mode(model):
            return model(inputs).argmax(-1).reshape(batch)
    n = num_classes_of(model)
    if isinstance(target, int) and not isinstance(target, bool) and n is not None:
        if not 0 <= target < n:  # the common case, checked without making tensors first
            raise ValueError(f"target {target} is out of range: the model has {n} classes (0..{n - 1})")
        return torch.full((batch,), target, dtype=torch.long, device=inputs.device)
    if isinstance(target, bool | str) or not isinstance(target, int | Sequence | Tensor):
        raise TypeError(f"target must be None, an int, or a sequence/tensor of ints, got {target!r}")
    classes = torch.as_tensor(target, device=inputs.device)
    if classes.is_floating_point() or classes.is_complex() or classes.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {classes.dtype}")
    classes = classes.long()
    if classes.ndim == 0:
        classes = classes.expand(batch)
    if classes.shape != (batch,):
        raise ValueError(
            f"target must be one int or {batch} of them (one per sample), got {tuple(classes.shape)}"
        )
    if n is None:  # a model that does not say: ask its output
        with torch.no_grad(), eval_mode(model):
            n = int(model(inputs[:1]).shape[-1])
    bad = (classes < 0) | (classes >= n)
    if bad.any():
        raise ValueError(
            f"target {classes[bad][0].item()} is out of range: the model has {n} classes (0..{n - 1})"
        )
    return classes


def resolve_layer(
    model: nn.Module, layer: str | nn.Module | None, kinds: tuple[type[nn.Module], ...]
) -> tuple[str, nn.Module]:
    """``(name, module)`` of a layer of ``model``: by name, by module, or (``None``) the last of ``kinds``.

    "Last" is the last such module in registration order (``model.named_modules()``), which for the
    catalog's models is the order they run: ``resolve_layer(lenet, None, (nn.Conv2d,))`` is C3.
    """
    named = dict(model.named_modules())
    if layer is None:
        found = [(name, m) for name, m in named.items() if isinstance(m, kinds)]
        if not found:
            wanted = "/".join(k.__name__ for k in kinds)
            raise ValueError(
                f"{type(model).__name__} has no {wanted} layer; pass layer= (a module or its name)"
            )
        return found[-1]
    if isinstance(layer, str):
        if layer not in named or layer == "":
            raise unknown_name("layer", layer, [n for n in named if n])
        return layer, named[layer]
    if isinstance(layer, nn.Module):
        for name, m in named.items():
            if m is layer:
                return name, m
        raise ValueError(f"layer {type(layer).__name__} is not a submodule of {type(model).__name__}")
    raise TypeError(f"layer must be None, a module name or an nn.Module, got {type(layer).__name__}")

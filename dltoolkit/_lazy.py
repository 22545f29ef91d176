"""Lazy exports (PEP 562) for the packages whose public names live in submodules that import torch:
``import dltoolkit.explain`` stays light, ``dltoolkit.explain.explain`` loads its module on first use.

    _WHERE = {"explain": "dltoolkit.explain.attributions"}

    def __getattr__(name: str) -> Any:
        return export(__name__, _WHERE, name)

    def __dir__() -> list[str]:
        return listing(globals(), _WHERE)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any


def export(package: str, where: Mapping[str, str], name: str) -> Any:
    """The attribute ``name`` of ``package``, from the submodule ``where[name]``; else AttributeError."""
    if name in where:
        return getattr(importlib.import_module(where[name]), name)
    raise AttributeError(f"module {package!r} has no attribute {name!r}")


def listing(namespace: Iterable[str], where: Mapping[str, str]) -> list[str]:
    """``dir()`` of such a package: what it holds plus what it exports lazily."""
    return sorted({*namespace, *where})

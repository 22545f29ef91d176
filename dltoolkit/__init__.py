"""dltoolkit: ready, correct PyTorch Lightning models and data for a full deep-learning curriculum.

    >>> import dltoolkit
    >>> model = dltoolkit.create_model("mlp")
    >>> dltoolkit.list_models(topic="cnn")

Importing this package does not import torch or Lightning; they load on first use.
"""

from dltoolkit.catalog import (
    TOPICS,
    create_data,
    create_model,
    hparam_schema,
    list_data,
    list_models,
    register_data,
    register_model,
)

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Jupyter finds the server extension (``dltoolkit.server``) through this package-level hook."""
    return [{"module": "dltoolkit.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The built sidebar (``dltoolkit/labextension``), for ``jupyter labextension develop``."""
    return [{"src": "labextension", "dest": "dltoolkit"}]


__all__ = [
    "TOPICS",
    "create_data",
    "create_model",
    "hparam_schema",
    "list_data",
    "list_models",
    "register_data",
    "register_model",
]

"""Checking a launch request before any process starts: every problem, by field, in one answer.

    errors = launch_errors({"model": "mlp", "model_args": {"dropout": 2.0}})
    # {"model_args": "dropout must be in [0, 1), got 2.0"}

The server answers these as a 400 with per-field errors, which the launch form shows beside its fields.
"""

from __future__ import annotations

from typing import Any

from dltoolkit.catalog import DATA_LINKED, UnknownNameError, schema_errors
from dltoolkit.runs.run import EXTRA_LOGGERS

#: The Trainer options a launch may set, with their JSON schema (the rest keep Lightning's defaults).
TRAINER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "max_epochs": {"type": "integer", "minimum": 1, "maximum": 100000},
        "max_steps": {"type": "integer", "minimum": -1},
        "max_time": {"type": ["string", "null"]},
        "accelerator": {"enum": ["auto", "cpu", "gpu", "cuda", "mps", "tpu"]},
        "devices": {"anyOf": [{"type": "integer", "minimum": -1}, {"type": "string"}]},
        "strategy": {"type": "string"},
        "num_nodes": {"type": "integer", "minimum": 1},
        "precision": {"enum": ["32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true"]},
        "gradient_clip_val": {"type": ["number", "null"], "minimum": 0},
        "accumulate_grad_batches": {"type": "integer", "minimum": 1},
        "limit_train_batches": {"type": ["number", "integer"], "minimum": 0},
        "limit_val_batches": {"type": ["number", "integer"], "minimum": 0},
        "val_check_interval": {"type": ["number", "integer", "null"], "exclusiveMinimum": 0},
        "check_val_every_n_epoch": {"type": "integer", "minimum": 1},
        "log_every_n_steps": {"type": "integer", "minimum": 1},
        "deterministic": {"type": "boolean"},
    },
}
#: The JSON schema of a launch request (the OpenAPI document's and the sidebar client's).
LAUNCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["model"],
    "additionalProperties": False,
    "properties": {
        "model": {"type": "string", "description": "a catalog model name"},
        "data": {"type": ["string", "null"], "description": "a catalog data name; null: the model's default"},
        "model_args": {"type": "object", "description": "hyperparameters (the catalog's hparam schema)"},
        "data_args": {"type": "object", "description": "data module options (the catalog's data schema)"},
        "trainer_args": TRAINER_SCHEMA,
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
        "loggers": {"type": "array", "items": {"enum": list(EXTRA_LOGGERS)}},
    },
}
REQUEST_FIELDS = tuple(LAUNCH_SCHEMA["properties"])


def launch_errors(request: Any) -> dict[str, str]:
    """Per-field problems of a launch request (empty when it can be launched).

    Checks the names against the catalog, each option against the schema derived from the model's and
    the data module's ``__init__``, the Trainer options against ``TRAINER_SCHEMA``, and finally builds the
    model and data module (cheap: no data is read) so that value checks in their ``__init__`` (a dropout
    of 2.0, a negative learning rate) are reported now rather than by a failed run.
    """
    from dltoolkit import catalog

    if not isinstance(request, dict):
        return {"": "expected a JSON object with 'model' and optional " + ", ".join(REQUEST_FIELDS[1:])}
    errors: dict[str, str] = {}
    for key in request:
        if key not in REQUEST_FIELDS:
            errors[key] = f"unknown field; expected {', '.join(REQUEST_FIELDS)}"
    model, data = request.get("model"), request.get("data")
    if not isinstance(model, str) or not model:
        errors["model"] = "required: a catalog model name (see GET /dltoolkit/api/catalog)"
    if data is not None and not isinstance(data, str):
        errors["data"] = "a catalog data module name, or null for the model's default data"
    seed = request.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        errors["seed"] = "an integer in [0, 2**32)"
    loggers = request.get("loggers", [])
    if not isinstance(loggers, list) or any(name not in EXTRA_LOGGERS for name in loggers):
        errors["loggers"] = f"a list of some of {list(EXTRA_LOGGERS)} (CSV is always written)"
    args: dict[str, dict[str, Any]] = {}
    for field in ("model_args", "data_args", "trainer_args"):
        value = request.get(field) or {}
        if not isinstance(value, dict):
            errors[field] = "a JSON object of option names to values"
            value = {}
        args[field] = value
    for key, message in schema_errors(TRAINER_SCHEMA, args["trainer_args"]).items():
        errors[f"trainer_args.{key}"] = message
    if "model" in errors or "data" in errors:
        return errors
    try:
        spec = catalog.get_spec(model)  # type: ignore[arg-type]
    except UnknownNameError as exc:
        return {**errors, "model": str(exc)}
    data_name = data or spec.data
    try:
        dspec = catalog.get_data_spec(data_name)
    except UnknownNameError as exc:
        return {**errors, "data": str(exc)}
    for key in DATA_LINKED:
        if key in args["model_args"]:
            errors[f"model_args.{key}"] = "set from the data module; not an option"
    model_args = {k: v for k, v in args["model_args"].items() if k not in DATA_LINKED}
    for key, message in schema_errors(catalog.hparam_schema(model), model_args).items():  # type: ignore[arg-type]
        errors[f"model_args.{key}"] = message
    for key, message in schema_errors(catalog.data_schema(data_name), args["data_args"]).items():
        errors[f"data_args.{key}"] = message
    if errors:
        return errors
    data_defaults = catalog.resolve(model, data).data_defaults
    try:
        dm = dspec.cls(**{**data_defaults, **args["data_args"]})
    except (ValueError, TypeError, OSError) as exc:
        return {"data_args": str(exc)}
    try:
        catalog.create_model(model, data=dm, **model_args)  # type: ignore[arg-type]
    except OSError as exc:  # the data module read its folder to learn its classes: it is missing
        return {"data_args": str(exc)}
    except (ValueError, TypeError) as exc:
        return {"model_args": str(exc)}
    return {}


#: ``POST runs/{id}/explain``: which test sample, which attribution method, which class.
EXPLAIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["index"],
    "additionalProperties": False,
    "properties": {
        "index": {"type": "integer", "minimum": 0, "description": "a test sample (GET runs/{id}/samples)"},
        "method": {"type": "string", "description": "a name of dltoolkit.explain.METHODS"},
        "target": {"type": ["integer", "null"], "minimum": 0, "description": "class; null: the predicted"},
        "smoothgrad": {"type": "boolean", "description": "average over noisy copies (SmoothGrad)"},
    },
}
#: ``POST runs/{id}/attack``: which test sample, which attack, which L-infinity budget (pixel units).
ATTACK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["index"],
    "additionalProperties": False,
    "properties": {
        "index": {"type": "integer", "minimum": 0, "description": "a test sample (GET runs/{id}/samples)"},
        "attack": {"type": "string", "description": "a name of dltoolkit.robustness.ATTACKS"},
        "eps": {"type": "number", "minimum": 0, "maximum": 1, "description": "L-inf budget in [0, 1]"},
        "curve": {"type": "boolean", "description": "also accuracy vs eps on 64 test images"},
    },
}


def request_errors(schema: dict[str, Any], request: Any) -> dict[str, str]:
    """Per-field problems of a JSON request body against ``schema`` (empty when valid).

    >>> request_errors(ATTACK_SCHEMA, {"index": 0, "eps": -1})
    {'eps': '-1 is less than the minimum of 0'}
    """
    if not isinstance(request, dict):
        return {"": f"the body must be a JSON object, got {type(request).__name__}"}
    return schema_errors(schema, request)

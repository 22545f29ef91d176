"""The catalog: every model and data module dltoolkit knows, by name.

Built-in models register with one decorator line beside their class (as timm's ``@register_model``);
third-party packages add theirs through the entry-point groups ``dltoolkit.models`` and ``dltoolkit.data``
(the entry point names a module to import, whose decorators then register). The CLI, the benchmarks,
the tests and the server all read this one registry.

    >>> from dltoolkit.catalog import create_model, list_models
    >>> model = create_model("mlp", hidden_sizes=[64])
    >>> "resnet" in list_models(topic="cnn")
    True

This module imports no torch: registering and listing are cheap; the classes themselves live in
modules that are imported on first use.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import logging
import threading
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

log = logging.getLogger(__name__)

#: The curriculum's sections, in teaching order: every model belongs to one.
TOPICS: dict[str, str] = {
    "foundations": "1. Foundations: tensors, autograd and networks from scratch",
    "ml-basics": "2. Machine-learning basics: linear and logistic models, losses, generalisation",
    "mlp": "3. Perceptrons and multilayer perceptrons",
    "cnn": "4. Convolutional networks",
    "data": "5. Data: preprocessing and augmentation",
    "training": "6. Training: losses, optimisers, schedules and regularisation",
    "rnn": "7. Recurrent networks: RNN, LSTM, GRU",
    "attention": "8. Sequence-to-sequence, attention and Transformers",
    "embeddings": "9. Embeddings and language models",
    "generative": "10. Generative models: autoencoders, VAEs, GANs, style transfer",
    "rl": "11. Deep reinforcement learning",
    "transfer": "12. Transfer, few-shot, self-supervised and meta-learning",
    "deployment": "13. Deployment and edge optimisation",
    "ethics": "14. Explainability, robustness and fairness",
    "distributed": "15. Distributed training",
    "hardware": "16. Hardware and performance",
    "tuning": "17. Hyperparameter tuning",
}

#: The built-in modules whose import registers models and data modules.
_BUILTIN_MODULES = (
    "dltoolkit.data.digits",
    "dltoolkit.data.vision",
    "dltoolkit.data.shapes",
    "dltoolkit.models.mlp",
    "dltoolkit.models.cnn",
    "dltoolkit.rl.envs",
    "dltoolkit.rl.dqn",
    "dltoolkit.rl.policy_gradient",
)
_ENTRY_POINT_GROUPS = ("dltoolkit.models", "dltoolkit.data")
#: Model arguments that the data module decides (the CLI and create_model fill them from it): an image
#: model's input shape and classes, an RL agent's observation and action spaces (``None`` is a value
#: here: a continuous-action environment has ``num_actions=None``).
DATA_LINKED = (
    "input_shape",
    "num_classes",
    "observation_shape",
    "num_actions",
    "action_dim",
    "action_low",
    "action_high",
)


class UnknownNameError(ValueError):
    """A model, data module or option name that is not registered; the message lists the closest."""


def unknown_name(kind: str, name: str, known: Sequence[str]) -> UnknownNameError:
    """Build the error for an unknown ``name``, naming the closest known ones and all of them.

    >>> str(unknown_name("model", "resnt", ["resnet", "mlp"]))
    "unknown model 'resnt'; did you mean 'resnet'? Known: mlp, resnet"
    """
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownNameError(f"unknown {kind} {name!r}{hint} Known: {', '.join(sorted(known))}")


@dataclass(frozen=True)
class QualityTarget:
    """What a model must reach on its default data, and the budget it gets to do so.

    ``metric`` is a name the model logs (e.g. ``"test/acc"``), compared with ``threshold``
    in the direction ``mode`` after at most ``max_epochs`` epochs and ``max_seconds`` seconds.
    """

    metric: str
    threshold: float
    max_epochs: int
    max_seconds: float = 60.0
    mode: Literal["max", "min"] = "max"

    def reached(self, value: float) -> bool:
        """Whether ``value`` meets the target: ``QualityTarget("test/acc", 0.97, 10).reached(0.98)``."""
        return value >= self.threshold if self.mode == "max" else value <= self.threshold


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry: a LightningModule class with the defaults that make it one named model."""

    name: str
    topic: str
    cls: type
    data: str
    hparams: dict[str, Any] = field(default_factory=dict)
    data_hparams: dict[str, Any] = field(default_factory=dict)
    target: QualityTarget | None = None
    description: str = ""
    #: Trainer options the model trains best with (e.g. ``{"accelerator": "cpu"}`` for RL agents): the CLI,
    #: the launch form and the benchmarks start from them; what the user sets wins
    trainer: dict[str, Any] = field(default_factory=dict)

    def create(self, **overrides: Any) -> Any:
        """Instantiate the model with the spec's defaults, then ``overrides`` (``None`` values dropped)."""
        kwargs = {**self.hparams, **{k: v for k, v in overrides.items() if v is not None}}
        return self.cls(**kwargs)

    @property
    def class_path(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


@dataclass(frozen=True)
class DataSpec:
    """One registered data module: the class and the defaults that make it one named data set."""

    name: str
    cls: type
    hparams: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def create(self, **overrides: Any) -> Any:
        """Instantiate the data module with the spec's defaults, then ``overrides`` (``None`` dropped)."""
        kwargs = {**self.hparams, **{k: v for k, v in overrides.items() if v is not None}}
        return self.cls(**kwargs)

    @property
    def class_path(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


_MODELS: dict[str, ModelSpec] = {}
_DATA: dict[str, DataSpec] = {}
_loaded = False
_load_lock = threading.RLock()  # re-entrant: a plugin module may query the catalog while it loads

T = TypeVar("T", bound=type)


def _first_doc_line(cls: type) -> str:
    return (inspect.getdoc(cls) or "").strip().split("\n")[0]


def register_model(
    name: str,
    *,
    topic: str,
    data: str,
    target: QualityTarget | None = None,
    description: str = "",
    data_hparams: dict[str, Any] | None = None,
    trainer: dict[str, Any] | None = None,
    **hparams: Any,
) -> Callable[[T], T]:
    """Class decorator registering a LightningModule as the catalog model ``name``.

    Stack several decorators to register variants of one class with other defaults (timm's habit)::

        @register_model("resnet", topic="cnn", data="digits", layers=(2, 2, 2, 2))
        @register_model("resnet34", topic="cnn", data="digits", layers=(3, 4, 6, 3))
        class ResNet(ImageClassifier): ...
    """
    if topic not in TOPICS:
        raise unknown_name("topic", topic, list(TOPICS))

    def decorate(cls: T) -> T:
        if name in _MODELS and _MODELS[name].cls is not cls:
            raise ValueError(f"model name {name!r} is already registered by {_MODELS[name].class_path}")
        _MODELS[name] = ModelSpec(
            name=name,
            topic=topic,
            cls=cls,
            data=data,
            hparams=dict(hparams),
            data_hparams=dict(data_hparams or {}),
            target=target,
            description=description or _first_doc_line(cls),
            trainer=dict(trainer or {}),
        )
        return cls

    return decorate


def register_data(name: str, *, description: str = "", **hparams: Any) -> Callable[[T], T]:
    """Class decorator registering a LightningDataModule as the data set ``name``.

    ``@register_data("digits28", resize=28)`` registers a variant with other defaults.
    """

    def decorate(cls: T) -> T:
        if name in _DATA and _DATA[name].cls is not cls:
            raise ValueError(f"data name {name!r} is already registered by {_DATA[name].class_path}")
        _DATA[name] = DataSpec(name, cls, dict(hparams), description or _first_doc_line(cls))
        return cls

    return decorate


def _load() -> None:
    """Import the built-in model and data modules, then every installed plugin, once."""
    global _loaded
    if _loaded:
        return
    with _load_lock:  # the server lists the catalog from worker threads
        if _loaded:
            return
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)
        for group in _ENTRY_POINT_GROUPS:
            for ep in entry_points(group=group):
                try:
                    ep.load()
                except Exception as exc:  # a broken plugin must not take the built-ins down with it
                    log.warning("dltoolkit: plugin %r (%s) failed to load: %s", ep.name, ep.value, exc)
        _loaded = True


def list_models(pattern: str | None = None, *, topic: str | None = None) -> list[str]:
    """Names of registered models, sorted; ``pattern`` is a glob, ``topic`` a key of ``TOPICS``.

    >>> list_models("res*")
    ['resnet', 'resnet34', 'resnet50']
    """
    _load()
    if topic is not None and topic not in TOPICS:
        raise unknown_name("topic", topic, list(TOPICS))
    names = [n for n, s in _MODELS.items() if topic is None or s.topic == topic]
    if pattern:
        names = fnmatch.filter(names, pattern)
    return sorted(names)


def list_data(pattern: str | None = None) -> list[str]:
    """Names of registered data modules, sorted: ``list_data("*mnist")``."""
    _load()
    names = list(_DATA)
    return sorted(fnmatch.filter(names, pattern) if pattern else names)


def get_spec(name: str) -> ModelSpec:
    """The ``ModelSpec`` registered as ``name``; an unknown name lists the closest ones."""
    _load()
    if name not in _MODELS:
        raise unknown_name("model", name, list(_MODELS))
    return _MODELS[name]


def get_data_spec(name: str) -> DataSpec:
    """The ``DataSpec`` registered as ``name``; an unknown name lists the closest ones."""
    _load()
    if name not in _DATA:
        raise unknown_name("data module", name, list(_DATA))
    return _DATA[name]


def create_data(name: str, **overrides: Any) -> Any:
    """Instantiate a registered data module: ``create_data("digits", batch_size=32)``."""
    return get_data_spec(name).create(**overrides)


def create_model(name: str, *, data: Any = None, **overrides: Any) -> Any:
    """Instantiate a registered model with its defaults, then ``overrides`` (``None`` values dropped).

    Models whose ``__init__`` takes ``input_shape``/``num_classes`` get them from ``data`` (a data module,
    or by default the spec's own data set) unless given::

        model = create_model("resnet", lr=3e-3)
        model = create_model("lenet", data=create_data("fashion_mnist", root="~/data"))
    """
    spec = get_spec(name)
    params = init_parameters(spec.cls)
    wanted = [p for p in DATA_LINKED if p in params and overrides.get(p) is None]
    linked: dict[str, Any] = {}
    if wanted:
        dm = data if data is not None else get_data_spec(spec.data).create(**spec.data_hparams)
        linked = {p: getattr(dm, p) for p in wanted if hasattr(dm, p)}
    # linked values pass even when None (no discrete actions), which ``spec.create`` would drop
    kwargs = {**spec.hparams, **{k: v for k, v in overrides.items() if v is not None}, **linked}
    return spec.cls(**kwargs)


class Resolved(typing.NamedTuple):
    """Class paths and catalog defaults of a model and a data module (see ``resolve``)."""

    model_path: str | None
    model_defaults: dict[str, Any]
    data_name: str | None
    data_path: str | None
    data_defaults: dict[str, Any]
    #: the model's Trainer defaults (``ModelSpec.trainer``)
    trainer_defaults: dict[str, Any]


def resolve(model: str | None, data: str | None) -> Resolved:
    """What ``--model NAME --data NAME`` mean: class paths and the catalog's defaults for both.

    A name with a dot (a class path) passes through with no defaults. ``data=None`` means the model's
    own default data set, with the model's data options (``ModelSpec.data_hparams``) on top of the data
    module's. The CLI and ``dltoolkit.runs.launch`` both build their configs from this.

    >>> resolve("lenet", None).data_defaults["resize"]
    28
    """
    spec = None
    model_path, model_defaults, trainer = model, {}, {}
    if model is not None and not _is_class_path(model):
        spec = get_spec(model)
        model_path, model_defaults, trainer = spec.class_path, dict(spec.hparams), dict(spec.trainer)
    if data is None:
        if spec is None:
            return Resolved(model_path, model_defaults, None, None, {}, trainer)
        dspec = get_data_spec(spec.data)
        data_defaults = {**dspec.hparams, **spec.data_hparams}
        return Resolved(model_path, model_defaults, spec.data, dspec.class_path, data_defaults, trainer)
    if _is_class_path(data):
        return Resolved(model_path, model_defaults, data, data, {}, trainer)
    dspec = get_data_spec(data)
    return Resolved(model_path, model_defaults, data, dspec.class_path, dict(dspec.hparams), trainer)


def _is_class_path(name: str) -> bool:
    return "." in name or name.startswith("{")  # a dotted path, or LightningCLI's inline config


# --- hyperparameter schemas, derived from the typed __init__ (never written twice) ---


def init_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of ``cls.__init__``, following ``**kwargs`` up the base classes.

    A subclass that forwards ``**kwargs`` to ``super().__init__`` accepts its bases' parameters too,
    as jsonargparse (and so the CLI) also understands.
    """
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        has_var_kw = False
        for p in inspect.signature(init, eval_str=True).parameters.values():  # resolves postponed annotations
            if p.name == "self" or p.kind is p.VAR_POSITIONAL:
                continue
            if p.kind is p.VAR_KEYWORD:
                has_var_kw = True
                continue
            params.setdefault(p.name, p)
        if not has_var_kw:
            break
    return params


def _param_docs(cls: type) -> dict[str, str]:
    from docstring_parser import parse

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for doc in (klass.__dict__.get("__doc__"), getattr(klass.__dict__.get("__init__"), "__doc__", None)):
            if doc:
                for p in parse(doc).params:
                    if p.description:
                        docs[p.arg_name] = " ".join(p.description.split())
    return docs


def _type_schema(tp: Any) -> dict[str, Any]:
    """JSON schema of one annotation (the subset hyperparameters use)."""
    origin = get_origin(tp)
    if tp is Any or tp is inspect.Parameter.empty:
        return {}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if tp is type(None):
        return {"type": "null"}
    if origin is Literal:
        values = list(get_args(tp))
        return {"enum": values, "type": _json_type(values[0])}
    if origin in (Union, types.UnionType):
        options = [_type_schema(a) for a in get_args(tp)]
        return {"anyOf": options}
    if origin in (list, tuple, Sequence, typing.Sequence) or tp in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = _type_schema(args[0])
        if origin is tuple and args and Ellipsis not in get_args(tp):
            schema["minItems"] = schema["maxItems"] = len(args)
        return schema
    if origin is dict or tp is dict:
        return {"type": "object"}
    return {}


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value), "string")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def class_schema(cls: type, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON schema (draft 7) of ``cls``'s hyperparameters, read from its typed ``__init__`` and docstring."""
    params = init_parameters(cls)
    docs = _param_docs(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, p in params.items():
        prop = _type_schema(p.annotation)
        default = (defaults or {}).get(name, p.default)
        if default is not inspect.Parameter.empty:
            prop["default"] = _jsonable(default)
        else:
            required.append(name)
        prop["title"] = name
        if name in docs:
            prop["description"] = docs[name]
        properties[name] = prop
    schema: dict[str, Any] = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": cls.__name__,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def hparam_schema(name: str) -> dict[str, Any]:
    """JSON schema of the hyperparameters of catalog model ``name``, with its defaults filled in.

    >>> hparam_schema("mlp")["properties"]["activation"]["enum"]
    ['relu', 'leaky_relu', 'gelu', 'sigmoid', 'tanh']
    """
    spec = get_spec(name)
    schema = class_schema(spec.cls, spec.hparams)
    linked = [p for p in DATA_LINKED if p in schema["properties"]]
    if linked:  # shown with the default data's values, but the data module sets them
        dm = get_data_spec(spec.data).create(**spec.data_hparams)
        for p in linked:
            if hasattr(dm, p):  # None is a value too (an RL agent's num_actions on continuous actions)
                schema["properties"][p].update(default=_jsonable(getattr(dm, p)), readOnly=True)
    return schema


def data_schema(name: str) -> dict[str, Any]:
    """JSON schema of the options of data module ``name``: ``data_schema("digits")["properties"]``."""
    spec = get_data_spec(name)
    return class_schema(spec.cls, spec.hparams)


def describe_catalog() -> dict[str, Any]:
    """Everything a front end needs to list and launch models, as JSON-ready data.

    >>> sorted(describe_catalog())
    ['data', 'models', 'topics']
    """
    models = []
    for name in list_models():
        spec = get_spec(name)
        t = spec.target
        models.append(
            {
                "name": name,
                "topic": spec.topic,
                "description": spec.description,
                "class_path": spec.class_path,
                "data": spec.data,
                "data_defaults": {k: _jsonable(v) for k, v in spec.data_hparams.items()},
                "target": None if t is None else {**t.__dict__},
                "trainer": {k: _jsonable(v) for k, v in spec.trainer.items()},
                "schema": hparam_schema(name),
            }
        )
    data = [
        {"name": n, "description": get_data_spec(n).description, "schema": data_schema(n)}
        for n in list_data()
    ]
    topics = [{"key": k, "title": v, "models": list_models(topic=k)} for k, v in TOPICS.items()]
    return {"topics": topics, "models": models, "data": data}


def schema_errors(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
    """Per-field errors of ``values`` against a ``class_schema`` (empty when valid): what a form shows.

    >>> schema_errors(hparam_schema("mlp"), {"dropout": "high"})
    {'dropout': "'high' is not of type 'number'"}
    """
    from jsonschema import Draft7Validator

    errors: dict[str, str] = {}
    known = schema.get("properties", {})
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            errors[key] = f"unknown option; {hint}known: {', '.join(known)}"
    for key in schema.get("required", []):
        if key not in values:
            errors[key] = "required"
    checked = {k: v for k, v in values.items() if k in known}
    per_field = {k: v for k, v in schema.items() if k not in ("required", "additionalProperties")}
    for err in Draft7Validator(per_field).iter_errors(checked):
        errors.setdefault(str(err.path[0]) if err.path else "", err.message)
    return errors

"""The registry: listing, lookup, errors, schemas derived from __init__, and a real entry-point plugin."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from dltoolkit import catalog
from dltoolkit.catalog import (
    TOPICS,
    UnknownNameError,
    create_model,
    get_spec,
    hparam_schema,
    init_parameters,
    list_data,
    list_models,
)

REQUIRED_MODELS = {"perceptron", "mlp", "lenet", "vgg", "resnet", "resnet34", "resnet50", "inception"}


def test_catalog_has_the_foundation_models() -> None:
    assert set(list_models()) >= REQUIRED_MODELS
    assert {"digits", "digits28", "mnist", "fashion_mnist", "cifar10", "image_folder", "shapes"} <= set(
        list_data()
    )


def test_topics_cover_the_curriculum_and_every_model_has_one() -> None:
    assert len(TOPICS) == 17
    for name in list_models():
        assert get_spec(name).topic in TOPICS
    assert set(list_models(topic="cnn")) >= {"lenet", "vgg", "resnet", "inception"}
    assert "mlp" not in list_models(topic="cnn")


def test_glob_filters_names() -> None:
    assert list_models("resnet*") == ["resnet", "resnet34", "resnet50"]
    assert list_models("nothing-like-this*") == []


def test_unknown_model_lists_closest_names() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown model 'resnt'; did you mean 'resnet'"):
        create_model("resnt")
    with pytest.raises(UnknownNameError, match=r"Known: .*mlp"):
        get_spec("zzz")


def test_unknown_topic_is_an_error() -> None:
    with pytest.raises(UnknownNameError, match="unknown topic 'cnns'; did you mean 'cnn'"):
        list_models(topic="cnns")


def test_every_model_has_a_quality_target_and_description() -> None:
    for name in list_models():
        spec = get_spec(name)
        assert spec.target is not None, name
        # a 2-core CPU budget: a minute, three for reinforcement learning (which must act to see data)
        assert spec.target.max_seconds <= (180 if spec.topic == "rl" else 60), name
        assert spec.description, name


def test_create_model_applies_spec_defaults_and_drops_none() -> None:
    model = create_model("mlp", hidden_sizes=[32], lr=None)
    assert model.hparams.hidden_sizes == [32]
    assert model.hparams.lr == get_spec("mlp").hparams.get("lr", 1e-3)
    # input shape and classes come from the spec's default data
    assert model.input_shape == (1, 8, 8) and model.num_classes == 10
    lenet = create_model("lenet")
    data_resize = get_spec("lenet").data_hparams.get("resize", 8)
    assert lenet.input_shape == (1, data_resize, data_resize)


def test_registering_a_taken_name_with_another_class_fails() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @catalog.register_model("mlp", topic="mlp", data="digits")
        class Other:
            pass


def test_schema_is_derived_from_the_typed_init() -> None:
    schema = hparam_schema("mlp")
    props = schema["properties"]
    params = init_parameters(get_spec("mlp").cls)
    assert set(props) == set(params)  # subclass args and, through **kwargs, the base's
    assert props["activation"]["enum"] == ["relu", "leaky_relu", "gelu", "sigmoid", "tanh"]
    assert props["hidden_sizes"] == {
        "type": "array",
        "items": {"type": "integer"},
        "default": [256, 128],
        "title": "hidden_sizes",
        "description": props["hidden_sizes"]["description"],
    }
    assert props["lr"]["type"] == "number"
    assert props["batch_norm"]["type"] == "boolean"
    assert props["optimizer"]["enum"] == ["sgd", "adam", "adamw", "rmsprop"]
    assert "dropout" in props["dropout"]["description"].lower()
    # a spec's own defaults replace the signature's
    for name in list_models():
        s = hparam_schema(name)
        for key, value in get_spec(name).hparams.items():
            expected = list(value) if isinstance(value, tuple) else value
            assert s["properties"][key]["default"] == expected, (name, key)


def test_schema_defaults_build_the_model() -> None:
    for name in list_models():
        schema = hparam_schema(name)
        props = schema["properties"]
        # the form's defaults alone are a valid model of the spec's default data
        kwargs = {k: p["default"] for k, p in props.items() if "default" in p}
        model = get_spec(name).cls(**kwargs)
        linked = "observation_shape" if get_spec(name).topic == "rl" else "input_shape"
        assert list(getattr(model, linked)) == props[linked]["default"], name
        assert props[linked]["readOnly"] is True  # set from the data module, not typed in


def test_entry_point_plugin_from_an_installed_distribution() -> None:
    dist = importlib.metadata.distribution("dltoolkit-example-plugin")  # really installed, not mocked
    eps = [ep for ep in dist.entry_points if ep.group == "dltoolkit.models"]
    assert [ep.value for ep in eps] == ["dltoolkit_example_plugin"]
    assert "softmax_regression" in list_models(topic="ml-basics")
    model = create_model("softmax_regression")
    assert type(model).__module__ == "dltoolkit_example_plugin"
    assert hparam_schema("softmax_regression")["properties"]["bias"]["type"] == "boolean"


@pytest.mark.parametrize(
    "modules",
    [
        "dltoolkit, dltoolkit.models, dltoolkit.catalog",
        "dltoolkit.server, dltoolkit.server.handlers",  # loaded by every JupyterLab start
        "dltoolkit.runs",  # read by the server and dashboards
        "dltoolkit.dashboards",  # imported in notebooks before anything trains
        # their names load on first use
        "dltoolkit.explain, dltoolkit.robustness, dltoolkit.fairness, dltoolkit.inspector, dltoolkit.deploy",
    ],
)
def test_light_modules_import_no_torch(modules: str) -> None:
    heavy = ("torch", "lightning", "captum", "torchattacks")
    code = f"import sys, {modules}\nprint(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", modules


def test_schema_errors_are_per_field() -> None:
    from dltoolkit.catalog import data_schema, schema_errors

    schema = hparam_schema("mlp")
    assert schema_errors(schema, {"lr": 0.01, "hidden_sizes": [8, 4], "activation": "gelu"}) == {}
    errors = schema_errors(
        schema,
        {"dropout": "high", "hidden_sizes": [1, "a"], "activation": "swish", "lrr": 0.1, "nesterov": 1},
    )
    assert set(errors) == {"dropout", "hidden_sizes", "activation", "lrr", "nesterov"}
    assert "'high' is not of type 'number'" in errors["dropout"]
    assert "'swish' is not one of" in errors["activation"]
    assert errors["lrr"].startswith("unknown option; did you mean 'lr'?")
    assert schema_errors(data_schema("image_folder"), {"image_size": 16}) == {"root": "required"}

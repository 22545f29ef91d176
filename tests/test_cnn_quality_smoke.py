"""The convolutional families work on every image size the curriculum uses, and LeNet reaches its target."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dltoolkit.catalog import create_data, create_model, get_spec, list_models

CNNS = list_models(topic="cnn")
SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


def test_the_four_families_and_their_variants_are_registered() -> None:
    assert {"lenet", "vgg", "resnet", "resnet34", "resnet50", "inception"} <= set(CNNS)
    for name in CNNS:
        spec = get_spec(name)
        assert spec.target is not None and spec.target.max_seconds <= 60
        assert spec.description


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", CNNS)
def test_any_small_image_size_gives_one_logit_per_class(name: str, shape: tuple[int, int, int]) -> None:
    model = create_model(name, input_shape=shape, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *shape)).shape == (2, 7)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 64, 64)])
@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_resnet_imagenet_stem_never_collapses_the_image(block: str, shape: tuple[int, int, int]) -> None:
    model = create_model(
        "resnet", block=block, layers=(1, 1, 1, 1), width=8, stem="imagenet", input_shape=shape
    )
    with torch.no_grad():
        assert model.eval()(torch.randn(2, *shape)).shape == (2, 10)


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("lenet", {"activation": "tanh", "pooling": "avg"}),
        ("vgg", {"blocks": (2, 2), "widths": (16, 32), "batch_norm": False, "hidden": 0}),
        ("inception", {"branch": "double3x3", "blocks": (2,), "widths": (32,)}),
    ],
)
def test_options_build_working_networks(name: str, overrides: dict[str, Any]) -> None:
    model = create_model(name, **overrides).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *model.input_shape)).shape == (2, 10)


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("lenet", {"activation": "gelu"}),
        ("vgg", {"blocks": (1, 1), "widths": (8,)}),
        ("resnet", {"block": "wide"}),
        ("inception", {"widths": (60, 128)}),
    ],
)
def test_bad_options_are_value_errors(name: str, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        create_model(name, **overrides)


@pytest.mark.slow
def test_lenet_reaches_its_catalog_target(fast_trainer: Any) -> None:
    import lightning.pytorch as pl

    spec = get_spec("lenet")
    assert spec.target is not None
    pl.seed_everything(0, verbose=False)
    dm = create_data(spec.data, **spec.data_hparams)
    model = create_model("lenet", data=dm)
    # epochs only: the time budget is the benchmark's to check (a loaded CI machine must not fail this)
    trainer = fast_trainer(max_epochs=spec.target.max_epochs)
    trainer.fit(model, dm)
    acc = trainer.test(model, dm, verbose=False)[0][spec.target.metric]
    assert spec.target.reached(acc), f"lenet test/acc {acc:.4f} < {spec.target.threshold}"

"""Portable save/load (safetensors + JSON, no pickle), TorchScript and torch.export round trips."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from dltoolkit.catalog import create_model, list_models
from dltoolkit.deploy import FORMAT, export_program, export_torchscript, load, read_header, save


@pytest.mark.parametrize("name", list_models())
def test_every_catalog_model_survives_save_and_load(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    path = save(model, tmp_path / f"{name}.safetensors")
    assert not list(tmp_path.glob(".*.partial"))  # written beside its name, then renamed
    header = read_header(path)
    assert header["format"] == FORMAT and header["class_path"].endswith(type(model).__qualname__)
    loaded = load(path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = getattr(model, "example_input_array", None)
    if isinstance(x, torch.Tensor):
        with torch.no_grad():
            assert torch.equal(loaded(x), model(x))


def test_the_file_holds_no_pickle_and_its_header_is_json(tmp_path: Path) -> None:
    path = save(create_model("mlp", hidden_sizes=[16]), tmp_path / "mlp.safetensors")
    raw = path.read_bytes()
    header_size = int.from_bytes(raw[:8], "little")  # safetensors: u64 size, then the JSON header
    header = json.loads(raw[8 : 8 + header_size])
    assert json.loads(header["__metadata__"]["hparams"])["hidden_sizes"] == [16]
    assert not raw[8 : 8 + header_size].startswith(b"\x80")  # JSON, not a pickle stream
    assert load(path).hparams["hidden_sizes"] == [16]


def test_broken_files_are_clear_errors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    good = save(create_model("mlp", hidden_sizes=[8]), tmp_path / "good.safetensors")
    with pytest.raises(FileNotFoundError, match="no model file"):
        load(tmp_path / "missing.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\xff" * 64)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load(garbage)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match="not a dltoolkit model"):
        load(plain)
    not_a_model = tmp_path / "os.safetensors"
    save_file({"w": torch.zeros(2)}, str(not_a_model), metadata={"format": FORMAT, "class_path": "os.getcwd"})
    with pytest.raises(ValueError, match=r"'os\.getcwd' is not a torch\.nn\.Module class"):
        load(not_a_model)
    partial = tmp_path / "partial.safetensors"
    weights = {
        k: v for k, v in create_model("mlp", hidden_sizes=[8]).state_dict().items() if k != "net.1.weight"
    }
    meta = {
        "format": FORMAT,
        "class_path": "dltoolkit.models.mlp.MLP",
        "hparams": json.dumps({"hidden_sizes": [8]}),
    }
    save_file(weights, str(partial), metadata=meta)
    with pytest.raises(ValueError, match=r"do not match MLP: missing \['net\.1\.weight'\], unexpected \[\]"):
        load(partial)
    wrong_shape = tmp_path / "wrong.safetensors"
    meta["hparams"] = json.dumps({"hidden_sizes": [4]})
    save_file(dict(create_model("mlp", hidden_sizes=[8]).state_dict()), str(wrong_shape), metadata=meta)
    with pytest.raises(ValueError, match="weights do not fit MLP"):
        load(wrong_shape)
    assert load(good).hparams["hidden_sizes"] == [8]  # the good file is untouched by all this


def test_hyperparameters_a_file_cannot_hold_are_refused(tmp_path: Path) -> None:
    model = create_model("mlp")
    model.hparams["callback"] = object()
    with pytest.raises(TypeError, match=r"hyperparameter hparams\.callback is a object"):
        save(model, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("name", ["mlp", "lenet", "resnet"])
def test_torchscript_and_torch_export_run_without_dltoolkit(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = model.example_input_array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated by PyTorch itself
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.load(str(export_torchscript(model, tmp_path / f"{name}.pt")))
    program = torch.export.load(str(export_program(model, tmp_path / f"{name}.pt2"))).module()
    batch = torch.cat([x, x, x[:1]])  # another batch size: the batch axis is dynamic
    with torch.no_grad():
        expected = model(batch)
        assert torch.allclose(scripted(x), model(x), atol=1e-5)
        assert torch.allclose(program(batch), expected, atol=1e-5)
    assert model.training is False
    with pytest.raises(ValueError, match="no example_input_array: pass example="):
        export_program(torch.nn.Linear(2, 2), tmp_path / "linear.pt2")

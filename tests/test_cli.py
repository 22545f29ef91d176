"""The ``dltoolkit`` command, run as a user runs it: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dltoolkit.cli import expand_catalog_names


def dltoolkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "dltoolkit.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def test_fit_by_catalog_name_writes_a_reproducible_config(tmp_path: Path) -> None:
    res = dltoolkit(
        "fit", "--model", "mlp", "--model.hidden_sizes", "[32]", "--model.lr", "0.01",
        "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "lightning_logs" / "version_0"
    config = (run / "config.yaml").read_text()
    assert "class_path: dltoolkit.models.mlp.MLP" in config
    assert "class_path: dltoolkit.data.digits.DigitsDataModule" in config
    assert "lr: 0.01" in config
    metrics = (run / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    assert {"train/loss_epoch", "val/loss", "val/acc"} <= set(header)
    assert list((run / "checkpoints").glob("*.ckpt"))
    # the saved config reproduces the run
    again = dltoolkit("fit", "--config", str(run / "config.yaml"), "--print_config", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "hidden_sizes:\n    - 32" in again.stdout


def test_print_config_shows_catalog_defaults(tmp_path: Path) -> None:
    res = dltoolkit("fit", "--model", "lenet", "--print_config", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "class_path: dltoolkit.models.cnn.LeNet" in res.stdout
    assert "input_shape" in res.stdout


def test_user_flags_override_catalog_defaults() -> None:
    argv = expand_catalog_names(["fit", "--model", "mlp", "--data", "digits28", "--data.batch_size", "8"])
    assert argv[1] == "--model=dltoolkit.models.mlp.MLP"
    assert "--data=dltoolkit.data.digits.DigitsDataModule" in argv
    assert argv.index("--data.init_args.resize=28") < argv.index("--data.batch_size")
    assert argv[-2:] == ["--data.batch_size", "8"]


def test_a_models_trainer_defaults_come_first_so_the_users_win(tmp_path: Path) -> None:
    argv = expand_catalog_names(["fit", "--model", "dqn", "--trainer.accelerator", "gpu"])
    assert argv.index("--trainer.accelerator=cpu") < argv.index("--trainer.accelerator")  # the last wins
    assert "--trainer.accelerator=cpu" not in expand_catalog_names(["fit", "--model", "mlp"])
    res = dltoolkit("fit", "--model", "dqn", "--print_config", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "accelerator: cpu" in res.stdout  # an agent's catalog default


def test_models_command_lists_and_filters(tmp_path: Path) -> None:
    res = dltoolkit("models", "--topic", "cnn", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "resnet" in res.stdout and "lenet" in res.stdout and "mlp " not in res.stdout
    res = dltoolkit("models", "--json", cwd=tmp_path)
    rows = json.loads(res.stdout)
    mlp = next(r for r in rows if r["name"] == "mlp")
    assert mlp["topic"] == "mlp" and mlp["target"].startswith("test/acc ≥ 0.97")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "--model", "resnt"], "unknown model 'resnt'; did you mean 'resnet'"),
        (
            ["fit", "--model", "mlp", "--data", "digitz"],
            "unknown data module 'digitz'; did you mean 'digits'",
        ),
        (
            ["fit", "--model", "mlp", "--data", "mnist", "--data.root", "/nonexistent/mnist"],
            "/nonexistent/mnist",
        ),
        (["fit", "--model", "mlp", "--model.activation", "swishy"], "activation"),
        (["train"], "unknown command 'train'"),
    ],
)
def test_bad_input_is_a_clear_error(args: list[str], message: str, tmp_path: Path) -> None:
    res = (
        dltoolkit(*args, "--trainer.fast_dev_run", "true", cwd=tmp_path)
        if args[0] == "fit"
        else dltoolkit(*args, cwd=tmp_path)
    )
    assert res.returncode != 0
    assert message in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr


def test_bench_lists_every_benchmark_module(capsys: pytest.CaptureFixture[str]) -> None:
    from dltoolkit.cli import main

    assert main(["bench"]) == 2
    usage = capsys.readouterr().err
    listed = usage.split("{", 1)[1].split("}", 1)[0].split(",")
    on_disk = [p.stem for p in (Path(__file__).parents[1] / "benchmarks").glob("*.py")]
    assert sorted(listed) == sorted(n for n in on_disk if n not in ("__init__", "common")), usage
    assert main(["bench", "nothing-such"]) == 2


def test_env_reports_the_hardware_and_the_accelerator_lightning_picks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    from dltoolkit.cli import main

    assert main(["env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cpu_cores"] == os.cpu_count() and info["torch_threads"] == torch.get_num_threads()
    assert info["accelerator"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert len(info["gpus"]) == torch.cuda.device_count()
    assert info["versions"]["torch"] == torch.__version__.split("+")[0]
    assert main(["env"]) == 0
    table = capsys.readouterr().out
    assert "Lightning picks" in table and f"accelerator={info['accelerator']}" in table
    assert "GPU available" not in table  # Lightning's own banner stays quiet
    assert main(["env", "--yaml"]) == 2

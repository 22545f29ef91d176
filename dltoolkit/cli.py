"""The ``dltoolkit`` command: LightningCLI for training, plus catalog listing and benchmarks.

    dltoolkit fit --model resnet --data digits --trainer.max_epochs 5
    dltoolkit fit --model mlp --model.hidden_sizes '[512, 256]' --model.lr 3e-3
    dltoolkit fit --config run.yaml            # a config written by --print_config or by a run
    dltoolkit models --topic cnn
    dltoolkit bench quality --models mlp lenet

``--model`` and ``--data`` take catalog names (or class paths, as LightningCLI does); a model's
catalog defaults and its default data set are filled in unless given. Every ``__init__`` argument of
the model and the data module is a ``--model.NAME`` / ``--data.NAME`` option.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

USAGE = """usage: dltoolkit {fit,validate,test,predict} [--model NAME] [--data NAME] [options]
       dltoolkit models [PATTERN] [--topic TOPIC] [--json]
       dltoolkit data [--json]
       dltoolkit bench NAME [options]   (NAME: a module of benchmarks/, e.g. quality)
       dltoolkit env [--json]
       dltoolkit serve RUN_OR_MODEL_PATH [--name NAME] [--port P] [--max-batch N] [--max-delay-ms MS]

Train, evaluate and benchmark the models of the dltoolkit catalog.
  fit/validate/test/predict   LightningCLI subcommands (see `dltoolkit fit --help`)
  models                      list catalog models (name, topic, default data, quality target)
  data                        list data modules
  bench                       run a benchmark from benchmarks/ (prints a table, writes JSON)
  env                         the hardware (CPU cores, GPUs, the accelerator Lightning picks) and versions
  serve                       a run, .safetensors or .onnx model over TF Serving REST and KServe v2
"""

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _option_value(argv: list[str], flag: str) -> tuple[str | None, list[str]]:
    """Pop ``flag VALUE`` or ``flag=VALUE`` from ``argv``; return the value and the rest."""
    rest: list[str] = []
    value = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
            i += 2
            continue
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return value, rest


def _init_args(key: str, values: dict[str, Any]) -> list[str]:
    # strings go bare (jsonargparse would keep JSON quotes in a str option); the rest as JSON/YAML
    return [f"--{key}.init_args.{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in values.items()]


def expand_catalog_names(argv: list[str]) -> list[str]:
    """Rewrite ``--model NAME`` / ``--data NAME`` catalog names into class paths plus catalog defaults.

    The defaults go first, so anything the user wrote (``--config``, ``--model.lr``) overrides them:

    >>> expand_catalog_names(["fit", "--model", "mlp"])[:3]
    ['fit', '--model=dltoolkit.models.mlp.MLP', '--model.init_args.lr=...']
    """
    from dltoolkit import catalog

    if not argv or argv[0] not in LIGHTNING_SUBCOMMANDS:
        return argv
    sub, rest = argv[0], argv[1:]
    model_name, rest = _option_value(rest, "--model")
    data_name, rest = _option_value(rest, "--data")
    names = catalog.resolve(model_name, data_name)
    prefix: list[str] = []
    if names.model_path is not None:
        prefix += [f"--model={names.model_path}", *_init_args("model", names.model_defaults)]
        prefix += [f"--trainer.{k}={v}" for k, v in names.trainer_defaults.items()]
    if names.data_path is not None:
        prefix += [f"--data={names.data_path}", *_init_args("data", names.data_defaults)]
    return [sub, *prefix, *rest]


def _lightning_cli(argv: list[str]) -> Any:
    """Build and run the LightningCLI (imports torch and Lightning only when training)."""
    import lightning.pytorch as pl
    from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
    from lightning.pytorch.loggers import CSVLogger

    # set by dltoolkit.runs.launch: write status, metrics and checkpoints into this run folder
    run_dir = os.environ.get("DLTOOLKIT_RUN_DIR")

    class DltoolkitCLI(LightningCLI):
        """LightningCLI whose model learns ``input_shape``/``num_classes`` from the data module."""

        def before_instantiate_classes(self) -> None:
            config = self.config[self.subcommand] if self.subcommand else self.config
            link_data_to_model(config)

        def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
            if run_dir:
                from dltoolkit.runs.callbacks import run_trainer_kwargs

                kwargs = {**run_trainer_kwargs(run_dir, self._get(self.config_init, "trainer", {})), **kwargs}
            return super().instantiate_trainer(**kwargs)

    # The expanded arguments go in `args`; sys.argv stays as typed, because DDP's launcher starts the other
    # processes by re-running sys.argv (each expands it the same way). LightningCLI warns when both are
    # set, which here is on purpose.
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended to run from within")
    return DltoolkitCLI(
        model_class=pl.LightningModule,
        datamodule_class=pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=argv,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "logger": {"class_path": f"{CSVLogger.__module__}.CSVLogger", "init_args": {"save_dir": "."}}
        },
        auto_configure_optimizers=False,
        parser_kwargs={"prog": "dltoolkit"},
        # a run's config.yaml is written by dltoolkit.runs.launch, not overwritten by the trainer
        save_config_callback=None if run_dir else SaveConfigCallback,
    )


def link_data_to_model(config: Any) -> None:
    """Set the model's ``input_shape``/``num_classes`` from the data module named in ``config``.

    The data module is constructed (cheap: nothing is read until ``setup``) to ask it; the values land in
    the config, so the saved ``config.yaml`` reproduces the run as it was.
    """
    from jsonargparse import Namespace

    from dltoolkit.catalog import DATA_LINKED, init_parameters

    model, data = config.get("model"), config.get("data")
    if not isinstance(model, Namespace) or not isinstance(data, Namespace) or not data.get("class_path"):
        return
    model_params = init_parameters(import_object(model.class_path))
    wanted = [p for p in DATA_LINKED if p in model_params]
    if not wanted:
        return
    data_cls = import_object(data.class_path)
    init_args = data.get("init_args")
    dm = data_cls(**(init_args.as_dict() if isinstance(init_args, Namespace) else {}))
    if model.get("init_args") is None:
        model.init_args = Namespace()
    for p in wanted:
        if hasattr(dm, p):
            value = getattr(dm, p)
            model.init_args[p] = list(value) if isinstance(value, tuple) else value


def import_object(path: str) -> Any:
    """The object a dotted ``module.Name`` path names: ``import_object("dltoolkit.models.mlp.MLP")``."""
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _list_models(argv: list[str]) -> int:
    from dltoolkit import catalog

    ap = argparse.ArgumentParser(prog="dltoolkit models", description="List the models of the catalog.")
    ap.add_argument("pattern", nargs="?", help="glob over names, e.g. 'res*'")
    ap.add_argument("--topic", choices=list(catalog.TOPICS), help="only this curriculum section")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    rows = []
    for name in catalog.list_models(args.pattern, topic=args.topic):
        spec = catalog.get_spec(name)
        t = spec.target
        target = (
            f"{t.metric} {'≥' if t.mode == 'max' else '≤'} {t.threshold:g} in {t.max_seconds:g} s"
            if t
            else "-"
        )
        rows.append(
            {
                "name": name,
                "topic": spec.topic,
                "data": spec.data,
                "target": target,
                "description": spec.description,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, ["name", "topic", "data", "target", "description"])
    return 0


def _list_data(argv: list[str]) -> int:
    from dltoolkit import catalog

    ap = argparse.ArgumentParser(prog="dltoolkit data", description="List the registered data modules.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = [{"name": n, "description": catalog.get_data_spec(n).description} for n in catalog.list_data()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows, ["name", "description"])
    return 0


def _bench(argv: list[str]) -> int:
    import importlib

    root = Path(__file__).resolve().parents[1]
    # every module of benchmarks/ but the shared helpers is a benchmark: one file, no list to keep
    names = sorted(
        p.stem for p in (root / "benchmarks").glob("*.py") if not p.stem.startswith(("_", "common"))
    )
    if not names:
        print(
            "dltoolkit bench: the benchmarks/ folder ships with the source checkout; run from a clone",
            file=sys.stderr,
        )
        return 2
    if not argv or argv[0] not in names:
        print(f"usage: dltoolkit bench {{{','.join(names)}}} [options]", file=sys.stderr)
        return 2
    sys.path.insert(0, str(root))
    module = importlib.import_module(f"benchmarks.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


def _serve(argv: list[str]) -> int:
    from dltoolkit.deploy.serve import serve

    ap = argparse.ArgumentParser(prog="dltoolkit serve", description="Serve a model over REST.")
    ap.add_argument("source", help="a run folder or id, a .safetensors file (dltoolkit.deploy.save) or .onnx")
    ap.add_argument("--name", help="the model's name in the URLs (default: from the source)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8500)
    ap.add_argument("--max-batch", type=int, default=64, help="samples merged into one batch at most")
    ap.add_argument("--max-delay-ms", type=float, default=5.0, help="how long a request waits for company")
    args = ap.parse_args(argv)
    serve(args.source, args.name, args.host, args.port, args.max_batch, args.max_delay_ms)
    return 0


def _env(argv: list[str]) -> int:
    from dltoolkit.hardware import describe_environment

    if argv not in ([], ["--json"]):
        print("usage: dltoolkit env [--json]", file=sys.stderr)
        return 2
    info = describe_environment()
    if argv:
        print(json.dumps(info, indent=2))
        return 0
    gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in info["gpus"]) or "none"
    rows = [
        {
            "what": "CPU cores",
            "value": f"{info['cpu_cores']} ({info['cpu_cores_usable']} usable; torch threads "
            f"{info['torch_threads']})",
        },
        {"what": "GPUs", "value": gpus + (f"; CUDA {info['cuda']}" if info["cuda"] else "")},
        {"what": "Apple MPS", "value": "yes" if info["mps"] else "no"},
        {"what": "Lightning picks", "value": f"accelerator={info['accelerator']}, devices={info['devices']}"},
        {"what": "bf16 on GPU", "value": "yes" if info["bf16"] else "no"},
        {"what": "python", "value": f"{info['python']} on {info['platform']}"},
    ] + [{"what": name, "value": version or "not installed"} for name, version in info["versions"].items()]
    print_table(rows, ["what", "value"])
    return 0


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print ``rows`` as a plain aligned table (what `dltoolkit models` and the benchmarks show)."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dltoolkit`` command: ``main(["models", "--topic", "cnn"])``."""
    from dltoolkit.catalog import UnknownNameError

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    try:
        if argv[0] == "models":
            return _list_models(argv[1:])
        if argv[0] == "data":
            return _list_data(argv[1:])
        if argv[0] == "bench":
            return _bench(argv[1:])
        if argv[0] == "env":
            return _env(argv[1:])
        if argv[0] == "serve":
            return _serve(argv[1:])
        if argv[0] not in LIGHTNING_SUBCOMMANDS:
            print(f"dltoolkit: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
            return 2
        _lightning_cli(expand_catalog_names(argv))
    except (UnknownNameError, FileNotFoundError, ValueError) as exc:
        print(f"dltoolkit: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

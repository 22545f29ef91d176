"""What does a TrainingDashboard cost a training run?

    python -m benchmarks.dashboards                        # mlp and lenet on digits, 10 epochs, 7 repeats
    python -m benchmarks.dashboards --models mlp --epochs 3 --repeats 3 --in-process

The same model (the very same initial weights), data and epochs are trained by a Lightning ``Trainer``
with and without a ``TrainingDashboard`` in its callbacks, alternating the order, several times, two
baselines:

* ``lean``: nothing written (no logger, no checkpoint); the dashboard then adds the only logger, so its
  cost includes Lightning's logging path (metrics turned into numbers at every logged step);
* ``csv``: Lightning's ``CSVLogger`` and ``ModelCheckpoint`` (what a notebook user usually has).

By default everything runs in a real ipykernel started with jupyter_client, as in a notebook: the
dashboard is displayed, its widget's messages really go out on IOPub (this process reads and counts
them), and a Stop click would be routed to the kernel's subshell. ``--in-process`` runs here instead
(no kernel: the widget's messages go nowhere). Default logging frequency (``log_every_n_steps=50``).

The overhead is median(with) / median(without) - 1 per baseline (target ≤ 3 %); the paired median (each
repeat's two fits ran back to back) and the ratio of the minima are shown beside, being less noisy on a
shared machine. Single fits vary by ±15 % here, more than the effect, so ``in hooks`` adds the
dashboard's own work measured directly: the time spent inside its hooks and logger during a fit (lean
baseline, median of 3 fits), as a share of the fit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import quiet_lightning, write_json

WAYS = ("lean", "lean+dash", "csv", "csv+dash")

# Runs in the kernel (or here, with --in-process): defines bench_setup(name) and bench_fit(...).
KERNEL_CODE = """
import copy, json, os, tempfile, time
import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from benchmarks.common import quiet_lightning
from dltoolkit.catalog import create_data, create_model, get_spec
from dltoolkit.dashboards import TrainingDashboard

quiet_lightning()
_BENCH = {}

def bench_setup(name, threads):
    torch.set_num_threads(threads)
    spec = get_spec(name)
    pl.seed_everything(0, verbose=False)
    dm = create_data(spec.data, **{**spec.data_hparams, "augment": "none"})
    dm.setup("fit")
    _BENCH[name] = (dm, create_model(name, data=dm))
    bench_fit(name, "lean", 1, 0, 50)  # warm-up
    bench_fit(name, "lean+dash", 1, 0, 50)
    return {"steps_per_epoch": len(dm.train_dataloader())}

def bench_fit(name, which, epochs, seed, log_every):
    dm, template = _BENCH[name]
    model = copy.deepcopy(template)
    pl.seed_everything(seed, verbose=False)
    with tempfile.TemporaryDirectory() as root:
        extra = {"logger": False, "enable_checkpointing": False}
        if which.startswith("csv"):
            ckpt = ModelCheckpoint(dirpath=os.path.join(root, "checkpoints"), save_last=True)
            extra = {"logger": CSVLogger(save_dir=root), "callbacks": [ckpt]}
        dash = None
        if which.endswith("+dash"):
            dash = TrainingDashboard()
            display(dash)
            extra["callbacks"] = [*extra.get("callbacks", []), dash]
        trainer = pl.Trainer(
            max_epochs=epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
            enable_model_summary=False, log_every_n_steps=log_every, default_root_dir=root, **extra,
        )
        start = time.perf_counter()
        trainer.fit(model, dm)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(dash.rows) if dash else 0, "steps": trainer.global_step}

_HOOKS = [
    "setup", "on_train_start", "on_train_batch_end", "on_validation_start", "on_validation_end",
    "on_train_epoch_end", "on_train_end", "on_fit_end", "teardown", "_add_row",
]

def bench_hook_time(name, epochs, log_every):
    # seconds spent inside the dashboard's hooks (and its logger) during one fit: its own work
    dm, template = _BENCH[name]
    dash = TrainingDashboard()
    display(dash)
    spent = {}

    def timed(hook, method):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[hook] = spent.get(hook, 0.0) + time.perf_counter() - start
        return call

    for hook in _HOOKS:
        setattr(dash, hook, timed(hook, getattr(dash, hook)))
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_epochs=epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
            enable_model_summary=False, log_every_n_steps=log_every, default_root_dir=root,
            logger=False, enable_checkpointing=False, callbacks=[dash],
        )
        start = time.perf_counter()
        trainer.fit(copy.deepcopy(template), dm)
        seconds = time.perf_counter() - start
    by_hook = {k: 1000 * v for k, v in spent.items()}
    return {"fit_s": seconds, "hooks_s": sum(spent.values()), "by_hook_ms": by_hook}
"""


class Kernel:
    """A real ipykernel (this Python, this checkout on its path) driven by jupyter_client; ``call``
    runs one expression there and returns its JSON result, counting the widget messages it sent."""

    def __init__(self) -> None:
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager

        self._tmp = tempfile.TemporaryDirectory()
        spec = Path(self._tmp.name) / "kernels" / "dltoolkit-bench"
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": "b", "language": "python"})
        )
        repo = str(Path(__file__).resolve().parents[1])
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p),
        }
        self.km = KernelManager(
            kernel_name="dltoolkit-bench",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]),
        )
        self.km.start_kernel(cwd=repo, env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.comm_messages = 0
        self.comm_bytes = 0

    def run(self, code: str, timeout: float = 600) -> str:
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append("\n".join(content["traceback"]))
            elif kind == "comm_msg":
                self.comm_messages += 1
                self.comm_bytes += len(json.dumps(content))

        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook)
        if reply["content"]["status"] != "ok":
            raise RuntimeError("kernel error:\n" + "".join(out))
        return "".join(out)

    def call(self, expression: str) -> Any:
        marker = "@@BENCH@@"
        text = self.run(f"print({marker!r} + json.dumps({expression}))")
        return json.loads(text[text.rindex(marker) + len(marker) :].splitlines()[0])

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        self._tmp.cleanup()


class InProcess:
    """The same calls, in this process (no kernel: widget messages go nowhere)."""

    comm_messages = comm_bytes = 0

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"display": lambda obj: None}
        exec(KERNEL_CODE, self.ns)

    def run(self, code: str) -> str:
        exec(code, self.ns)
        return ""

    def call(self, expression: str) -> Any:
        return json.loads(json.dumps(eval(expression, self.ns)))

    def close(self) -> None:
        pass


def measure(
    host: Kernel | InProcess, name: str, epochs: int, repeats: int, threads: int, log_every: int
) -> dict[str, Any]:
    info = host.call(f"bench_setup({name!r}, {threads})")
    times: dict[str, list[float]] = {w: [] for w in WAYS}
    messages: list[int] = []
    sent_bytes: list[int] = []
    rows = 0
    for rep in range(repeats):
        for base in ("lean", "csv"):
            pair = [base, f"{base}+dash"]
            for which in pair if rep % 2 == 0 else pair[::-1]:  # each first in turn
                before = (host.comm_messages, host.comm_bytes)
                result = host.call(f"bench_fit({name!r}, {which!r}, {epochs}, {rep}, {log_every})")
                times[which].append(result["seconds"])
                if which.endswith("+dash"):
                    rows = result["rows"]
                    messages.append(host.comm_messages - before[0])
                    sent_bytes.append(host.comm_bytes - before[1])
    hooks = [host.call(f"bench_hook_time({name!r}, {epochs}, {log_every})") for _ in range(3)]
    med = {k: statistics.median(v) for k, v in times.items()}
    record: dict[str, Any] = {
        "model": name,
        "epochs": epochs,
        "steps": epochs * info["steps_per_epoch"],
        "log_every_n_steps": log_every,
        "rows_per_fit": rows,
        "times": times,
        "median_s": med,
        "widget_messages_per_fit": statistics.median(messages),
        "widget_kb_per_fit": statistics.median(sent_bytes) / 1024,
        # the dashboard's own work, timed inside its hooks (3 fits): far less noisy than the difference
        "hooks": hooks,
        "hooks_fraction": statistics.median(h["hooks_s"] / h["fit_s"] for h in hooks),
    }
    for base in ("lean", "csv"):
        with_dash, without = times[f"{base}+dash"], times[base]
        record[f"overhead_{base}"] = med[f"{base}+dash"] / med[base] - 1
        record[f"overhead_{base}_paired"] = (
            statistics.median(a / b for a, b in zip(with_dash, without, strict=True)) - 1
        )
        record[f"overhead_{base}_min"] = min(with_dash) / min(without) - 1
    return record


def main(argv: list[str] | None = None) -> int:
    from dltoolkit.cli import print_table

    ap = argparse.ArgumentParser(prog="dltoolkit bench dashboards", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--models", nargs="*", default=["mlp", "lenet"], help="catalog names (default: mlp lenet)"
    )
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steadier)")
    ap.add_argument("--log-every-n-steps", type=int, default=50, help="as the Trainer's (default 50)")
    ap.add_argument("--in-process", action="store_true", help="no kernel: train in this process")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/dashboards.json)")
    args = ap.parse_args(argv)
    quiet_lightning()
    host: Kernel | InProcess = InProcess() if args.in_process else Kernel()
    try:
        if isinstance(host, Kernel):
            host.run(KERNEL_CODE)
        start = time.monotonic()
        records = [
            measure(host, n, args.epochs, args.repeats, args.threads, args.log_every_n_steps)
            for n in args.models
        ]
    finally:
        host.close()
    rows = []
    for r in records:
        m = r["median_s"]
        rows.append(
            {
                "model": r["model"],
                "steps": r["steps"],
                "lean s": f"{m['lean']:.3f}",
                "+dashboard s": f"{m['lean+dash']:.3f}",
                "overhead (paired / min)": f"{100 * r['overhead_lean']:+.1f}% "
                f"({100 * r['overhead_lean_paired']:+.1f}% / {100 * r['overhead_lean_min']:+.1f}%)",
                "csv+ckpt s": f"{m['csv']:.3f}",
                "+dashboard s ": f"{m['csv+dash']:.3f}",
                "overhead (paired / min) ": f"{100 * r['overhead_csv']:+.1f}% "
                f"({100 * r['overhead_csv_paired']:+.1f}% / {100 * r['overhead_csv_min']:+.1f}%)",
                "widget msgs / KB": f"{r['widget_messages_per_fit']:.0f} / {r['widget_kb_per_fit']:.1f}",
                "in hooks": f"{100 * r['hooks_fraction']:.1f}%",
                "target ≤ 3%": "yes" if max(r["overhead_lean"], r["overhead_csv"]) <= 0.03 else "NO",
            }
        )
    where = "in this process" if args.in_process else "in a real ipykernel (jupyter_client)"
    print(f"training time with vs without TrainingDashboard, median of {args.repeats}, {where}")
    print_table(rows, list(rows[0]))
    payload = {
        "repeats": args.repeats,
        "threads": args.threads,
        "kernel": not args.in_process,
        "wall_s": time.monotonic() - start,
        "records": records,
    }
    path = write_json("dashboards", payload, args.out)
    print(f"\nwrote {path}")
    return 0 if all(max(r["overhead_lean"], r["overhead_csv"]) <= 0.03 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())

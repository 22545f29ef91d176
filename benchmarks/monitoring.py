"""What does watching a run cost, and how fresh is what a reader sees?

    python -m benchmarks.monitoring                        # mlp and lenet on digits, 10 epochs, 7 repeats
    dltoolkit bench monitoring --models mlp --epochs 3 --repeats 5 --samples 200

(a) Training-time overhead. The same model (the very same initial weights), data and epochs are trained
in this process by a Lightning ``Trainer``, alternating the order, several times, three ways:

* ``lean``: nothing written (no logger, no checkpoint);
* ``lightning``: what stock Lightning writes, its ``CSVLogger`` plus ``ModelCheckpoint(save_last=True)``
  (the baseline: the same kinds of files, written Lightning's way);
* ``run``: exactly what a launched run adds (``run_trainer_kwargs`` into a temporary run folder):
  ``RunStatusCallback`` (status.json, atomically, ≤ 4 times a second), ``RunCSVLogger`` (flushed every
  row) and ``AtomicModelCheckpoint``.

The overhead is median(run) / median(lightning) - 1 (target ≤ 3 %); the one over ``lean`` is shown beside.

(b) Latency from a metric being logged to a reader seeing it. A real run is launched with
``dltoolkit.runs.launch`` (tiny mlp, ``log_every_n_steps=1``) and this process polls it every
``--poll`` s, as the server does. For each new ``train/loss`` row of ``Run.metrics(since=...)`` the
latency is the time it was first seen minus the time its step ended in the training process (recorded
by ``StepClock``, a callback passed through the run's config, in ``<run>/step_times.txt``; or the row's
own ``time`` column if ``metrics.csv`` has one). For ``Run.status()`` it is first-seen minus the status'
``updated_at``. Target: p95 ≤ 1 s.

(c) The same latency through the API, as the sidebar and the dashboards see it: a real ``jupyter server``
process (token, non-root ``base_url``) with the extension; the run is launched by ``POST runs`` and
watched through ``GET runs/{id}/events`` (server-sent events). Each ``train/loss`` row's latency is the
time its event was read here minus the row's ``time`` column (written by the run's logger when Lightning
logged it); a status event's is the read time minus its ``updated_at``. Target: p95 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from benchmarks.common import quiet_lightning, write_json

STEP_TIMES = "step_times.txt"


class StepClock(pl.Callback):
    """Appends ``<step> <wall-clock time>`` to ``$DLTOOLKIT_RUN_DIR/step_times.txt`` at every training
    batch end, just before Lightning hands the step's metrics to the loggers: the "logged" time of
    the row with that step."""

    def __init__(self) -> None:
        self._file: Any = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        run_dir = os.environ.get("DLTOOLKIT_RUN_DIR", ".")
        self._file = open(os.path.join(run_dir, STEP_TIMES), "a", buffering=1)  # noqa: SIM115

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self._file is not None:  # the row of this batch has step = global_step - 1
            self._file.write(f"{trainer.global_step - 1} {time.time():.6f}\n")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# --- (a) training-time overhead --------------------------------------------------------------------


def fit(model: Any, dm: Any, epochs: int, which: str, root: str, log_every: int) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from dltoolkit.runs.callbacks import run_trainer_kwargs

    extra: dict[str, Any]
    if which == "lean":
        extra = {"logger": False, "enable_checkpointing": False}
    elif which == "lightning":
        extra = {
            "logger": CSVLogger(save_dir=root),
            "callbacks": [ModelCheckpoint(dirpath=os.path.join(root, "checkpoints"), save_last=True)],
        }
    else:
        run_dir = Path(root) / "run"
        run_dir.mkdir()
        extra = run_trainer_kwargs(run_dir, {})
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=log_every,
        default_root_dir=root,
        **extra,
    )
    trainer.fit(model, dm)


def measure_overhead(name: str, epochs: int, repeats: int, log_every: int) -> dict[str, Any]:
    from dltoolkit.catalog import create_data, create_model, get_spec

    spec = get_spec(name)
    pl.seed_everything(0, verbose=False)
    dm = create_data(spec.data, **{**spec.data_hparams, "augment": "none"})
    dm.setup("fit")
    template = create_model(name, data=dm)
    ways = ["lean", "lightning", "run"]
    times: dict[str, list[float]] = {w: [] for w in ways}
    fit(copy.deepcopy(template), dm, 1, "lean", tempfile.gettempdir(), log_every)  # warm-up
    for rep in range(repeats):
        order = ways[rep % 3 :] + ways[: rep % 3]  # each way first, middle and last in turn
        order = order if rep % 2 == 0 else order[::-1]
        for which in order:
            model = copy.deepcopy(template)
            pl.seed_everything(rep, verbose=False)
            with tempfile.TemporaryDirectory() as root:
                start = time.perf_counter()
                fit(model, dm, epochs, which, root, log_every)
                times[which].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    paired = [r / b for r, b in zip(times["run"], times["lightning"], strict=True)]
    return {
        "model": name,
        "data": spec.data,
        "epochs": epochs,
        "steps": epochs * len(dm.train_dataloader()),
        "log_every_n_steps": log_every,
        "times": times,
        "median_s": med,
        "overhead_vs_lightning": med["run"] / med["lightning"] - 1,
        "overhead_vs_lean": med["run"] / med["lean"] - 1,
        # less noisy on a shared machine: extra work only adds time, and each repeat's pair ran back to back
        "overhead_vs_lightning_min": min(times["run"]) / min(times["lightning"]) - 1,
        "overhead_vs_lightning_paired": statistics.median(paired) - 1,
    }


# --- (b) latency logged -> visible -------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    if not s:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}

    def q(p: float) -> float:
        return s[min(len(s) - 1, round(p * (len(s) - 1)))]

    return {"n": len(s), "p50": q(0.5), "p95": q(0.95), "max": s[-1]}


def measure_latency(samples: int, poll: float, timeout: float) -> dict[str, Any]:
    from dltoolkit.runs import FINAL_STATES, launch

    # the training process imports StepClock from this checkout
    repo = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory() as root:
        run = launch(
            "mlp",
            model_args={"hidden_sizes": [16]},
            trainer_args={
                "max_epochs": -1,
                "max_steps": samples,
                "log_every_n_steps": 1,
                "callbacks": [{"class_path": "benchmarks.monitoring.StepClock"}],
            },
            runs_root=root,
        )
        seen_rows: list[tuple[float, dict[str, float]]] = []
        status_lat: list[float] = []
        last_update = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = run.metrics(since=len(seen_rows))
            now = time.time()
            seen_rows += [(now, r) for r in rows]
            status = run.status()
            now = time.time()
            updated = status.get("updated_at")
            if status.get("state") == "running" and updated is not None and updated != last_update:
                status_lat.append(now - float(updated))
                last_update = updated
            if status["state"] in FINAL_STATES and not run.is_alive():
                break
            time.sleep(poll)
        final = run.wait(timeout=30)
        # rows written after the last poll: the loop above saw them only if it polled once more
        rows = run.metrics(since=len(seen_rows))
        seen_rows += [(time.time(), r) for r in rows]
        logged: dict[int, float] = {}
        clock = run.path / STEP_TIMES
        if clock.is_file():
            for line in clock.read_text().splitlines():
                step, t = line.split()
                logged.setdefault(int(step), float(t))
        metric_lat, column_lat = [], []
        for seen, row in seen_rows:
            if "train/loss" not in row:
                continue
            if "time" in row:
                column_lat.append(seen - row["time"])
            row_step = int(row["step"])
            if row_step in logged:
                metric_lat.append(seen - logged[row_step])
        if final["state"] != "finished":
            print(run.logs(30), file=sys.stderr)
    return {
        "state": final["state"],
        "poll_s": poll,
        "samples_asked": samples,
        "metrics_rows": len(seen_rows),
        "metric_latency": percentiles(metric_lat),
        "metric_latency_time_column": percentiles(column_lat),
        "status_latency": percentiles(status_lat),
    }


# --- (c) latency logged -> visible through the API ---------------------------------------------------


@contextlib.contextmanager
def jupyter_server(root: Path, base_url: str = "/bench/") -> Iterator[tuple[str, dict[str, str]]]:
    """A ``jupyter server`` subprocess with the dltoolkit extension, runs under ``root / "runs"``:
    yields (``http://127.0.0.1:PORT<base_url>dltoolkit/api/``, the auth header)."""
    token = secrets.token_hex(16)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
        "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.base_url={base_url}",
        f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    env = {**os.environ, "DLTOOLKIT_RUNS": str(root / "runs")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api, auth = f"http://127.0.0.1:{port}{base_url}dltoolkit/api/", {"Authorization": f"token {token}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(api + "catalog", headers=auth), timeout=30)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("jupyter server did not start") from None
                time.sleep(0.2)
        yield api, auth
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def sse_events(api: str, path: str, auth: dict[str, str], timeout: float) -> Iterator[tuple[float, str, Any]]:
    """``(time read, event name, data)`` for each server-sent event of ``GET <api><path>``."""
    url = urllib.parse.urlsplit(api + path)
    conn = http.client.HTTPConnection(url.netloc, timeout=timeout)
    conn.request("GET", f"{url.path}?{url.query}" if url.query else url.path, headers=auth)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status}")
    event, data = "message", ""
    while line := response.readline():
        text = line.decode().rstrip("\n")
        if text.startswith("event: "):
            event = text[7:]
        elif text.startswith("data: "):
            data += text[6:]
        elif not text and data:
            yield time.time(), event, json.loads(data)
            event, data = "message", ""
    conn.close()


def measure_api_latency(samples: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, jupyter_server(Path(tmp)) as (api, auth):
        body = {
            "model": "mlp",
            "model_args": {"hidden_sizes": [16]},
            "trainer_args": {"max_epochs": 100000, "max_steps": samples, "log_every_n_steps": 1},
        }
        req = urllib.request.Request(
            api + "runs", data=json.dumps(body).encode(), method="POST",
            headers={**auth, "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=60) as response:
            run_id = json.loads(response.read())["run_id"]
        metric_lat, status_lat, rows_seen, state = [], [], 0, "queued"
        for read_at, event, data in sse_events(api, f"runs/{run_id}/events", auth, timeout):
            if event == "metrics":
                rows_seen += len(data["rows"])
                metric_lat += [read_at - r["time"] for r in data["rows"] if "train/loss" in r and "time" in r]
            elif event == "status":
                state = data.get("state", state)
                if state == "running" and data.get("updated_at"):
                    status_lat.append(read_at - float(data["updated_at"]))
    return {
        "state": state,
        "server_poll_s": 0.2,
        "samples_asked": samples,
        "metrics_rows": rows_seen,
        "metric_latency": percentiles(metric_lat),
        "status_latency": percentiles(status_lat),
    }


def latency_rows(lat: dict[str, Any], labels: list[tuple[str, str]]) -> list[dict[str, Any]]:
    rows = []
    for label, key in labels:
        p = lat[key]
        if not p["n"]:
            continue
        rows.append(
            {
                "what": label,
                "n": p["n"],
                "p50 ms": f"{1000 * p['p50']:.0f}",
                "p95 ms": f"{1000 * p['p95']:.0f}",
                "max ms": f"{1000 * p['max']:.0f}",
                "target p95 ≤ 1 s": "yes" if p["p95"] <= 1.0 else "NO",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    from dltoolkit.cli import print_table

    ap = argparse.ArgumentParser(prog="dltoolkit bench monitoring", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--models", nargs="*", default=["mlp", "lenet"], help="catalog names (default: mlp lenet)"
    )
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for (a) (default 1: steadier)")
    ap.add_argument("--log-every-n-steps", type=int, default=50, help="as the Trainer's (default 50)")
    ap.add_argument("--samples", type=int, default=150, help="logged steps for the latency (default 150)")
    ap.add_argument("--poll", type=float, default=0.02, help="reader's poll interval, s (default 0.02)")
    ap.add_argument("--timeout", type=float, default=180.0, help="latency run's time limit, s")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-api", action="store_true", help="skip (c), the latency through the API")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/monitoring.json)")
    args = ap.parse_args(argv)
    quiet_lightning()
    ok = True
    payload: dict[str, Any] = {"repeats": args.repeats}

    if not args.skip_overhead:
        import torch

        torch.set_num_threads(args.threads)
        payload["threads"] = args.threads
        records = [
            measure_overhead(n, args.epochs, args.repeats, args.log_every_n_steps) for n in args.models
        ]
        rows = [
            {
                "model": r["model"],
                "steps": r["steps"],
                "lean s": f"{r['median_s']['lean']:.3f}",
                "lightning s": f"{r['median_s']['lightning']:.3f}",
                "run s": f"{r['median_s']['run']:.3f}",
                "run vs lightning": f"{100 * r['overhead_vs_lightning']:+.1f}%",
                "(min / paired)": f"{100 * r['overhead_vs_lightning_min']:+.1f}% / "
                f"{100 * r['overhead_vs_lightning_paired']:+.1f}%",
                "run vs lean": f"{100 * r['overhead_vs_lean']:+.1f}%",
                "target ≤ 3%": "yes" if r["overhead_vs_lightning"] <= 0.03 else "NO",
            }
            for r in records
        ]
        print("training time, median of", args.repeats, "(baseline: Lightning's CSVLogger + ModelCheckpoint)")
        print_table(rows, list(rows[0]))
        payload["overhead"] = records
        ok &= all(r["overhead_vs_lightning"] <= 0.03 for r in records)

    if not args.skip_latency:
        lat = measure_latency(args.samples, args.poll, args.timeout)
        rows = latency_rows(
            lat,
            [
                ("metric row (step end -> Run.metrics)", "metric_latency"),
                ("metric row (time column -> Run.metrics)", "metric_latency_time_column"),
                ("status (updated_at -> Run.status)", "status_latency"),
            ],
        )
        print(f"\nlatency logged -> visible, polling every {1000 * args.poll:.0f} ms (run {lat['state']})")
        print_table(rows, list(rows[0]) if rows else ["what"])
        payload["latency"] = lat
        ok &= lat["state"] == "finished" and lat["metric_latency"]["n"] >= min(100, args.samples)
        ok &= all(lat[k]["p95"] <= 1.0 for k in ("metric_latency", "status_latency") if lat[k]["n"])

    if not args.skip_api:
        lat = measure_api_latency(args.samples, args.timeout)
        rows = latency_rows(
            lat,
            [
                ("metric row (time column -> SSE event read)", "metric_latency"),
                ("status (updated_at -> SSE event read)", "status_latency"),
            ],
        )
        print(f"\nlatency logged -> visible through GET runs/{{id}}/events (run {lat['state']})")
        print_table(rows, list(rows[0]) if rows else ["what"])
        payload["api_latency"] = lat
        ok &= lat["state"] == "finished" and lat["metric_latency"]["n"] >= min(100, args.samples)
        ok &= all(lat[k]["p95"] <= 1.0 for k in ("metric_latency", "status_latency") if lat[k]["n"])

    path = write_json("monitoring", payload, args.out)
    print(f"\nwrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

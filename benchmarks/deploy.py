"""Deployment: ONNX Runtime vs PyTorch eager latency, and what int8 quantisation and pruning cost.

For each model: train it briefly on its default digits data, export it to ONNX (verified), then time
batches of 1 and 64 through PyTorch (eager, ``no_grad``, eval) and through onnxruntime, interleaved in
one process; quantise the ONNX file to int8 and prune the model by half, and measure size and test
accuracy of each. Goals (issue 7): ORT >= 1.5x faster at batch 1; int8 <= 0.3x the size and <= 1 point
of accuracy lost.

    python -m benchmarks.deploy                 # = dltoolkit bench deploy
    python -m benchmarks.deploy --models mlp --repeats 200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import quiet_lightning, write_json

DEFAULT_MODELS = ("mlp", "lenet", "resnet")


def _train(name: str, epochs: int) -> tuple[Any, Any, Any]:
    import lightning.pytorch as pl
    import numpy as np
    import torch

    from dltoolkit.catalog import create_data, create_model, get_spec

    spec = get_spec(name)
    pl.seed_everything(0, verbose=False)
    data = create_data(spec.data, **spec.data_hparams)
    model = create_model(name, data=data)
    pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(model, data)  # fmt: skip
    data.setup("test")
    images = torch.stack([data.test_set[i][0] for i in range(len(data.test_set))])
    labels = np.array([data.test_set[i][1] for i in range(len(data.test_set))])
    return model.eval(), images, labels


def _time(fn: Any, repeats: int) -> list[float]:
    fn()  # warm-up: first-call allocations and kernel selection
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def measure(
    name: str, epochs: int, repeats: int, workdir: Path, threads: int, serve_seconds: float
) -> dict[str, Any]:
    """One model's row: latencies (median ms) eager vs ORT at batch 1 and 64, sizes, accuracies."""
    import torch

    from dltoolkit.deploy import (
        OnnxPredictor,
        export_onnx,
        onnx_accuracy,
        prune_model,
        quantize_onnx,
        sparsity,
    )

    model, images, labels = _train(name, epochs)
    export = export_onnx(model, workdir / f"{name}.onnx", inputs=images[:64])
    int8 = quantize_onnx(export.path, workdir / f"{name}.int8.onnx")
    float_ort, int8_ort = OnnxPredictor(export.path, threads=threads), OnnxPredictor(int8, threads=threads)
    latency: dict[str, dict[int, list[float]]] = {"eager": {}, "ort": {}, "ort_int8": {}}
    for batch in (1, 64):
        x = images[:batch]
        xn = x.numpy()
        with torch.no_grad():
            runs = {"eager": lambda x=x: model(x), "ort": lambda xn=xn: float_ort(xn),
                    "ort_int8": lambda xn=xn: int8_ort(xn)}  # fmt: skip
            samples: dict[str, list[float]] = {k: [] for k in runs}
            for _ in range(5):  # interleaved rounds: drift on a shared machine hits every way alike
                for way, fn in runs.items():
                    samples[way] += _time(fn, max(1, repeats // 5))
        for way in runs:
            latency[way][batch] = samples[way]
    with torch.no_grad():
        eager_acc = float((model(images).argmax(-1).numpy() == labels).mean())
        pruned = prune_model(model, 0.5)
        pruned_acc = float((pruned(images).argmax(-1).numpy() == labels).mean())
    med = {w: {b: statistics.median(v) for b, v in d.items()} for w, d in latency.items()}
    serving = measure_serving(model, images.numpy(), 8, serve_seconds) if serve_seconds > 0 else None
    return {
        "serving": serving,
        "model": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "median_ms": med,
        "speedup_ort": {b: med["eager"][b] / med["ort"][b] for b in (1, 64)},
        "onnx_bytes": export.size_bytes,
        "int8_bytes": int8.stat().st_size,
        "size_ratio_int8": int8.stat().st_size / export.size_bytes,
        "max_abs_diff": export.max_abs_diff,
        "accuracy": {
            "eager": eager_acc,
            "onnx": onnx_accuracy(export.path, images, labels),
            "onnx_int8": onnx_accuracy(int8, images, labels),
            "pruned_50": pruned_acc,
        },
        "sparsity_pruned": sparsity(pruned),
        "test_images": len(labels),
    }


def measure_serving(model: Any, images: Any, concurrency: int, seconds: float) -> dict[str, Any]:
    """Requests per second and latency of ``dltoolkit serve`` (TF Serving REST, one image a request) with
    ``concurrency`` clients on loopback, micro-batching on."""
    import json
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    from dltoolkit.deploy.serve import BackgroundServer, _torch_served, create_app

    served = _torch_served(model, "bench", "in memory")
    bodies = [json.dumps({"instances": images[i : i + 1].tolist()}).encode() for i in range(len(images))]
    app = create_app(served, max_batch=64, max_delay_ms=2)
    with BackgroundServer(app) as url:
        target = f"{url}/v1/models/bench:predict"

        def client(worker: int) -> list[float]:
            times, i = [], worker
            stop = time.monotonic() + seconds
            while time.monotonic() < stop:
                req = urllib.request.Request(target, data=bodies[i % len(bodies)], method="POST")
                start = time.perf_counter()
                with urllib.request.urlopen(req, timeout=30) as response:
                    response.read()
                times.append((time.perf_counter() - start) * 1000)
                i += concurrency
            return times

        begin = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = sorted(t for part in pool.map(client, range(concurrency)) for t in part)
        elapsed = time.monotonic() - begin
        batcher = app.state.batcher
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "requests_per_second": len(latencies) / elapsed,
        "latency_ms_p50": latencies[len(latencies) // 2],
        "latency_ms_p95": latencies[int(0.95 * (len(latencies) - 1))],
        "mean_batch": batcher.requests / max(1, batcher.batches),
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    from dltoolkit.cli import print_table

    ap = argparse.ArgumentParser(prog="dltoolkit bench deploy", description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS), help="catalog image classifiers")
    ap.add_argument("--epochs", type=int, default=5, help="training epochs before measuring (default 5)")
    ap.add_argument("--repeats", type=int, default=100, help="timed calls per way and batch size")
    ap.add_argument("--threads", type=int, default=1, help="torch and ORT threads (default 1: steadier)")
    ap.add_argument("--serve-seconds", type=float, default=10.0, help="serving load per model (0: skip)")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/deploy.json)")
    args = ap.parse_args(argv)
    if min(args.epochs, args.repeats, args.threads) < 1:
        ap.error("--epochs, --repeats and --threads must be positive")
    quiet_lightning()
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        records = [
            measure(name, args.epochs, args.repeats, Path(tmp), args.threads, args.serve_seconds)
            for name in args.models
        ]
    rows = []
    for r in records:
        med, acc = r["median_ms"], r["accuracy"]
        rows.append(
            {
                "model": r["model"],
                "eager b1 ms": f"{med['eager'][1]:.3f}",
                "ORT b1 ms": f"{med['ort'][1]:.3f}",
                "ORT speed-up b1": f"{r['speedup_ort'][1]:.2f}x",
                "eager b64 ms": f"{med['eager'][64]:.2f}",
                "ORT b64 ms": f"{med['ort'][64]:.2f}",
                "int8 b64 ms": f"{med['ort_int8'][64]:.2f}",
                "int8 size": f"{r['size_ratio_int8']:.2f}x",
                "serve req/s (p95 ms)": (
                    f"{r['serving']['requests_per_second']:.0f} ({r['serving']['latency_ms_p95']:.1f})"
                    if r["serving"]
                    else "-"
                ),
                "acc eager/int8/pruned50": "/".join(
                    f"{acc[k]:.3f}" for k in ("eager", "onnx_int8", "pruned_50")
                ),
            }
        )
    print(f"ONNX Runtime vs PyTorch eager, CPU, {args.threads} thread(s), median of {args.repeats} calls")
    print_table(rows, list(rows[0]))
    path = write_json("deploy", {"records": records, "seconds": time.monotonic() - start, "args": vars(args)},
                      args.out)  # fmt: skip
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

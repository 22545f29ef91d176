"""What does dltoolkit.explain add to Captum? Integrated Gradients latency per image, side by side.

    python -m benchmarks.explain                  # mlp (digits, 8x8) and lenet (digits28), 50 steps
    python -m benchmarks.explain --models lenet --repeats 5 --images 10

For each model (untrained: latency does not depend on the weights) and each of ``--images`` test images,
one at a time (a batch of one), three calls are timed, their order rotating from one repeat to the next:

* ``captum``: ``IntegratedGradients(model).attribute(x, target=t, n_steps=50)``, the object built once,
  the model already in eval mode, as a user calling Captum directly would write it;
* ``explain``: ``explain(model, x, "integrated_gradients", target=t)``: checks the input's shape, its
  values (NaN) and the target's range, puts the model in eval mode and restores it, builds the Captum
  object and the result;
* ``explain, target=None``: the same, explaining the predicted class (one extra forward pass).

The overhead is median(explain) / median(captum) - 1 over all calls (target <= 5 %); the paired median
(each image's two calls ran back to back) is shown beside it. The attributions of both are checked equal.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from benchmarks.common import quiet_lightning, write_json

WAYS = ("captum", "explain", "explain_auto")
TARGET_OVERHEAD = 0.05


def setup(name: str, n_images: int) -> tuple[Any, Any, list[int], dict[str, Any]]:
    """The model (eval mode), ``n_images`` normalised test images of its default data, and their labels."""
    import torch

    from dltoolkit.catalog import create_data, create_model, get_spec

    spec = get_spec(name)
    dm = create_data(spec.data, **{**spec.data_hparams, "augment": "none", "batch_size": n_images})
    dm.setup("test")
    x, y = next(iter(dm.test_dataloader()))
    torch.manual_seed(0)
    model = create_model(name, data=dm).eval()
    info = {"data": spec.data, "input_shape": list(x.shape[1:]), "data_hparams": spec.data_hparams}
    return model, x, y.tolist(), info


def measure(name: str, n_images: int, repeats: int, steps: int) -> dict[str, Any]:
    from captum.attr import IntegratedGradients

    from dltoolkit.explain import explain

    model, images, labels, info = setup(name, n_images)
    ig = IntegratedGradients(model)

    def call_captum(x: Any, t: int) -> Any:
        return ig.attribute(x.requires_grad_(), target=t, n_steps=steps)

    def call_explain(x: Any, t: int) -> Any:
        return explain(model, x, "integrated_gradients", target=t, n_steps=steps).attributions

    def call_auto(x: Any, t: int) -> Any:
        return explain(model, x, "integrated_gradients", n_steps=steps).attributions

    calls = {"captum": call_captum, "explain": call_explain, "explain_auto": call_auto}
    batches = [images[i : i + 1].clone() for i in range(n_images)]  # (1, C, H, W) each

    # the same numbers, or the comparison means nothing
    max_diff = max(
        float((call_captum(x.clone(), t).detach() - call_explain(x, t)).abs().max())
        for x, t in zip(batches, labels, strict=True)
    )
    for _ in range(2):  # warm-up: allocator, autograd, first-call imports
        for x, t in zip(batches, labels, strict=True):
            for way in WAYS:
                calls[way](x.clone(), t)

    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for rep in range(repeats):
        order = WAYS[rep % 3 :] + WAYS[: rep % 3]  # each way goes first in turn
        for x, t in zip(batches, labels, strict=True):
            for way in order:
                x_call = x.clone()
                start = time.perf_counter()
                calls[way](x_call, t)
                times[way].append(time.perf_counter() - start)

    ms = {way: [1000 * s for s in v] for way, v in times.items()}
    median = {way: statistics.median(v) for way, v in ms.items()}
    p95 = {way: float(np.percentile(v, 95)) for way, v in ms.items()}
    paired = statistics.median(a / b for a, b in zip(ms["explain"], ms["captum"], strict=True)) - 1
    return {
        "model": name,
        **info,
        "n_steps": steps,
        "images": n_images,
        "repeats": repeats,
        "calls_per_way": len(ms["captum"]),
        "median_ms": median,
        "p95_ms": p95,
        "overhead": median["explain"] / median["captum"] - 1,
        "overhead_paired": paired,
        "overhead_auto_target": median["explain_auto"] / median["captum"] - 1,
        "max_abs_diff": max_diff,
        "times_ms": ms,
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    from dltoolkit.cli import print_table

    ap = argparse.ArgumentParser(prog="dltoolkit bench explain", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--models", nargs="*", default=["mlp", "lenet"], help="catalog names (default: mlp lenet)"
    )
    ap.add_argument("--images", type=int, default=20, help="test images, explained one at a time")
    ap.add_argument(
        "--repeats", type=int, default=10, help="passes over the images (each way timed per pass)"
    )
    ap.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps (default 50)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steadier)")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/explain.json)")
    args = ap.parse_args(argv)
    if min(args.images, args.repeats, args.steps, args.threads) < 1:
        ap.error("--images, --repeats, --steps and --threads must be positive")
    quiet_lightning()
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    records = [measure(name, args.images, args.repeats, args.steps) for name in args.models]
    rows = []
    for r in records:
        med, p95 = r["median_ms"], r["p95_ms"]
        rows.append(
            {
                "model": r["model"],
                "input": "x".join(map(str, r["input_shape"])),
                "captum ms (p95)": f"{med['captum']:.2f} ({p95['captum']:.2f})",
                "explain ms (p95)": f"{med['explain']:.2f} ({p95['explain']:.2f})",
                "overhead (paired)": f"{100 * r['overhead']:+.1f}% ({100 * r['overhead_paired']:+.1f}%)",
                "target=None ms": f"{med['explain_auto']:.2f} ({100 * r['overhead_auto_target']:+.1f}%)",
                "max |diff|": f"{r['max_abs_diff']:.1e}",
                "target ≤ 5%": "yes" if r["overhead"] <= TARGET_OVERHEAD else "NO",
            }
        )
    print(
        f"Integrated Gradients ({args.steps} steps), one image per call, CPU, {args.threads} thread(s): "
        f"median of {records[0]['calls_per_way']} calls per way"
    )
    print_table(rows, list(rows[0]))
    payload = {
        "threads": args.threads,
        "n_steps": args.steps,
        "wall_s": time.monotonic() - start,
        "records": records,
    }
    path = write_json("explain", payload, args.out)
    print(f"\nwrote {path}")
    return 0 if all(r["overhead"] <= TARGET_OVERHEAD for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Does every catalog model reach its stated quality on its default data, within its budget?

    python -m benchmarks.quality                    # every model, 3 seeds
    dltoolkit bench quality --models mlp lenet --seeds 1

Each model is trained on its spec's default data for at most ``max_epochs`` epochs and ``max_seconds``
seconds of fitting (Lightning's ``max_time``), then evaluated once on the test split with the final
weights. The split is the data module's seed-0 split for every run; the seed varies initialisation and
augmentation. Prints model | data | metric | target | reached (mean ± std) | seconds and writes JSON.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.common import mean_std, quiet_lightning, write_json


def train_once(name: str, seed: int) -> dict[str, Any]:
    """Fit catalog model ``name`` within its budget and return its target metric and fit seconds."""
    import lightning.pytorch as pl

    from dltoolkit.catalog import create_data, create_model, get_spec

    spec = get_spec(name)
    if spec.target is None:
        raise ValueError(f"model {name!r} has no quality target")
    pl.seed_everything(seed, verbose=False)
    dm = create_data(spec.data, **spec.data_hparams)
    model = create_model(name, data=dm)
    trainer = pl.Trainer(
        max_epochs=spec.target.max_epochs,
        max_time={"seconds": spec.target.max_seconds},
        accelerator=spec.trainer.get("accelerator", "auto"),  # agents' targets are CPU numbers
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, dm)
    seconds = time.perf_counter() - start
    (results,) = trainer.test(model, dm, verbose=False)
    return {
        "seed": seed,
        "value": float(results[spec.target.metric]),
        "seconds": seconds,
        "epochs": trainer.current_epoch,
    }


def main(argv: list[str] | None = None) -> int:
    from dltoolkit.catalog import get_spec, list_models
    from dltoolkit.cli import print_table

    ap = argparse.ArgumentParser(prog="dltoolkit bench quality", description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", help="catalog names (default: every model with a target)")
    ap.add_argument("--seeds", type=int, default=3, help="runs per model, seeds 0..N-1 (default 3)")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/quality.json)")
    args = ap.parse_args(argv)
    quiet_lightning()
    names = args.models or [n for n in list_models() if get_spec(n).target is not None]
    from tqdm import tqdm

    rows, records = [], []
    bar = tqdm(total=len(names) * args.seeds, desc="quality", unit="run")  # on stderr, beside the table
    for name in names:
        spec = get_spec(name)
        target = spec.target
        assert target is not None
        runs = []
        for seed in range(args.seeds):
            bar.set_postfix_str(f"{name} seed {seed}")
            runs.append(train_once(name, seed))
            bar.update()
        mean, std = mean_std([r["value"] for r in runs])
        secs = max(r["seconds"] for r in runs)
        passed = target.reached(mean) and secs <= target.max_seconds * 1.05
        sign = "≥" if target.mode == "max" else "≤"
        rows.append(
            {
                "model": name,
                "data": spec.data,
                "metric": target.metric,
                "target": f"{sign} {target.threshold:g} in {target.max_seconds:g} s",
                "reached": f"{mean:.4f} ± {std:.4f}",
                "min": f"{min(r['value'] for r in runs):.4f}",
                "seconds": f"{secs:.1f}",
                "epochs": max(r["epochs"] for r in runs),
                "pass": "yes" if passed else "NO",
            }
        )
        records.append(
            {"model": name, "data": spec.data, "target": target.__dict__, "runs": runs}
            | {"mean": mean, "std": std, "pass": passed}
        )
        print_table(rows[-1:], list(rows[-1]))  # progress: one line per model as it finishes
        print()
    bar.close()
    print_table(rows, list(rows[0]))
    path = write_json("quality", {"seeds": args.seeds, "models": records}, args.out)
    print(f"\nwrote {path}")
    return 0 if all(r["pass"] for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())

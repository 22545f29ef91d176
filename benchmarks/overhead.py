"""How much does dltoolkit (Lightning + the catalog's module) cost over a plain PyTorch loop?

    python -m benchmarks.overhead                       # mlp, lenet and resnet, 5 repeats
    dltoolkit bench overhead --models resnet --epochs 2 --repeats 3

The same network (the very same initial weights), the same data loader (same seeded order), batch
size, optimiser and epochs are trained twice in one process, alternating which goes first, several
times: once by ``Trainer.fit`` on the catalog model and once by a hand-written loop (and, to show
Lightning's own share, by ``Trainer.fit`` on a bare LightningModule around the same network). Both train only
(no validation), in the lean setting (no logger, checkpoint or progress bar); a second dltoolkit time
with what `dltoolkit fit` writes (CSV metrics and a checkpoint) is reported beside it. Prints the
median time ratio (target ≤ 1.10) and each side's final training loss (they must agree).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Any

from benchmarks.common import quiet_lightning, write_json


def plain_loop(net: Any, loader: Any, epochs: int, lr: float) -> float:
    """The hand-written baseline: Adam, cross-entropy, train mode; returns the last epoch's mean loss."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(epochs):
        total, batches = 0.0, 0
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
    return total / batches


def bare_lightning_module(net: Any, lr: float) -> Any:
    """The least a LightningModule can be: forward, cross-entropy, Adam; no metrics, no logging.

    Trained by the same ``Trainer`` as dltoolkit's model, it separates Lightning's own per-step cost
    (hooks, closure) from what dltoolkit's module adds (metrics, input checks).
    """
    import lightning.pytorch as pl
    import torch
    import torch.nn.functional as F

    class Bare(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=lr)

    return Bare()


def dltoolkit_fit(model: Any, dm: Any, epochs: int, lean: bool, root: str) -> float:
    """Train the catalog model with ``Trainer.fit``; returns the last epoch's mean loss."""
    import lightning.pytorch as pl

    extra: dict[str, Any] = (
        {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
        if lean
        else {"default_root_dir": root, "enable_progress_bar": False}
    )
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        **extra,
    )
    trainer.fit(model, dm)
    metrics = trainer.callback_metrics
    return float(metrics["train/loss_epoch"]) if "train/loss_epoch" in metrics else float("nan")


def measure(name: str, epochs: int, repeats: int, batch_size: int) -> dict[str, Any]:
    import tempfile

    import lightning.pytorch as pl

    from dltoolkit.catalog import create_data, create_model, get_spec

    spec = get_spec(name)
    times: dict[str, list[float]] = {"plain": [], "lightning": [], "dltoolkit": [], "defaults": []}
    losses: dict[str, float] = {}
    for rep in range(repeats):
        order = ["plain", "lightning", "dltoolkit", "defaults"]
        order = order if rep % 2 == 0 else order[::-1]
        pl.seed_everything(rep, verbose=False)
        dm = create_data(spec.data, **{**spec.data_hparams, "batch_size": batch_size, "augment": "none"})
        dm.setup("fit")
        # the baseline is plain Adam on plain cross-entropy: switch off what the catalog entry adds
        template = create_model(
            name, data=dm, scheduler="none", optimizer="adam", weight_decay=0.0, label_smoothing=0.0
        )
        lr = float(template.hparams.lr)
        for which in order:
            model = copy.deepcopy(template)  # every side starts from the same weights
            pl.seed_everything(rep, verbose=False)  # and draws the same dropout masks
            start = time.perf_counter()
            if which == "plain":
                loss = plain_loop(model.net, dm.train_dataloader(), epochs, lr)
            elif which == "lightning":
                with tempfile.TemporaryDirectory() as root:
                    loss = dltoolkit_fit(
                        bare_lightning_module(model.net, lr), dm, epochs, lean=True, root=root
                    )
            else:
                with tempfile.TemporaryDirectory() as root:
                    loss = dltoolkit_fit(model, dm, epochs, lean=which == "dltoolkit", root=root)
            times[which].append(time.perf_counter() - start)
            losses[which] = loss
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "model": name,
        "data": spec.data,
        "epochs": epochs,
        "batch_size": batch_size,
        "steps": epochs * len(dm.train_dataloader()),
        "times": times,
        "median_s": med,
        "ratio": med["dltoolkit"] / med["plain"],
        "ratio_defaults": med["defaults"] / med["plain"],
        "ratio_bare_lightning": med["lightning"] / med["plain"],
        "final_loss": losses,
    }


def main(argv: list[str] | None = None) -> int:
    from dltoolkit.cli import print_table

    ap = argparse.ArgumentParser(prog="dltoolkit bench overhead", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--models",
        nargs="*",
        default=["mlp", "lenet", "resnet"],
        help="catalog names (default: mlp lenet resnet)",
    )
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", help="JSON path (default benchmarks/results/overhead.json)")
    args = ap.parse_args(argv)
    quiet_lightning()
    records = [measure(n, args.epochs, args.repeats, args.batch_size) for n in args.models]
    rows = [
        {
            "model": r["model"],
            "steps": r["steps"],
            "plain s": f"{r['median_s']['plain']:.2f}",
            "dltoolkit s": f"{r['median_s']['dltoolkit']:.2f}",
            "bare Lightning ratio": f"{r['ratio_bare_lightning']:.3f}",
            "ratio": f"{r['ratio']:.3f}",
            "ratio (CSV log + checkpoint)": f"{r['ratio_defaults']:.3f}",
            "loss plain / dltoolkit": f"{r['final_loss']['plain']:.4f} / {r['final_loss']['dltoolkit']:.4f}",
            "target ≤ 1.10": "yes" if r["ratio"] <= 1.10 else "NO",
        }
        for r in records
    ]
    print_table(rows, list(rows[0]))
    path = write_json("overhead", {"repeats": args.repeats, "models": records}, args.out)
    print(f"\nwrote {path}")
    return 0 if all(r["ratio"] <= 1.10 for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Does PGD adversarial training make a digits CNN robust, and what does dltoolkit's `attack` cost?

    python -m benchmarks.robustness                       # vgg on 8x8 digits, 40 epochs, eps 0.1/0.2/0.3
    dltoolkit bench robustness --epochs 20 --no-autoattack --repeats 5

Two copies of the catalog's ``vgg`` (BatchNorm, no dropout) are trained on 8x8 digits with the same
recipe and seed, one normally and one with ``AdversarialTraining`` (PGD-7 at ``--train-eps`` with ε
warmed up over the first third of the epochs). On the whole test split (359 images, pixel space) each
gets: clean accuracy, PGD-10 accuracy at each eps, gradient-free Square (``--square-queries``) at each
eps, and AutoAttack (100 iterations per part) at the goal eps for the adversarially trained one. The
bit-squeezing defence (standard model behind ``BitSqueezing``) is evaluated with PGD, Square and PGD
through the rounding (BPDA), and flagged as gradient masking when Square beats PGD.

Goal: robust accuracy (PGD-10) at eps 0.2 from under 10 % to at least 60 %, clean at least 95 %.

Throughput: PGD-10 at eps 0.2 on the test split, ``dltoolkit.robustness.attack`` against calling
``torchattacks.PGD`` directly (plus the adversarial forward pass needed for robust accuracy), in one
process, interleaved, order alternating, ``--repeats`` times; images/s from the medians (target:
dltoolkit adds at most 5 %). Runs on ``--threads`` torch threads (default 1: these tiny models run
many times slower on two threads of a shared 2-core machine than on one).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from benchmarks.common import quiet_lightning, write_json


def train(dm: Any, epochs: int, seed: int, train_eps: float | None) -> tuple[Any, float]:
    """The catalog ``vgg`` fitted on ``dm`` (adversarially when ``train_eps`` is set), and fit seconds."""
    import lightning.pytorch as pl

    from dltoolkit.catalog import create_model
    from dltoolkit.robustness import AdversarialTraining

    pl.seed_everything(seed, verbose=False)
    model = create_model("vgg", data=dm, dropout=0.0)
    callbacks: list[Any] = []
    if train_eps is not None:
        callbacks.append(AdversarialTraining(eps=train_eps, steps=7, warmup_epochs=epochs / 3))
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    start = time.perf_counter()
    trainer.fit(model, dm)
    return model.eval(), time.perf_counter() - start


def accuracy_rows(name: str, model: Any, data: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Clean, PGD-10 and Square accuracy of pixel-space ``model`` at every eps of ``args.eps``."""
    from dltoolkit.robustness import attack

    clean = attack(model, data, "pgd", 0.0).clean_accuracy
    rows = []
    for attack_name, options in (("pgd", {"steps": 10}), ("square", {"n_queries": args.square_queries})):
        row: dict[str, Any] = {"model": name, "attack": attack_name, "clean": clean}
        for eps in args.eps:
            row[f"eps {eps:g}"] = attack(model, data, attack_name, eps, **options).adversarial_accuracy
        rows.append(row)
    return rows


def throughput(model: Any, data: Any, eps: float, repeats: int) -> dict[str, Any]:
    """Images/s of PGD-10 through dltoolkit's ``attack`` and through torchattacks directly, interleaved."""
    import torch
    import torchattacks

    from dltoolkit.robustness import attack

    images, labels = data

    def direct() -> float:
        model.eval()
        atk = torchattacks.PGD(model, eps=eps, alpha=2.5 * eps / 10, steps=10)
        adversarial = atk(images, labels)
        with torch.no_grad():
            return float((model(adversarial).argmax(1) == labels).float().mean())

    def ours() -> float:
        return attack(model, data, "pgd", eps, steps=10).adversarial_accuracy

    ways = {"dltoolkit": ours, "torchattacks": direct}
    for run in ways.values():
        run()  # warm-up
    seconds: dict[str, list[float]] = {k: [] for k in ways}
    for i in range(repeats):
        order = list(ways) if i % 2 == 0 else list(reversed(ways))
        for key in order:
            start = time.perf_counter()
            ways[key]()
            seconds[key].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in seconds.items()}
    paired = statistics.median(
        a / b for a, b in zip(seconds["dltoolkit"], seconds["torchattacks"], strict=True)
    )
    return {
        "images": len(labels),
        "repeats": repeats,
        "seconds": seconds,
        "images_per_s": {k: len(labels) / v for k, v in median.items()},
        "overhead": median["dltoolkit"] / median["torchattacks"] - 1,
        "paired_overhead": paired - 1,
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    from dltoolkit.catalog import create_data
    from dltoolkit.cli import print_table
    from dltoolkit.robustness import (
        BitSqueezing,
        PixelSpaceModel,
        attack,
        data_normalization,
        evaluate_defence,
        pixel_test_data,
    )

    ap = argparse.ArgumentParser(prog="dltoolkit bench robustness", description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=40, help="training epochs of both models (default 40)")
    ap.add_argument(
        "--train-eps", type=float, default=0.22, help="eps of adversarial training (default 0.22)"
    )
    ap.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.2, 0.3], help="evaluation eps values")
    ap.add_argument("--goal-eps", type=float, default=0.2, help="eps of the goal and of AutoAttack")
    ap.add_argument("--square-queries", type=int, default=1000, help="Square's queries per image")
    ap.add_argument("--bits", type=int, default=1, help="colour depth kept by the bit-squeezing defence")
    ap.add_argument("--no-autoattack", action="store_true", help="skip AutoAttack (the slowest row)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved repeats of the throughput timing")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="JSON path (default benchmarks/results/robustness.json)")
    args = ap.parse_args(argv)
    quiet_lightning()
    torch.set_num_threads(args.threads)

    dm = create_data("digits", augment="none", batch_size=64)
    dm.setup("fit")
    mean, std = data_normalization(dm)
    data = pixel_test_data(dm)

    standard, standard_s = train(dm, args.epochs, args.seed, None)
    robust, robust_s = train(dm, args.epochs, args.seed, args.train_eps)
    models = {
        "standard": PixelSpaceModel(standard, mean, std),
        "adv-trained": PixelSpaceModel(robust, mean, std),
    }
    rows = [r for name, m in models.items() for r in accuracy_rows(name, m, data, args)]

    autoattack = None
    if not args.no_autoattack:
        start = time.perf_counter()
        result = attack(models["adv-trained"], data, "autoattack", args.goal_eps)
        autoattack = {"eps": args.goal_eps, "accuracy": result.adversarial_accuracy}
        autoattack["seconds"] = time.perf_counter() - start
        rows.append({"model": "adv-trained", "attack": "autoattack", "clean": result.clean_accuracy})
        rows[-1][f"eps {args.goal_eps:g}"] = result.adversarial_accuracy

    squeezed = BitSqueezing(models["standard"], bits=args.bits)
    bpda = BitSqueezing(models["standard"], bits=args.bits, straight_through=True)
    name = f"std+squeeze{args.bits}"
    reports = {
        eps: evaluate_defence(squeezed, data, eps, square_queries=args.square_queries) for eps in args.eps
    }
    for label, key in (("pgd", "pgd_accuracy"), ("square", "square_accuracy")):
        row = {"model": name, "attack": label, "clean": reports[args.eps[0]].clean_accuracy}
        rows.append(row | {f"eps {e:g}": getattr(r, key) for e, r in reports.items()})
    bpda_row: dict[str, Any] = {
        "model": name,
        "attack": "pgd-bpda",
        "clean": reports[args.eps[0]].clean_accuracy,
    }
    for eps in args.eps:
        bpda_row[f"eps {eps:g}"] = attack(bpda, data, "pgd", eps, steps=10).adversarial_accuracy
    rows.append(bpda_row)

    table = [{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    print(f"\nfit seconds: standard {standard_s:.0f}, adversarial training {robust_s:.0f}")
    print_table(table, ["model", "attack", "clean", *[f"eps {e:g}" for e in args.eps]])
    for eps, report in reports.items():
        print(f"bit squeezing ({args.bits} bit) at eps {eps:g}: {report.verdict}")

    goal = f"eps {args.goal_eps:g}"
    std_pgd = next(r[goal] for r in rows if r["model"] == "standard" and r["attack"] == "pgd")
    adv = next(r for r in rows if r["model"] == "adv-trained" and r["attack"] == "pgd")
    passed = std_pgd < 0.10 and adv[goal] >= 0.60 and adv["clean"] >= 0.95
    print(
        f"\ngoal at {goal}: standard PGD-10 {std_pgd:.3f} (< 0.10), adv-trained {adv[goal]:.3f} (>= 0.60), "
        f"clean {adv['clean']:.3f} (>= 0.95): {'met' if passed else 'NOT met'}"
    )

    speed = throughput(models["standard"], data, args.goal_eps, args.repeats)
    ips = speed["images_per_s"]
    print(
        f"PGD-10 throughput on {speed['images']} images: dltoolkit {ips['dltoolkit']:.0f} img/s, "
        f"torchattacks {ips['torchattacks']:.0f} img/s, overhead {100 * speed['overhead']:+.1f} % "
        f"(paired median {100 * speed['paired_overhead']:+.1f} %)"
    )
    payload = {
        "config": vars(args),
        "fit_seconds": {"standard": standard_s, "adv-trained": robust_s},
        "rows": rows,
        "autoattack": autoattack,
        "bit_squeezing": {str(e): r.summary() for e, r in reports.items()},
        "goal_met": passed,
        "throughput": speed,
    }
    path = write_json("robustness", payload, args.out)
    print(f"\nwrote {path}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Training choices are hyperparameters: losses, optimisers, schedules, warm-up, early stopping, clipping."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping

from dltoolkit.catalog import UnknownNameError, create_data, create_model
from dltoolkit.training.losses import build_loss
from dltoolkit.training.optim import build_optimizer, build_schedule


def test_cross_entropy_with_label_smoothing_matches_the_formula() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    y = torch.tensor([0])
    eps, k = 0.1, 3
    target = torch.full((1, k), eps / k)
    target[0, 0] += 1 - eps
    expected = -(target * logits.log_softmax(-1)).sum()
    assert torch.allclose(build_loss("cross_entropy", eps)(logits, y), expected)


def test_mse_loss_is_on_probabilities() -> None:
    logits = torch.tensor([[10.0, -10.0]])
    assert build_loss("mse")(logits, torch.tensor([0])).item() < 1e-6
    assert build_loss("mse")(logits, torch.tensor([1])).item() > 0.99


def test_bad_loss_and_optimizer_names_and_values() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'cross_entropy'"):
        build_loss("crossentropy")
    with pytest.raises(ValueError, match="label_smoothing"):
        build_loss("cross_entropy", 1.5)
    params = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(UnknownNameError, match="did you mean 'adam'"):
        build_optimizer(params, "adma", 0.1)
    with pytest.raises(ValueError, match="lr must be positive"):
        build_optimizer(params, "sgd", 0.0)


@pytest.mark.parametrize(
    ("name", "cls", "extra"),
    [
        ("sgd", torch.optim.SGD, {"momentum": 0.8, "nesterov": True}),
        ("adam", torch.optim.Adam, {}),
        ("adamw", torch.optim.AdamW, {}),
        ("rmsprop", torch.optim.RMSprop, {"momentum": 0.5}),
    ],
)
def test_optimizers(name: str, cls: type, extra: dict[str, Any]) -> None:
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(2))], name, 0.05, weight_decay=0.01, **extra)
    assert isinstance(opt, cls)
    group = opt.param_groups[0]
    assert group["lr"] == 0.05 and group["weight_decay"] == 0.01
    for key, value in extra.items():
        assert group[key] == value


def _lrs(name: str, warmup: float = 0.0, total: int = 100) -> list[float]:
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], "sgd", 1.0)
    config = build_schedule(
        opt, name, total_steps=total, steps_per_epoch=10, warmup_epochs=warmup, step_epochs=3
    )
    assert config is not None and config["interval"] == "step"
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        config["scheduler"].step()
    return lrs


def test_schedules_have_their_shapes() -> None:
    step = _lrs("step")
    assert step[0] == 1.0 and step[29] == 1.0 and step[30] == pytest.approx(0.1)
    cos = _lrs("cosine")
    assert cos[0] == 1.0 and cos[50] == pytest.approx(0.5, abs=0.02) and cos[-1] < 0.01
    one = _lrs("onecycle")
    peak = max(range(100), key=lambda i: one[i])
    assert one[0] < 0.1 and 20 <= peak <= 40 and one[-1] < 0.01
    warm = _lrs("cosine", warmup=2)  # 20 warm-up steps from 1% of the rate
    assert warm[0] == pytest.approx(0.01) and warm[10] < warm[19] < 1.0 and warm[20] == pytest.approx(1.0)
    flat = _lrs("none", warmup=1)
    assert flat[0] == pytest.approx(0.01) and flat[50] == 1.0


def test_no_schedule_is_none_and_plateau_watches_val_loss() -> None:
    opt = build_optimizer([torch.nn.Parameter(torch.zeros(1))], "adam", 1e-3)
    assert build_schedule(opt, "none", total_steps=10, steps_per_epoch=1) is None
    plateau = build_schedule(opt, "plateau", total_steps=10, steps_per_epoch=1)
    assert plateau is not None and plateau["monitor"] == "val/loss" and plateau["interval"] == "epoch"
    with pytest.raises(UnknownNameError, match="did you mean 'cosine'"):
        build_schedule(opt, "cosin", total_steps=10, steps_per_epoch=1)


@pytest.mark.parametrize(
    ("scheduler", "cls"),
    [
        ("step", "StepLR"),
        ("cosine", "LambdaLR"),
        ("onecycle", "OneCycleLR"),
        ("plateau", "ReduceLROnPlateau"),
    ],
)
def test_schedules_run_inside_lightning(scheduler: str, cls: str, fast_trainer: Any) -> None:
    dm = create_data("digits", batch_size=128)
    model = create_model("mlp", data=dm, hidden_sizes=[32], optimizer="sgd", lr=0.1, scheduler=scheduler)
    trainer = fast_trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=1)
    trainer.fit(model, dm)
    (config,) = trainer.lr_scheduler_configs
    assert type(config.scheduler).__name__ == cls
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    if scheduler in ("cosine", "onecycle"):
        assert lr < 0.02  # annealed over the 6 steps of the run
    else:
        assert lr == pytest.approx(0.1)  # step: decays after 10 epochs; plateau: patience not exhausted


def test_early_stopping_is_a_hyperparameter(fast_trainer: Any) -> None:
    dm = create_data("digits", batch_size=256)
    model = create_model("mlp", data=dm, hidden_sizes=[8], lr=1e-9, early_stopping_patience=1)
    trainer = fast_trainer(max_epochs=30, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(model, dm)
    assert any(isinstance(cb, EarlyStopping) for cb in trainer.callbacks)
    assert trainer.current_epoch < 30  # stopped: lr 1e-9 cannot improve val/loss


@pytest.mark.parametrize("clip", [None, 0.01])
def test_gradient_clipping_through_the_trainer(clip: float | None, fast_trainer: Any) -> None:
    # with plain SGD (lr 1, no momentum) one update equals the (clipped) gradient
    dm = create_data("digits", batch_size=64)
    model = create_model(
        "mlp",
        data=dm,
        hidden_sizes=[16],
        batch_norm=False,
        dropout=0.0,
        optimizer="sgd",
        lr=1.0,
        momentum=0.0,
    )
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    fast_trainer(max_steps=1, gradient_clip_val=clip, limit_val_batches=0).fit(model, dm)
    step = torch.cat([p.detach().flatten() for p in model.parameters()]) - before
    if clip is None:
        assert step.norm() > 0.05
    else:
        assert step.norm() == pytest.approx(clip, rel=1e-3)


def test_mlp_options_build_what_they_say() -> None:
    m = create_model(
        "mlp", hidden_sizes=[20, 10, 5], activation="tanh", dropout=0.0, batch_norm=False, init="orthogonal"
    )
    linears = [mod for mod in m.net if isinstance(mod, torch.nn.Linear)]
    assert [lin.out_features for lin in linears] == [20, 10, 5, 10]
    assert not any(isinstance(mod, torch.nn.BatchNorm1d | torch.nn.Dropout) for mod in m.net)
    assert sum(isinstance(mod, torch.nn.Tanh) for mod in m.net) == 3
    w = linears[1].weight  # orthogonal rows (scaled by the tanh gain)
    gram = w @ w.T
    assert torch.allclose(gram / gram[0, 0], torch.eye(10), atol=1e-4)
    with pytest.raises(ValueError, match="unknown activation"):
        create_model("mlp", activation="swishy")
    with pytest.raises(ValueError, match="dropout must be in"):
        create_model("mlp", dropout=1.5)


def test_logged_metrics_match_a_manual_evaluation(fast_trainer: Any) -> None:
    import torch.nn.functional as F

    dm = create_data("digits", batch_size=50)  # 359 test images: the last batch is smaller
    model = create_model("mlp", data=dm, hidden_sizes=[32])
    trainer = fast_trainer(max_epochs=2, log_every_n_steps=5)
    trainer.fit(model, dm)
    assert {"train/loss", "train/loss_epoch", "train/acc", "val/loss", "val/acc"} <= set(
        trainer.callback_metrics
    )
    (res,) = trainer.test(model, dm, verbose=False)
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    with torch.no_grad():
        for x, y in dm.test_dataloader():
            logits = model(x)
            correct += int((logits.argmax(-1) == y).sum())
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            n += len(y)
    assert res["test/acc"] == pytest.approx(correct / n, abs=1e-6)
    assert res["test/loss"] == pytest.approx(loss_sum / n, rel=1e-5)  # weighted by batch size

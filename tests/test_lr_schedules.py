"""Learning-rate schedules from the ``scheduler`` group reach the optimiser, epoch by epoch."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import compose_config, options

from rdframe.build import build_data, build_system
from rdframe.lr_schedules import ConstantThenLinearDecay
from rdframe.train import run

QUICK = ["latent_dim=4", "iwae_samples=4", "logger=none", "~callbacks.checkpoint",
         "trainer.enable_progress_bar=false", "trainer.max_epochs=4"]


def learning_rates(overrides: list[str], tmp_path) -> list[float]:
    """The learning rate in force in each of 4 epochs, read from the scheduler Lightning ran."""
    cfg = compose_config([*QUICK, *overrides], tmp_path)
    build_data(cfg)
    system = build_system(cfg)
    setup = system.configure_optimizers()
    if isinstance(setup, torch.optim.Optimizer):
        return [setup.param_groups[0]["lr"]] * 4
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("none", [1e-3] * 4),
        ("step", [1e-3, 1e-3, 1e-4, 1e-4]),  # milestones [2] below, gamma 0.1
        ("cosine", [1e-3 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)]),
        ("linear_decay", [1e-3, 1e-3, 1e-3, 5e-4]),  # constant to epoch 2 of 4, then to 0
    ],
)
def test_each_schedule_gives_its_learning_rates(tmp_path, option, expected):
    extra = ["scheduler.scheduler.milestones=[2]"] if option == "step" else []
    assert learning_rates([f"scheduler={option}", *extra], tmp_path) == pytest.approx(expected)
    assert option in options("scheduler")


def test_training_steps_the_scheduler_each_epoch(tmp_path):
    overrides = [*QUICK, "scheduler=step", "scheduler.scheduler.milestones=[1,3]",
                 "scheduler.scheduler.gamma=0.5"]
    run(compose_config(overrides, tmp_path))
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    (state,) = checkpoint["lr_schedulers"]
    assert state["last_epoch"] == 4 and state["_last_lr"] == pytest.approx([1e-3 * 0.25])


def test_linear_decay_refuses_a_bad_total():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="total must be a whole number >= 1"):
        ConstantThenLinearDecay(optimizer, total=0)

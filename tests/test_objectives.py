"""Objectives and β schedules: losses, the β in force, errors, and target-rate training."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from rdframe.data import DigitsDataModule
from rdframe.decoders import BernoulliMLPDecoder
from rdframe.encoders import GaussianMLPEncoder
from rdframe.errors import ConfigError
from rdframe.estimators import rd_terms
from rdframe.marginals import StandardNormal
from rdframe.model import RDModel, RDTerms
from rdframe.objectives import ELBO, BetaVAE, InformationBottleneck, Objective, TargetRate
from rdframe.schedules import ConstantSchedule, CyclicalSchedule, LinearWarmup
from rdframe.system import RDSystem

F64 = torch.float64


def fit(
    model: RDModel,
    objective: Objective,
    x: Tensor,
    y: Tensor,
    steps: int,
    batch_size: int = 100,
    lr: float = 1e-3,
    logger: pl.loggers.Logger | bool = False,
) -> RDSystem:
    """Train ``model`` for ``steps`` steps through RDSystem and Lightning, on CPU, quietly."""
    loader = DataLoader(TensorDataset(x, y), batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    optimizer = lambda parameters: torch.optim.Adam(parameters, lr=lr)  # noqa: E731
    system = RDSystem(model, objective, optimizer, iwae_samples=10)
    trainer = pl.Trainer(
        max_steps=steps, accelerator="cpu", logger=logger, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
    )
    trainer.fit(system, loader)
    return system


def digits(split: str = "train") -> tuple[Tensor, Tensor]:
    data = DigitsDataModule()
    data.setup()
    x, y = getattr(data, f"{split}_set").tensors
    return x, y


def _terms(batch: int = 7) -> RDTerms:
    return RDTerms(rate=torch.rand(batch, dtype=F64) * 10, distortion=torch.rand(batch, dtype=F64))


@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 7.5])
def test_beta_vae_loss_is_distortion_plus_beta_rate(beta):
    terms = _terms()
    loss = BetaVAE(beta).loss(terms, step=3)
    assert torch.allclose(loss, terms.distortion + beta * terms.rate, rtol=0, atol=1e-12)


def test_beta_one_loss_is_the_negative_elbo():
    model = RDModel(GaussianMLPEncoder((1, 8, 8), 2, (16,)),
                    BernoulliMLPDecoder(2, (1, 8, 8), (16,)), StandardNormal(2)).double()
    x = digits()[0][:20].double()
    terms = model.terms(x)
    for objective in (ELBO(), BetaVAE(1.0)):
        assert torch.equal(objective.loss(terms, step=0), -terms.elbo)
        assert objective.beta(step=123) == 1.0


def test_linear_warmup_values():
    schedule = LinearWarmup(beta=2.0, steps=10, start=0.5)
    values = [schedule(t) for t in range(15)]
    assert values[0] == 0.5 and values[10:] == [2.0] * 5
    assert all(b > a for a, b in zip(values[:10], values[1:11]))  # rises strictly until 10
    assert schedule(5) == pytest.approx(1.25)


def test_cyclical_schedule_repeats_and_then_holds():
    schedule = CyclicalSchedule(beta=3.0, period=8, ratio=0.25, cycles=3)
    first = [schedule(t) for t in range(8)]
    assert first == [0.0, 1.5, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]  # rises over 2 steps, holds
    assert [schedule(t) for t in range(8, 24)] == first * 2  # periodic
    assert all(schedule(t) == 3.0 for t in range(24, 40))  # after 3 cycles: β holds
    assert all(0 <= schedule(t) <= 3.0 for t in range(40))


def test_objective_uses_its_schedule_at_the_step():
    objective = BetaVAE(LinearWarmup(beta=1.0, steps=4))
    terms = _terms()
    for step in range(6):
        beta = min(step / 4, 1.0)
        assert objective.beta(step) == beta
        assert torch.allclose(objective.loss(terms, step), terms.distortion + beta * terms.rate)
    assert BetaVAE(0.25).schedule.__class__ is ConstantSchedule


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BetaVAE(-0.1), "objective.beta must be a finite number >= 0, got -0.1"),
        (lambda: BetaVAE(float("nan")), "objective.beta must be a finite number >= 0"),
        (lambda: BetaVAE(float("inf")), "objective.beta must be a finite number >= 0"),
        (lambda: BetaVAE("big"), "objective.beta must be a number >= 0, got 'big'"),
        (lambda: InformationBottleneck(-1.0), "objective.beta must be a finite number >= 0"),
        (lambda: LinearWarmup(beta=-1.0, steps=10), "objective.beta must be"),
        (lambda: LinearWarmup(beta=1.0, steps=0), "warm-up's steps must be a whole number"),
        (lambda: CyclicalSchedule(1.0, period=10, ratio=0.0), r"ratio must lie in \(0, 1\]"),
        (lambda: CyclicalSchedule(1.0, period=10, cycles=0), "number of cycles must be"),
        (lambda: TargetRate(sigma=-2.0), "objective.sigma .* must be a finite number >= 0"),
    ],
)
def test_invalid_settings_are_config_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_beta_schedule_from_the_config(make_config):
    cfg = make_config(
        "objective.beta={_target_:rdframe.schedules.CyclicalSchedule,beta:2.0,period:10}"
    )
    objective = instantiate(cfg.objective)
    assert [objective.beta(t) for t in (0, 2, 5, 9, 10)] == [0.0, 0.8, 2.0, 2.0, 0.0]


def test_negative_beta_in_the_config_is_a_config_error(make_config):
    cfg = make_config("objective.beta=-1")
    with pytest.raises(Exception) as info:
        instantiate(cfg.objective)
    cause = info.value  # Hydra wraps it; `rdframe train` prints the ConfigError alone
    while cause is not None and not isinstance(cause, ConfigError):
        cause = cause.__cause__
    assert isinstance(cause, ConfigError) and "objective.beta must be" in str(cause)


def test_logged_beta_is_the_one_in_force(tmp_path: Path):
    torch.manual_seed(0)
    model = RDModel(GaussianMLPEncoder((1, 8, 8), 2, (16,)),
                    BernoulliMLPDecoder(2, (1, 8, 8), (16,)), StandardNormal(2))
    schedule = CyclicalSchedule(beta=1.0, period=6, ratio=0.5)
    x, y = digits()
    logger = pl.loggers.CSVLogger(tmp_path, name="", version="")
    fit(model, BetaVAE(schedule), x[:200], y[:200], steps=14, batch_size=20, logger=logger)
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    logged = {int(r["step"]): float(r["beta"]) for r in rows if r.get("beta")}
    assert sorted(logged) == list(range(14))
    assert all(logged[t] == pytest.approx(schedule(t)) for t in logged)


def test_target_rate_loss_and_its_gradient():
    terms = RDTerms(rate=torch.tensor([1.0, 3.0], requires_grad=True),
                    distortion=torch.tensor([5.0, 7.0]))
    loss = TargetRate(sigma=4.0).loss(terms, step=0)  # R̄ = 2 below σ = 4: penalty 2
    assert torch.equal(loss.detach(), torch.tensor([7.0, 9.0]))
    loss.mean().backward()  # ∂/∂R_i of |σ − R̄| = −1/B while R̄ < σ: the rate is pushed up
    assert torch.equal(terms.rate.grad, torch.tensor([-0.5, -0.5]))
    assert TargetRate(sigma=4.0).beta(step=0) == 1.0


def test_target_rate_training_reaches_the_target():
    """D + |σ − R| on the digits: after training, the test rate is within 0.5 nats of σ."""
    torch.manual_seed(0)
    sigma = 6.0
    model = RDModel(GaussianMLPEncoder((1, 8, 8), 4, (64,)),
                    BernoulliMLPDecoder(4, (1, 8, 8), (64,)), StandardNormal(4))
    x, y = digits()
    fit(model, TargetRate(sigma), x, y, steps=600, lr=3e-3)
    x_test, _ = digits("test")
    rate = rd_terms(model, x_test, samples=10).rate.mean().item()
    assert math.isfinite(rate) and abs(rate - sigma) < 0.5, rate

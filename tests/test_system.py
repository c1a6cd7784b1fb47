"""RDSystem inside a real Lightning Trainer on the digits, with CSV and offline W&B loggers."""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import WandbLogger

from rdframe.build import build_data, build_system
from rdframe.system import RDSystem

STAGE_KEYS = ("rate", "distortion", "elbo", "loss")


def _trainer(tmp_path, **options) -> pl.Trainer:
    defaults = dict(accelerator="cpu", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False,
                    default_root_dir=tmp_path)
    return pl.Trainer(**{**defaults, **options})


def test_fast_dev_run_logs_every_quantity(make_config, tmp_path):
    cfg = make_config("iwae_samples=8", "objective.beta=0.5")
    data, system = build_data(cfg), build_system(cfg)
    trainer = _trainer(tmp_path, fast_dev_run=2)
    trainer.fit(system, datamodule=data)
    logged = trainer.callback_metrics
    assert {f"train/{k}" for k in STAGE_KEYS} | {"beta"} <= logged.keys()
    assert {f"val/{k}" for k in STAGE_KEYS} <= logged.keys()
    metrics = trainer.test(system, datamodule=data, verbose=False)[0]
    assert {f"test/{k}" for k in (*STAGE_KEYS, "iwae_nll", "iwae_bpd")} <= metrics.keys()
    assert math.isclose(metrics["test/elbo"],
                        -(metrics["test/rate"] + metrics["test/distortion"]), rel_tol=1e-5)
    assert math.isclose(metrics["test/iwae_bpd"],
                        metrics["test/iwae_nll"] / (64 * math.log(2)), rel_tol=1e-5)
    for stage, values in (("val", logged), ("test", metrics)):  # the mean of D + β·R, β = 0.5
        expected = float(values[f"{stage}/distortion"]) + 0.5 * float(values[f"{stage}/rate"])
        assert math.isclose(float(values[f"{stage}/loss"]), expected, rel_tol=1e-5), stage


def test_evaluation_metrics_are_means_over_every_example_of_the_split(make_config, tmp_path):
    """val/… and test/… are means over the split's examples, each batch weighted by its size:
    replayed batch by batch from the same seeds, a last batch of another size included (a mean
    of the batches' means would differ)."""
    from rdframe.seeding import seed_batch

    cfg = make_config("latent_dim=4", "data.batch_size=70", "iwae_samples=4")
    data, system = build_data(cfg), build_system(cfg)
    data.setup("fit")
    batches = list(data.val_dataloader())
    assert len(batches[-1][0]) != len(batches[0][0])
    logged = _trainer(tmp_path).validate(system, datamodule=data, verbose=False)[0]
    terms = []
    with torch.no_grad():
        for i, batch in enumerate(batches):
            seed_batch(system.seed, "val", 0, i)
            terms.append(system._terms(batch))
    rate = torch.cat([t.rate for t in terms])
    distortion = torch.cat([t.distortion for t in terms])
    assert math.isclose(logged["val/rate"], rate.double().mean(), rel_tol=1e-6)
    assert math.isclose(logged["val/distortion"], distortion.double().mean(), rel_tol=1e-6)
    batch_means = torch.stack([t.distortion.double().mean() for t in terms]).mean()
    assert not math.isclose(logged["val/distortion"], batch_means, rel_tol=1e-6)


def test_training_metrics_are_logged_every_log_every_n_steps(make_config, tmp_path):
    """Only the steps a logger receives call self.log at all (it costs a fraction of a small
    model's step); what they log reaches the logger."""

    class Counted(RDSystem):
        def log_dict(self, values: dict, **options) -> None:
            if "train/loss" in values:
                self.logged_steps.append(self.global_step)
            super().log_dict(values, **options)

    cfg = make_config("latent_dim=4")
    data, system = build_data(cfg), build_system(cfg)
    system.__class__, system.logged_steps = Counted, []
    logger = pl.loggers.CSVLogger(tmp_path)
    trainer = _trainer(tmp_path, max_steps=12, limit_val_batches=0, log_every_n_steps=5,
                       logger=logger)
    trainer.fit(system, datamodule=data)
    assert system.logged_steps == [4, 9]  # the 5th and 10th steps: Lightning's rule
    rows = list(csv.DictReader((Path(logger.log_dir) / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows if r.get("train/loss")] == [4, 9]


def test_training_lowers_the_loss(make_config, tmp_path):
    cfg = make_config("objective.beta=1.0")
    data, system = build_data(cfg), build_system(cfg)
    trainer = _trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    before = trainer.test(system, datamodule=data, verbose=False)[0]["test/loss"]
    trainer = _trainer(tmp_path, max_epochs=5, limit_val_batches=0)
    trainer.fit(system, datamodule=data)
    after = trainer.test(system, datamodule=data, verbose=False)[0]["test/loss"]
    assert after < before - 5  # nats per example, from ≈ 44 (random) to well below


def test_offline_wandb_logger_records_the_run(make_config, tmp_path):
    cfg = make_config("iwae_samples=4")
    data, system = build_data(cfg), build_system(cfg)
    logger = WandbLogger(project="rdframe-test", save_dir=str(tmp_path), offline=True)
    trainer = _trainer(tmp_path, logger=logger, max_epochs=1, limit_train_batches=3,
                       limit_val_batches=1, log_every_n_steps=1)
    trainer.fit(system, datamodule=data)
    logger.experiment.finish()
    (record,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    keys = [key.encode() for key in ("train/rate", "val/distortion", "beta")]
    deadline = time.monotonic() + 60  # W&B's service writes the log after finish() returns
    while not all(key in record.read_bytes() for key in keys) and time.monotonic() < deadline:
        time.sleep(0.5)
    content = record.read_bytes()  # protobuf records: metric names are stored verbatim
    assert all(key in content for key in keys)


class LossSeen(pl.Callback):
    """At every training step t: (t, the loss handed to backward, and the batch means D̄, R̄,
    β and loss the system logged for that step)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, float, float, float, float, float]] = []
        self._loss: tuple[int, float] | None = None

    def on_before_backward(self, trainer: pl.Trainer, module: pl.LightningModule, loss) -> None:
        self._loss = (trainer.global_step, loss.item())

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step, loss = self._loss
        logged = trainer.callback_metrics
        self.steps.append((step, loss, logged["train/distortion"].item(),
                           logged["train/rate"].item(), logged["beta"].item(),
                           logged["train/loss"].item()))


def test_the_optimiser_minimises_the_loss_of_the_beta_in_force(make_config, tmp_path):
    """Under a warm-up β(t) = min(t/10, 1), the loss that reaches backward at step t is
    D̄ + β(t)·R̄: it differs from the loss at any fixed β₀ by exactly (β(t) − β₀)·R̄."""
    warmup = "{_target_:rdframe.schedules.LinearWarmup,beta:1.0,steps:10}"
    cfg = make_config(f"objective.beta={warmup}", "latent_dim=4")
    data, system = build_data(cfg), build_system(cfg)
    schedule, seen = system.objective.schedule, LossSeen()
    trainer = _trainer(tmp_path, max_steps=14, limit_val_batches=0, callbacks=[seen],
                       log_every_n_steps=1)
    trainer.fit(system, datamodule=data)
    assert [step for step, *_ in seen.steps] == list(range(14))
    for step, loss, distortion, rate, beta, logged_loss in seen.steps:
        assert beta == pytest.approx(schedule(step)) == min(step / 10, 1.0)
        assert logged_loss == loss  # what is logged is what is minimised
        assert loss == pytest.approx(distortion + schedule(step) * rate, rel=1e-6, abs=1e-5)
        assert loss - (distortion + schedule(0) * rate) == pytest.approx(
            (schedule(step) - schedule(0)) * rate, abs=1e-4)
    # the check has teeth: at the last steps β·R̄ is nats, far above float error
    assert min(schedule(step) * rate for step, _, _, rate, *_ in seen.steps[-4:]) > 0.5


def test_the_best_checkpoint_is_the_best_validation_elbo_under_a_warm_up(tmp_path):
    """β rises from 0 to 1 over the whole run, so val/loss = D + β·R is lowest in an early,
    low-β epoch whose ELBO is worse; the kept "best" checkpoint must be the epoch of the best
    validation ELBO, read back from the CSV log (issue 9)."""
    from conftest import compose_config

    from rdframe.train import run

    warmup = "{_target_:rdframe.schedules.LinearWarmup,beta:1.0,steps:360}"  # 6 epochs of 60
    run(compose_config([f"objective.beta={warmup}", "data.batch_size=20", "trainer.max_epochs=6",
                        "optimizer.lr=3e-3", "iwae_samples=4", "trainer.enable_progress_bar=false"],
                       tmp_path))
    with open(tmp_path / "logs" / "metrics.csv", newline="") as stream:
        rows = [row for row in csv.DictReader(stream) if row.get("val/elbo")]
    assert [int(row["epoch"]) for row in rows] == list(range(6))  # one validation per epoch
    best_elbo = int(max(rows, key=lambda row: float(row["val/elbo"]))["epoch"])
    lowest_loss = int(min(rows, key=lambda row: float(row["val/loss"]))["epoch"])
    assert lowest_loss != best_elbo  # a case where the two selections disagree
    best = torch.load(tmp_path / "checkpoints" / "best.ckpt", map_location="cpu",
                      weights_only=False)
    assert best["epoch"] == best_elbo


def test_the_nvml_check_is_dropped_only_where_it_cannot_change_the_answer(monkeypatch):
    """Lightning's NVML-based CUDA check stays where NVIDIA's library loads; where it does not,
    dropping it leaves torch.cuda.is_available()'s answer as it was."""
    import ctypes

    from rdframe.system import drop_failing_nvml_check

    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    with_check = torch.cuda.is_available()
    drop_failing_nvml_check()
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        loads = True
    except OSError:
        loads = False
    assert (os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1") == loads
    assert torch.cuda.is_available() == with_check

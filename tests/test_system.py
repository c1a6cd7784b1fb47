"""RDSystem inside a real Lightning Trainer on the digits, with CSV and offline W&B loggers."""

from __future__ import annotations

import math

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from rdframe.build import build_data, build_system

STAGE_KEYS = ("rate", "distortion", "elbo", "loss")


def _trainer(tmp_path, **options) -> pl.Trainer:
    defaults = dict(accelerator="cpu", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False,
                    default_root_dir=tmp_path)
    return pl.Trainer(**{**defaults, **options})


def test_fast_dev_run_logs_every_quantity(make_config, tmp_path):
    cfg = make_config("iwae_samples=8")
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
    content = record.read_bytes()  # protobuf records: metric names are stored verbatim
    assert all(key.encode() in content for key in ("train/rate", "val/distortion", "beta"))

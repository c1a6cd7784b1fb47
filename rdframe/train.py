"""One training run: build from the config, fit, test, write rd.json, print one summary line."""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from rdframe.build import build_data, build_system
from rdframe.data.base import RDDataModule
from rdframe.data.support import check_support
from rdframe.errors import RDFrameError, one_line
from rdframe.results import RunResult
from rdframe.system import RDSystem, check_target


def _choice(cfg: DictConfig, group: str) -> str:
    """The option chosen for a config group (``encoder=conv`` → "conv"), else the class name."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return str(choice)
    return str(cfg[group].get("_target_", "?")).rsplit(".", 1)[-1]


def _logger(cfg: DictConfig) -> pl.loggers.Logger | bool:
    return instantiate(cfg.logger) if cfg.get("logger") else False


def _callbacks(cfg: DictConfig) -> list[pl.Callback]:
    return [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]


def _quiet_lightning() -> None:
    """Drop Lightning's advertising tips and the worker-count hint for in-memory data sets."""
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*treespec, LeafSpec.*")
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
        lambda record: not str(record.msg).startswith("💡")
    )


def _check_data(cfg: DictConfig, data: RDDataModule, system: RDSystem) -> None:
    """Before any training: the decoder scores what the objective asks for, and the first
    training batch lies in the decoder's support."""
    check_target(system.model, system.objective)
    data.setup("fit")
    x, y = next(iter(DataLoader(data.train_set, batch_size=256)))
    target = y if system.objective.target == "y" else x
    check_support(system.model.decoder, cfg.latent_dim, target, data.name)


def run(cfg: DictConfig) -> RunResult | None:
    """Train and test one model as ``cfg`` says; rank 0 writes rd.json and returns its record."""
    _quiet_lightning()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    data = build_data(cfg)
    system = build_system(cfg)
    _check_data(cfg, data, system)
    out = Path(cfg.output_dir)
    trainer: pl.Trainer = instantiate(
        cfg.trainer, logger=_logger(cfg), callbacks=_callbacks(cfg), default_root_dir=out
    )
    start = time.perf_counter()
    trainer.fit(system, datamodule=data)
    seconds = time.perf_counter() - start
    metrics = trainer.test(system, datamodule=data, verbose=False)[0]
    if not trainer.is_global_zero:
        return None
    result = _result(cfg, metrics, trainer, seconds, system.objective.beta(trainer.global_step))
    path = result.write(out)
    print(_summary(result, path), flush=True)
    return result


def _result(
    cfg: DictConfig, metrics: dict, trainer: pl.Trainer, seconds: float, beta: float
) -> RunResult:
    nll = metrics.get("test/iwae_nll")
    return RunResult(
        rate=metrics["test/rate"],
        distortion=metrics["test/distortion"],
        elbo=metrics["test/elbo"],
        iwae_nll=nll,
        iwae_bpd=metrics.get("test/iwae_bpd"),
        error=metrics.get("test/error"),
        iwae_samples=cfg.iwae_samples if nll is not None else 0,
        beta=beta,
        objective=_choice(cfg, "objective"),
        encoder=_choice(cfg, "encoder"),
        decoder=_choice(cfg, "decoder"),
        marginal=_choice(cfg, "marginal"),
        dataset=_choice(cfg, "data"),
        entropy=getattr(trainer.datamodule, "entropy", None),
        seed=cfg.seed,
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        train_seconds=round(seconds, 3),
        config=OmegaConf.to_container(cfg, resolve=True),
    )


def _summary(r: RunResult, path: Path) -> str:
    nll = "n/a" if r.iwae_nll is None else f"{r.iwae_nll:.2f}"
    return (
        f"rdframe: beta={r.beta:g} {r.family} on {r.dataset}: R={r.rate:.2f} D={r.distortion:.2f} "
        f"ELBO={r.elbo:.2f} IWAE-NLL={nll} nats ({r.epochs} epochs, {r.train_seconds:.1f} s) "
        f"-> {path}"
    )


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """Hydra's entry point for ``rdframe train`` and ``rdframe sweep``."""
    try:
        run(cfg)
    except Exception as error:
        message = _user_error(error)
        if message is None:
            raise
        raise SystemExit(f"rdframe: error: {message}") from None


def _user_error(error: BaseException) -> str | None:
    """One line for an error the user can fix: an RDFrameError (which Hydra may wrap while
    instantiating) or a config that does not instantiate; None for anything else (a bug)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, RDFrameError):
        cause = cause.__cause__
    if cause is not None:
        return str(cause)
    return one_line(error) if isinstance(error, InstantiationException) else None


if __name__ == "__main__":  # re-executed as a script by Lightning's DDP launcher
    main()

"""One training run: build from the config, fit, test, write rd.json, print one summary line."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor
from torch.utils.data import DataLoader

from rdframe.build import build_data, build_system
from rdframe.checkpointing import (
    LAST,
    LAUNCH_KEYS,
    LENGTH_KEYS,
    AtomicCheckpointIO,
    Preempted,
    ResumeCheckpoint,
    check_same_run,
    check_weights,
    config_differences,
    defaulted_keys,
    read_checkpoint,
)
from rdframe.data.base import RDDataModule
from rdframe.data.support import check_support
from rdframe.errors import ConfigError, RDFrameError, reportable
from rdframe.evaluation.gallery import grids
from rdframe.loggers import log_config, log_results, sweep_group
from rdframe.model import RDModel
from rdframe.pictures import has_images, picture_counts, write_pictures
from rdframe.resolvers import register_resolvers
from rdframe.results import RESULTS_FILE, RunResult
from rdframe.system import RDSystem, check_target
from rdframe.validate import check_config

register_resolvers()  # hydra.run.dir uses them, also when Lightning re-runs this file


def _choice(cfg: DictConfig, group: str) -> str:
    """The option chosen for a config group (``encoder=conv`` → "conv"), else the class name."""
    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get(group)
        if choice:
            return str(choice)
    return str(cfg[group].get("_target_", "?")).rsplit(".", 1)[-1]


def _logger(cfg: DictConfig) -> pl.loggers.Logger | bool:
    return instantiate(cfg.logger, **_sweep_names(cfg.logger)) if cfg.get("logger") else False


def _sweep_names(logger: DictConfig) -> dict[str, str]:
    """In a sweep, a logger's ``group`` left null is the sweep folder's name (one W&B group
    per sweep) and its ``name`` left null the job's overrides (``objective.beta=0.5``)."""
    if not _in_sweep():
        return {}
    hydra_cfg = HydraConfig.get()
    names = {"group": sweep_group(hydra_cfg.sweep.dir), "name": hydra_cfg.job.override_dirname}
    return {k: v for k, v in names.items() if v and k in logger and logger[k] is None}


def _callbacks(cfg: DictConfig) -> list[pl.Callback]:
    return [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]


def _quiet_lightning() -> None:
    """Drop Lightning's advertising tips, the worker-count hint for in-memory data sets, and
    its warnings about a resumed run that do not apply to rdframe's."""
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", ".*`training_step` returned `None`.*")  # skip_nonfinite
    # a resumed run's folder holds its checkpoints, and its sampler resumes the batch order
    warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")
    warnings.filterwarnings("ignore", ".*your dataloader is not resumable.*")
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(
        lambda record: not str(record.msg).startswith("💡")
    )


def _check_data(cfg: DictConfig, data: RDDataModule, system: RDSystem) -> None:
    """Before any training: the decoder scores what the objective asks for, the first
    training batch lies in the decoder's support, and the model runs on it."""
    check_target(system.model, system.objective)
    data.setup("fit")
    x, y = next(iter(DataLoader(data.train_set, batch_size=256)))
    target = y if system.objective.target == "y" else x
    check_support(system.model.decoder, cfg.latent_dim, target, data.name)
    check_model_runs(system, x, target, data.name)


def check_model_runs(system: RDSystem, x: Tensor, target: Tensor, dataset: str) -> None:
    """A ConfigError if the model cannot score a batch of the data (shapes that do not fit)."""
    try:
        with torch.no_grad(), torch.random.fork_rng():
            system.model.terms(x[:2], target=target[:2])
    except (RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        encoder, decoder = type(system.model.encoder), type(system.model.decoder)
        raise ConfigError(
            f"encoder {encoder.__name__} / decoder {decoder.__name__} do not fit data "
            f"{dataset!r} of shape "
            f"{tuple(x.shape[1:])} ({first}); choose components made for this data, or set "
            f"their sizes (e.g. encoder.input_shape, decoder.output_shape follow data_shape)"
        ) from None


def run(cfg: DictConfig) -> RunResult | None:
    """Train and test one model as ``cfg`` says; rank 0 writes rd.json and returns its record.

    The run's folder (``output_dir``) decides what happens: with an rd.json of the same config
    the run is done and is not repeated; with ``checkpoints/last.ckpt`` of the same config it
    continues from there; anything of another config stops the run (``overwrite=true`` starts
    afresh instead).
    """
    _quiet_lightning()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    out = Path(cfg.output_dir)
    data = build_data(cfg)
    system = build_system(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    if cfg.overwrite:
        _clear(out)
    done = finished_run(out, config)
    if done is not None:
        say(f"{out / RESULTS_FILE} already holds this run; not repeated")
        return done
    checkpoint = resume_checkpoint(out, config, system)
    _check_data(cfg, data, system)
    resume = ResumeCheckpoint(out / "checkpoints", cfg.checkpoint_every, config)
    with _own_process_group():
        trainer = _trainer(cfg, out, resume)
        return _fit_and_test(cfg, trainer, system, data, checkpoint, resume)


def _fit_and_test(
    cfg: DictConfig,
    trainer: pl.Trainer,
    system: RDSystem,
    data: RDDataModule,
    checkpoint: Path | None,
    resume: ResumeCheckpoint,
) -> RunResult | None:
    out = Path(cfg.output_dir)
    try:
        trainer.fit(system, datamodule=data, ckpt_path=checkpoint, weights_only=False)
    except Preempted as stop:
        print(f"rdframe: stopped by {stop}", file=sys.stderr, flush=True)
        stop.hand_on()  # under submitit: requeue this job, to resume from the checkpoint
        raise SystemExit(stop.exit_code) from None
    seconds = resume.train_seconds()
    beta = system.objective.beta(trainer.global_step)
    tested = _tested(cfg, trainer)
    system.test_passes = ("terms",)
    metrics = trainer.test(system, datamodule=data, verbose=False, ckpt_path=tested)[0]
    iwae = system.objective.target == "x"
    if trainer.is_global_zero:
        result = _result(cfg, metrics, trainer, seconds, beta, pending=["iwae_nll"] * iwae)
        path = result.write(out)
        if iwae:
            say(f"wrote {path} (R={result.rate:.2f} D={result.distortion:.2f}); now the "
                f"IWAE NLL at k={cfg.iwae_samples}")
    if iwae:  # the long pass, after the rest is safe on disk
        system.test_passes = ("iwae",)
        metrics |= trainer.test(system, datamodule=data, verbose=False, ckpt_path=tested)[0]
    if not trainer.is_global_zero:
        return None
    result = _result(cfg, metrics, trainer, seconds, beta)
    path = result.write(out)
    print(_summary(result, path), flush=True)
    log_results(trainer.loggers, result, _pictures(cfg, trainer.datamodule, system.model),
                trainer.global_step)
    return result


def _pictures(cfg: DictConfig, data: RDDataModule, model: RDModel) -> dict[str, np.ndarray]:
    """The run's pictures of test images (``pictures`` in the config) saved in
    output_dir/pictures, and their grids for the loggers; none for a classifier decoder, or
    with pictures.enabled=false."""
    options = cfg.get("pictures") or {}
    if not options.get("enabled", False) or not has_images(model):
        return {}
    if data.test_set is None:
        data.setup("test")
    return grids(write_pictures(model, data.test_set, Path(cfg.output_dir), cfg.seed,
                                **picture_counts(options)))


def _tested(cfg: DictConfig, trainer: pl.Trainer) -> str | None:
    """``trainer.test``'s ckpt_path: None for the weights as trained, "best" for the best
    checkpoint by validation loss (the weights as trained if no validation has run)."""
    if cfg.test_weights == "last":
        return None
    callback = trainer.checkpoint_callback
    if callback is None or not callback.best_model_path:
        say("test_weights=best, but no validation ran to pick a best: testing the last weights")
        return None
    if not Path(callback.best_model_path).is_file():
        raise ConfigError(
            f"test_weights=best, but the run's best checkpoint {callback.best_model_path} is "
            f"missing (moved or deleted); the training is saved in checkpoints/{LAST}. Put the "
            f"file back and relaunch to test it, or relaunch with test_weights=last"
        )
    return "best"


def _trainer(cfg: DictConfig, out: Path, resume: ResumeCheckpoint) -> pl.Trainer:
    """The configured Trainer, with atomic checkpoint files and the resume checkpoint."""
    _ddp_ranks_run_this_job()
    trainer = instantiate(
        cfg.trainer,
        logger=_logger(cfg),
        callbacks=[*_callbacks(cfg), resume],
        plugins=[AtomicCheckpointIO(), *_cluster()],
        default_root_dir=out,
    )
    log_config(trainer.loggers, OmegaConf.to_container(cfg, resolve=True))
    return trainer


# What Lightning's DDP launcher sets in the environment of its first rank: MASTER_PORT, and
# LOCAL_RANK, which tells the next Trainer that its processes were started for it already.
LAUNCHER_ENVIRONMENT = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def _own_process_group() -> Iterator[None]:
    """A run with its own DDP process group, ended with it (its further ranks exit with the
    run), and the environment as before, so that the next job of a sweep in this process
    launches its own ranks instead of reusing a group whose peers are gone."""
    before = {name: os.environ.get(name) for name in LAUNCHER_ENVIRONMENT}
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _ddp_ranks_run_this_job() -> None:
    """In a job of a sweep, make the command that Lightning's DDP launcher gives its further
    ranks (``sys.argv`` and ``hydra.run.dir``, see ``_hydra_subprocess_cmd``) this one job as a
    single run in this job's folder, not the whole sweep again: else every rank would launch
    every job, and write the sweep's summary, once more."""
    if not _in_sweep():
        return
    hydra_cfg = HydraConfig.get()
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


def _cluster() -> list[SLURMEnvironment]:
    """Under SLURM, Lightning's SLURM environment without its own requeue on SIGUSR1: the
    resume checkpoint takes the preemption signals, saves, and requeues (or lets submitit)."""
    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def finished_run(out: Path, config: dict) -> RunResult | None:
    """The run's record if ``out`` holds an rd.json of this config; None if there is none, if
    it lacks metrics the run was stopped while scoring (``pending``: they are scored again
    from the checkpoint), or if this command only trains it longer (it continues from its
    checkpoint); a ConfigError
    if it holds a run of another config (nothing a user made is overwritten unless asked)."""
    path = out / RESULTS_FILE
    if not path.is_file():
        return None
    result = RunResult.read(path)
    differences = config_differences(result.config, config, ignore=LAUNCH_KEYS)
    if result.pending and not differences:
        say(f"{path} lacks {', '.join(result.pending)}, stopped while scoring it; scoring again")
        return None
    if differences and all(key in LENGTH_KEYS for key, _, _ in differences):
        say(f"{path} holds this run trained for {differences[0][0]}={differences[0][1]}; "
            f"continuing to {differences[0][2]}")
        return None
    if differences:
        key, old, new = differences[0]
        raise ConfigError(
            f"{out} already holds a finished run of another config ({key}: {old!r} there, "
            f"{new!r} here); nothing was changed. Choose another folder (hydra.run.dir=… or "
            f"hydra.sweep.dir=…), or pass overwrite=true to replace it"
        )
    return result


def resume_checkpoint(out: Path, config: dict, system: RDSystem) -> Path | None:
    """``out/checkpoints/last.ckpt`` if there is one, checked: readable, of the same config,
    fitting the model; None for a fresh run."""
    path = out / "checkpoints" / LAST
    if not path.is_file():
        if config.get("resume") and not (_in_sweep() or _further_rank()):
            raise ConfigError(
                f"resume={config['resume']}: no checkpoint at {path} to resume from; give the "
                f"folder of a run that `rdframe train` started, or drop resume= for a new run"
            )
        return None
    checkpoint = read_checkpoint(path)
    check_same_run(path, checkpoint.get("rdframe_config"), config)
    for key, value in defaulted_keys(checkpoint["rdframe_config"], config).items():
        say(f"{key} is set in only one of this config and {path}'s, to its default "
            f"({value!r}): the same run")
    check_weights(path, checkpoint, system)
    say(f"resuming from {path} (step {checkpoint.get('global_step', '?')})")
    return path


@rank_zero_only
def say(message: str) -> None:
    """One line on the console, from the first process of a DDP run only."""
    print(f"rdframe: {message}", flush=True)


def _further_rank() -> bool:
    """Whether this process is a further rank that Lightning's DDP launcher started for a run
    (or a job of a sweep) whose first rank has checked the config already."""
    return os.environ.get("LOCAL_RANK", "0") != "0"


def _in_sweep() -> bool:
    """Whether this run is a job of ``rdframe sweep`` (a job not yet started has no checkpoint)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _clear(out: Path) -> None:
    """``overwrite=true``: remove the results and checkpoints of the run held in ``out``."""
    (out / RESULTS_FILE).unlink(missing_ok=True)
    for path in (out / "checkpoints").glob("*.ckpt"):
        path.unlink()


def _result(
    cfg: DictConfig,
    metrics: dict,
    trainer: pl.Trainer,
    seconds: float,
    beta: float,
    pending: list[str] | None = None,
) -> RunResult:
    nll = metrics.get("test/iwae_nll")
    return RunResult(
        pending=pending or [],
        rate=metrics["test/rate"],
        distortion=metrics["test/distortion"],
        elbo=metrics.get("test/elbo"),  # None for the bottleneck: −(D_y + R) is no ELBO
        iwae_nll=nll,
        iwae_bpd=metrics.get("test/iwae_bpd"),
        error=metrics.get("test/error"),
        iwae_samples=cfg.iwae_samples if nll is not None or pending else 0,
        beta=beta,
        sigma=None if cfg.objective.get("sigma") is None else float(cfg.objective.sigma),
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
    elbo = "n/a" if r.elbo is None else f"{r.elbo:.2f}"
    return (
        f"rdframe: beta={r.beta:g} {r.family} on {r.dataset}: R={r.rate:.2f} D={r.distortion:.2f} "
        f"ELBO={elbo} IWAE-NLL={nll} nats ({r.epochs} epochs, {r.train_seconds:.1f} s) "
        f"-> {path}"
    )


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """Hydra's entry point when this file runs as a script, as Lightning's DDP launcher runs it
    in each further process (``rdframe train`` enters through :mod:`rdframe.cli`): check the
    config, train, and stop a usage error in one line with its exit status."""
    try:
        check_config(cfg)
        run(cfg)
    except Exception as error:
        reported = _user_error(error)
        if reported is None:
            raise
        print(f"rdframe: error: {reported}", file=sys.stderr, flush=True)
        raise SystemExit(reported.exit_code) from None


def _user_error(error: BaseException) -> RDFrameError | None:
    """The error to report in one line: an RDFrameError (which Hydra may wrap while
    instantiating) or a config that does not instantiate; None for anything else (a bug)."""
    return reportable(error)


if __name__ == "__main__":  # re-executed as a script by Lightning's DDP launcher
    main()

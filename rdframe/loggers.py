"""Weights & Biases as its users expect, and that never stops a run.

::

    start       the resolved config → the W&B run's config
    validation  grids of reconstructions and samples → media (ValidationPictures)
    end         rd.json's fields → the run's summary; the final pictures → media; run finished
    sweep end   a table of every run's rate–distortion point → a run of the sweep's group

A sweep is one W&B group, named after its folder. If W&B cannot be reached the run logs
offline and says so in one line; an offline run ends with one line on how to upload it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from rdframe.evaluation.gallery import grids
from rdframe.pictures import (
    SAMPLES,
    generate,
    has_images,
    has_mean,
    reconstruct,
    seeded,
    spread_images,
)
from rdframe.results import RunResult

OFFLINE_MODES = ("offline", "dryrun", "disabled")
CAPTIONS = {
    "reconstructions": "top row: test images; below: d(x|z) at draws z ~ e(z|x)",
    "samples": "d(x|z) at draws z ~ m(z)",
    "traversals": "a row per unit, most active first: its 2%–98% quantiles under m(z)",
}
TABLE = ("run", "family", "objective", "encoder", "decoder", "marginal", "dataset", "beta",
         "rate", "distortion", "elbo", "iwae_nll", "iwae_bpd", "seed", "epochs")


def wandb_logger(
    project: str | None = None,
    name: str | None = None,
    save_dir: str | os.PathLike = ".",
    group: str | None = None,
    log_model: bool | Literal["all"] = False,
    offline: bool = False,
    init_timeout: float = 30.0,
    **kwargs: Any,
) -> WandbLogger:
    """Lightning's WandbLogger (same arguments), its W&B run started at once.

    If W&B cannot start the run (no network, a bad API key, a service error) within about
    ``init_timeout`` seconds (W&B's own login checks add a few more), this prints once
    ``rdframe: W&B unavailable (…); logging offline to DIR (sync later with `wandb sync`)``
    and returns a logger writing offline to ``save_dir``/wandb instead, so that the run trains
    all the same. In offline mode (``offline=True``, ``WANDB_MODE=offline``) nothing is
    reached and the run starts when first logged to, as with WandbLogger itself; it ends
    (:func:`finish`) with one line naming the folder to upload with ``wandb sync``.
    """
    import wandb

    options = {"project": project, "name": name, "save_dir": save_dir, "group": group,
               "log_model": log_model, **kwargs}
    if offline or _mode(kwargs) in OFFLINE_MODES:
        return unset_anonymous(WandbLogger(offline=offline, **options))
    settings = kwargs.get("settings") or wandb.Settings(init_timeout=init_timeout)
    logger = unset_anonymous(WandbLogger(**{**options, "settings": settings}))
    try:
        logger.experiment  # noqa: B018 - starts the run: W&B answers now, not mid-training
    except Exception as error:  # any failure of W&B: the run goes on without it
        return offline_logger(options, error)
    return logger


def unset_anonymous(logger: WandbLogger) -> WandbLogger:
    """``logger`` without the ``anonymous=None`` that Lightning hands to ``wandb.init``, and
    that W&B (0.22 on) warns about on every run although it means "not set"."""
    init = getattr(logger, "_wandb_init", None)
    if isinstance(init, dict) and "anonymous" in init and init["anonymous"] is None:
        del init["anonymous"]
    return logger


class OfflineWandbLogger(WandbLogger):
    """A WandbLogger sent offline because W&B could not be reached (and that said so)."""


def offline_logger(options: dict[str, Any], error: BaseException) -> WandbLogger:
    """A WandbLogger writing offline, its run started, after saying why in one line."""
    logger = unset_anonymous(OfflineWandbLogger(**{**options, "offline": True,
                                                   "mode": "offline"}))
    folder = Path(logger.experiment.dir).parent  # the run's folder, not its files/ inside
    print(
        f"rdframe: W&B unavailable ({reason(error)}); logging offline to {folder} "
        f"(sync later with `wandb sync`)",
        file=sys.stderr,
        flush=True,
    )
    return logger


def reason(error: BaseException) -> str:
    """The first line of an error's message, or its type when it has none.

    >>> reason(TimeoutError("timed out\\nConsider increasing the init_timeout setting"))
    'timed out'
    """
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def _mode(kwargs: dict[str, Any]) -> str:
    return str(kwargs.get("mode") or os.environ.get("WANDB_MODE", "online")).lower()


def sweep_group(sweep_dir: str | os.PathLike) -> str:
    """The W&B group of a sweep: its folder's name, with the date above it when the name is
    only a time of day (Hydra's default sweeps/DATE/TIME).

    >>> sweep_group("sweeps/2026-01-31/14-05-09"), sweep_group("sweeps/beta_grid")
    ('2026-01-31/14-05-09', 'beta_grid')
    """
    path = Path(sweep_dir)
    if re.fullmatch(r"\d\d-\d\d-\d\d", path.name) and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


def wandb_loggers(loggers: Iterable[Logger]) -> list[WandbLogger]:
    return [logger for logger in loggers if isinstance(logger, WandbLogger)]


def log_config(loggers: Iterable[Logger], config: dict[str, Any]) -> None:
    """The resolved config as each W&B run's config (Lightning adds the module's hparams)."""
    for logger in wandb_loggers(loggers):
        logger.log_hyperparams(config)


def summary_fields(result: RunResult) -> dict[str, Any]:
    """rd.json's scalar fields (numbers and names, not the config) and the family.

    >>> fields = summary_fields(RunResult(1.5, 2.5, -4.0, None, 0, 1.0, "elbo", "mlp", "mlp",
    ...                                   "standard_normal", "digits", None, 0, 1, 12, 3.0))
    >>> fields["rate"], fields["family"], "iwae_nll" in fields, "config" in fields
    (1.5, 'mlp/mlp/standard_normal', False, False)
    """
    record = asdict(result) | {"family": result.family}
    return {k: v for k, v in record.items()
            if isinstance(v, bool | int | float | str) and k != "path"}


def log_results(
    loggers: Iterable[Logger], result: RunResult, grids: dict[str, np.ndarray], step: int
) -> None:
    """At a run's end, for each W&B logger: rd.json's fields in the run's summary, the final
    pictures as media ``pictures/NAME``, and the run finished (a sweep's next job starts its
    own)."""
    for logger in wandb_loggers(loggers):
        logger.experiment.summary.update(summary_fields(result))
        for name, grid in grids.items():
            logger.log_image(f"pictures/{name}", [grid], step=step, caption=[CAPTIONS[name]])
        finish(logger)


@rank_zero_only
def finish(logger: WandbLogger) -> None:
    """End the logger's W&B run; an offline one with one line on how to upload it."""
    run = logger.experiment
    if getattr(run, "disabled", False):
        run.finish()
        return
    folder, offline = Path(run.dir).parent.resolve(), run.offline
    run.finish()
    import wandb

    wandb.teardown()  # waits for W&B's service to write the run: exit hooks may not, in a
    # launcher's worker process or at a sweep's end
    if offline and not isinstance(logger, OfflineWandbLogger):  # that one has said so already
        print(f"rdframe: W&B logged offline to {folder}; upload it with `wandb sync {folder}`",
              file=sys.stderr, flush=True)


class ValidationPictures(pl.Callback):
    """Every ``every_n`` validations, grids of the model's pictures to each logger that takes
    images (W&B's ``log_image``): reconstructions of the first ``images`` validation examples
    (a row of data, a row of d(x|z) at z ~ e(z|x)) and ``samples`` draws from m(z), under
    ``val/reconstructions`` and ``val/samples`` at the global step, seeded by the run's seed.

    Only where they are cheap: a decoder without a closed-form mean (a PixelCNN, which samples
    pixel by pixel) gets none here, said once; its final pictures are still made at the end.
    """

    def __init__(
        self, images: int = 8, samples: int = 16, every_n: int = 1, enabled: bool = True
    ) -> None:
        self.images, self.samples, self.every_n = images, samples, every_n
        self.enabled = enabled and every_n > 0
        self.validations = 0
        self.checked = False  # whether the model's pictures are known to be cheap

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loggers = [logger for logger in trainer.loggers if hasattr(logger, "log_image")]
        if trainer.sanity_checking or not (self.enabled and loggers and trainer.is_global_zero):
            return
        self.validations += 1
        if (self.validations - 1) % self.every_n == 0 and self._cheap(pl_module):
            self._log(trainer, pl_module, loggers)

    def _cheap(self, pl_module: pl.LightningModule) -> bool:
        """Checked once: the decoder draws images (not labels) and has a closed-form mean."""
        if self.checked:
            return self.enabled
        model, self.checked = pl_module.model, True
        if not has_images(model):  # a classifier decoder (the bottleneck): no images at all
            self.enabled = False
            return False
        with seeded(model, getattr(pl_module, "seed", 0), SAMPLES):
            likelihood = model.decoder(model.marginal().sample(torch.Size([1])))
        if not has_mean(likelihood):
            self.enabled = False
            print(f"rdframe: no pictures at validation: {type(model.decoder).__name__} has no "
                  f"closed-form mean (its final pictures are sampled)", flush=True)
        return self.enabled

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loggers: list) -> None:
        model, seed = pl_module.model, getattr(pl_module, "seed", 0)
        dataset = getattr(trainer.datamodule, "val_set", None)
        if dataset is None:  # loaders handed to the trainer directly: no examples to show
            return
        x = spread_images(dataset, self.images).to(next(model.parameters()))
        pictures = grids({"data": x.float().cpu().numpy(),
                          "reconstructions": reconstruct(model, x, 1, seed),
                          "samples": generate(model, self.samples, seed)})
        for logger in loggers:
            for name, grid in pictures.items():
                logger.log_image(f"val/{name}", [grid], step=trainer.global_step,
                                 caption=[CAPTIONS[name]])


def table_rows(folder: Path, results: Sequence[RunResult]) -> list[list[Any]]:
    """One row of :data:`TABLE` per run, the run named by its folder inside ``folder``."""
    def run(result: RunResult) -> str:
        return os.path.relpath(Path(result.path or ".").parent.resolve(), folder.resolve())

    fields = [{"run": run(r), "family": r.family, **asdict(r)} for r in results]
    return [[row[column] for column in TABLE] for row in fields]


def log_sweep_table(
    folder: Path, results: Sequence[RunResult], options: dict[str, Any]
) -> str:
    """One more W&B run, ``rd_points``, in the sweep's group (``options``: those its runs were
    logged with), holding a table of every run's point (:data:`TABLE`, a row per rd.json) and
    the rate–distortion plane when drawn (``folder``/rd_plane.png); finished. Its group."""
    group = options.get("group") or sweep_group(folder)
    logger = wandb_logger(**{**options, "save_dir": str(folder), "group": group,
                             "name": "rd_points", "job_type": "sweep-summary",
                             "log_model": False})
    logger.log_table("rd_points", columns=list(TABLE), data=table_rows(folder, results))
    if (folder / "rd_plane.png").is_file():
        logger.log_image("rd_plane", [str(folder / "rd_plane.png")])
    finish(logger)
    return group

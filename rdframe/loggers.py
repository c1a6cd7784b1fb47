"""Weights & Biases that never stops a run: offline, with one line saying so, when unreachable."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pytorch_lightning.loggers import WandbLogger

OFFLINE_MODES = ("offline", "dryrun", "disabled")


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
    reached and the run starts when first logged to, as with WandbLogger itself.
    """
    import wandb

    options = {"project": project, "name": name, "save_dir": save_dir, "group": group,
               "log_model": log_model, **kwargs}
    if offline or _mode(kwargs) in OFFLINE_MODES:
        return WandbLogger(offline=offline, **options)
    settings = kwargs.get("settings") or wandb.Settings(init_timeout=init_timeout)
    logger = WandbLogger(**{**options, "settings": settings})
    try:
        logger.experiment  # noqa: B018 - starts the run: W&B answers now, not mid-training
    except Exception as error:  # any failure of W&B: the run goes on without it
        return offline_logger(options, error)
    return logger


def offline_logger(options: dict[str, Any], error: BaseException) -> WandbLogger:
    """A WandbLogger writing offline, its run started, after saying why in one line."""
    logger = WandbLogger(**{**options, "offline": True, "mode": "offline"})
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

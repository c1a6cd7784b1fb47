"""Checkpoints that a run can be resumed from: written whole or not at all, often enough that a
killed run loses little, on the preemption signals, and checked before a run trusts them.

::

    every N steps, each epoch end, SIGTERM/USR1/USR2 ──► checkpoints/last.ckpt (temp file + rename)
    relaunch ──► read_checkpoint: readable? a training checkpoint? same config? same model?
             ──► trainer.fit(ckpt_path=…): weights, optimiser, scheduler, loops, data position
"""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import get_object
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from rdframe.atomic import atomic_path
from rdframe.errors import ConfigError

LAST = "last.ckpt"
# Keys that may differ between a run and the command relaunching it: where the run is written
# and how it is watched (loggers, callbacks, the progress bar, the pictures it draws)...
LAUNCH_KEYS = (
    "output_dir", "resume", "overwrite", "logger", "callbacks", "trainer.enable_progress_bar",
    "pictures", "iwae_memory_gb",  # the memory of an IWAE pass: not its numbers
)
# ... and, for a checkpoint to continue from, how long it trains (a finished run asked for
# more epochs or steps continues from its checkpoint).
LENGTH_KEYS = ("trainer.max_epochs", "trainer.max_steps")
# ... and what is worked out from the data, not chosen (a run recorded before they were
# recorded lacks them; a change of data shows in data.* all the same).
DERIVED_KEYS = ("data_shape", "num_classes", "data_range", "data_mean")
RESUMABLE_CHANGES = LAUNCH_KEYS + LENGTH_KEYS + DERIVED_KEYS
# Of the callbacks, those that choose the best checkpoint may not change: Lightning drops the
# checkpoint callback's record of the best so far when they differ, and the choice would
# start again mid-run, beside the old best file.
SELECTION_KEYS = tuple(f"callbacks.checkpoint.{key}" for key in (
    "_target_", "monitor", "mode", "filename", "save_top_k", "every_n_epochs",
    "every_n_train_steps", "train_time_interval"))
# Besides SIGTERM: what SLURM sends before a time limit or preemption (``--signal``), USR2
# under submitit (SUBMITIT_PREEMPT_SIGNAL), USR1 in Lightning's SLURM convention.
PREEMPTION_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file beside its path, flushed to disk, then renames
    it into place: a crash leaves the previous checkpoint, never a truncated one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class Preempted(Exception):
    """Training stopped on a signal after saving its checkpoint; the same command resumes.

    ``then`` is the handler that had the signal before this run took it (submitit's, which
    requeues the job): :meth:`hand_on` calls it, once the checkpoint is on disk."""

    def __init__(self, signum: int, step: int, path: Path, then: Any = None) -> None:
        self.signum, self.then = signum, then
        self.exit_code = 128 + signum
        super().__init__(
            f"{signal.Signals(signum).name} at step {step}: saved {path}; run the same command "
            f"again (or resume={path.parent.parent}) to continue from there"
        )

    def hand_on(self) -> None:
        """Give the signal to the handler it was taken from, if any: under submitit that
        requeues the job (and exits); a requeued run resumes from the checkpoint just saved."""
        if callable(self.then):
            self.then(self.signum, None)
        elif slurm_requeues(self.signum):
            subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]], check=False)


def slurm_requeues(signum: int) -> bool:
    """Whether this process requeues its SLURM job on ``signum``: the first task of a batch
    job (not an interactive one), on a preemption signal that no one else handled (submitit
    handles its own); as Lightning's SLURM environment does, whose requeue rdframe replaces."""
    return (signum in PREEMPTION_SIGNALS and os.environ.get("SLURM_PROCID", "0") == "0"
            and os.environ.get("SLURM_JOB_NAME") not in (None, "bash", "interactive")
            and "SLURM_JOB_ID" in os.environ)


class ResumeCheckpoint(pl.Callback):
    """Keeps ``dirpath/last.ckpt``, the whole training state, up to date: every
    ``every_n_steps`` optimiser steps, at the end of every epoch, and at the first batch end
    after SIGTERM, SIGUSR1 or SIGUSR2 (then training stops with :class:`Preempted`). A
    preempted or killed run thus loses at most ``every_n_steps`` steps. ``config`` (the run's
    resolved config) is stored in the checkpoint, so that a relaunch can check that it
    continues the same run. :meth:`train_seconds` counts the training time of every launch
    of the run.
    """

    def __init__(self, dirpath: Path, every_n_steps: int, config: dict[str, Any]) -> None:
        self.path = Path(dirpath) / LAST
        self.every_n_steps = every_n_steps
        self.config = config
        self._signal: int | None = None
        self._saved_step = -1
        self._previous: dict[int, Any] = {}  # signal → the handler it had before the fit
        self._seconds_before = 0.0  # training time of earlier launches, from the checkpoint
        self._start = time.perf_counter()

    def train_seconds(self) -> float:
        return self._seconds_before + time.perf_counter() - self._start

    def state_dict(self) -> dict[str, float]:
        return {"train_seconds": self.train_seconds()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self._seconds_before = state.get("train_seconds", 0.0)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Take the preemption signals SIGUSR1 and SIGUSR2 (SLURM's ``--signal``, submitit's
        USR2), keeping their handlers to hand them on after saving; Lightning itself records
        SIGTERM in ``trainer.received_sigterm``."""
        self._start = time.perf_counter()
        for signum in PREEMPTION_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_handlers()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signal = signum

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        signum = signal.SIGTERM if trainer.received_sigterm else self._signal
        if signum is not None:
            self.save(trainer)
            then = self._previous.get(signum)
            raise Preempted(signum, trainer.global_step, self.path,
                            then if then not in (signal.SIG_DFL, signal.SIG_IGN) else None)
        if trainer.global_step % self.every_n_steps == 0:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.save(trainer, force=True)

    def save(self, trainer: pl.Trainer, force: bool = False) -> None:
        """Save unless this step is saved already (every rank calls; rank 0 writes), with the
        loggers flushed, so that their files hold every row up to the checkpoint."""
        if force or trainer.global_step != self._saved_step:
            for logger in trainer.loggers:
                logger.save()
            trainer.save_checkpoint(self.path, weights_only=False)
            self._saved_step = trainer.global_step

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["rdframe_config"] = self.config

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Where the run folder has moved since the checkpoint was written, point the checkpoint
        callbacks' record of the best so far at the same files in the new folder. Lightning
        drops that record when the folder differs: the choice of the best would start again,
        and write best-v1.ckpt beside the old best."""
        states = checkpoint.get("callbacks", {})
        for callback in trainer.checkpoint_callbacks:
            state = states.get(callback.state_key)
            if isinstance(state, dict) and state.get("dirpath") not in (None, callback.dirpath):
                states[callback.state_key] = moved_checkpoint_state(state, callback.dirpath)


def moved_checkpoint_state(state: dict[str, Any], dirpath: str) -> dict[str, Any]:
    """A ModelCheckpoint's state with its folder, and the paths of the files in it, moved to
    ``dirpath``.

    >>> moved_checkpoint_state({"dirpath": "/a/checkpoints", "best_model_path":
    ...     "/a/checkpoints/best.ckpt", "best_k_models": {"/a/checkpoints/best.ckpt": 1.0}},
    ...     "/b/checkpoints")["best_k_models"]
    {'/b/checkpoints/best.ckpt': 1.0}
    """
    old = Path(state["dirpath"])

    def moved(path: Any) -> Any:
        if not path or not Path(path).is_relative_to(old):
            return path
        return str(Path(dirpath) / Path(path).relative_to(old))

    state = dict(state, dirpath=dirpath)
    for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
        if key in state:
            state[key] = moved(state[key])
    state["best_k_models"] = {moved(k): v for k, v in state.get("best_k_models", {}).items()}
    return state


def read_checkpoint(
    path: Path, required: tuple[str, ...] = ("state_dict", "loops")
) -> dict[str, Any]:
    """A checkpoint's contents, or one ConfigError saying why it cannot be used: unreadable
    (corrupt, truncated) or without the ``required`` entries (a training checkpoint has
    weights and loops; evaluation needs the weights alone)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises many kinds for a damaged or foreign file
        raise ConfigError(
            f"{path} is corrupt or truncated ({type(error).__name__}: {_first_line(error)}); "
            f"nothing was changed. Move it away to start this run afresh, or restore it"
        ) from None
    if not isinstance(checkpoint, dict) or not set(required) <= checkpoint.keys():
        raise ConfigError(
            f"{path} is not a Lightning checkpoint (it lacks {' and '.join(required)}); "
            f"nothing was changed. Move it away to start this run afresh, or restore it"
        )
    return checkpoint


def check_same_run(path: Path, saved: dict[str, Any] | None, config: dict[str, Any]) -> None:
    """A ConfigError unless the checkpoint's config equals ``config`` up to
    :data:`RESUMABLE_CHANGES`; the message names the first keys that differ."""
    if saved is None:
        raise ConfigError(
            f"{path} holds no rdframe config, so it cannot be checked against this run; "
            f"move it away to start afresh, or pass overwrite=true"
        )
    differences = config_differences(saved, config)
    if differences:
        shown = "; ".join(f"{k}: {a!r} there, {b!r} here" for k, a, b in differences[:3])
        raise ConfigError(
            f"{path} belongs to a run with another config ({shown}); nothing was changed. "
            f"Relaunch with that run's settings to resume it, choose another folder "
            f"(hydra.run.dir=… or hydra.sweep.dir=…), or pass overwrite=true to start afresh"
        )


def config_differences(
    old: dict[str, Any], new: dict[str, Any], ignore: tuple[str, ...] = RESUMABLE_CHANGES
) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf that differs, ``ignore`` aside (but
    not :data:`SELECTION_KEYS`) and :func:`defaulted_keys` aside; keys near the root first,
    as a changed ``latent_dim`` explains the ``encoder.latent_dim`` below.

    >>> config_differences({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 4})
    [('d', None, 4), ('b.c', 2, 3)]
    """
    flat_old, flat_new = _flatten(old), _flatten(new)
    keys = sorted(flat_old.keys() | flat_new.keys(), key=lambda k: (k.count("."), k))
    defaulted = defaulted_keys(old, new)
    return [
        (k, flat_old.get(k), flat_new.get(k))
        for k in keys
        if flat_old.get(k) != flat_new.get(k) and k not in defaulted
        and (k in SELECTION_KEYS or not k.startswith(ignore))
    ]


def defaulted_keys(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The keys that one config has and the other lacks, set to the default of the component
    they configure (the ``_target_`` beside them), with that value: a run recorded before
    rdframe had such a key built the same component as a config that sets it to its default.

    >>> data = {"_target_": "rdframe.data.digits.DigitsDataModule", "batch_size": 32}
    >>> defaulted_keys({"data": data}, {"data": data | {"train_fraction": 1.0}})
    {'data.train_fraction': 1.0}
    >>> defaulted_keys({"data": data}, {"data": data | {"train_fraction": 0.1}})
    {}
    """
    flat_old, flat_new = _flatten(old), _flatten(new)
    found = {}
    for key in flat_old.keys() ^ flat_new.keys():
        config, value = (new, flat_new[key]) if key in flat_new else (old, flat_old[key])
        if _takes_default(config, key, value):
            found[key] = value
    return found


def _takes_default(config: dict[str, Any], key: str, value: Any) -> bool:
    """Whether the dotted ``key`` of ``config`` is a parameter of the ``_target_`` beside it,
    whose default is ``value``."""
    *parents, name = key.split(".")
    node: Any = config
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    target = node.get("_target_") if isinstance(node, dict) else None
    if not isinstance(target, str) or name.startswith("_"):
        return False
    try:
        built = get_object(target)
        signatures = ([inspect.signature(c.__init__) for c in built.__mro__
                       if "__init__" in vars(c)]
                      if inspect.isclass(built) else [inspect.signature(built)])
    except Exception:  # noqa: BLE001 — not importable, or no signature: not a default
        return False
    for signature in signatures:  # a subclass's **options reach its bases' parameters
        parameter = signature.parameters.get(name)
        if parameter is not None:
            return parameter.default is not inspect.Parameter.empty and parameter.default == value
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            return False
    return False


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat |= _flatten(value, name + ".")
        else:
            flat[name] = value
    return flat


def check_weights(path: Path, checkpoint: dict[str, Any], module: torch.nn.Module) -> None:
    """A ConfigError unless the checkpoint's weights load into ``module`` (same architecture)."""
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        raise ConfigError(
            f"{path} does not fit the model this config builds ({_mismatch(error)}); "
            f"nothing was changed. Was it copied from another run?"
        ) from None


def _mismatch(error: RuntimeError) -> str:
    """The first mismatch that ``load_state_dict`` reports, cut to a readable length."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    details = [line for line in lines if not line.startswith("Error(s) in loading")]
    first = (details or lines or [type(error).__name__])[0]
    return first if len(first) <= 200 else first[:197] + "..."


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__

"""RDSystem: the one LightningModule. It steps, optimises and logs; the mathematics lives in
RDModel and the Objective."""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from rdframe.data.sampler import BatchShards
from rdframe.errors import ConfigError, NonFiniteError
from rdframe.estimators import (
    bits_per_dim,
    discrete_likelihood,
    iwae_log_likelihood,
    predictive_error,
)
from rdframe.memory import iwae_rows
from rdframe.model import RDModel, RDTerms
from rdframe.objectives import Objective
from rdframe.seeding import seed_batch

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
# Lightning's lr-scheduler dict ("interval", "frequency", …) whose "scheduler" is a factory
# of the optimizer, e.g. functools.partial(MultiStepLR, milestones=[30], gamma=0.1).
SchedulerConfig = Mapping[str, Any]
TEST_PASSES = ("terms", "iwae")
DEFAULT_OPTIMIZER: OptimizerFactory = partial(torch.optim.Adam, lr=1e-3)
HELP = (
    "Lower optimizer.lr, set trainer.gradient_clip_val, or skip such batches with "
    "skip_nonfinite=true"
)


def drop_failing_nvml_check() -> None:
    """Drop ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` where NVIDIA's management library does not load.

    Lightning sets the variable on import, so that asking whether CUDA is available never
    initialises CUDA. Without the library, torch then tries to load it on every such question,
    fails, and falls back to the CUDA runtime's count, the answer it gives without the
    variable. Adam asks on every step (its graph-capture check): about 50 µs of a CPU step.
    Where the library loads (a GPU machine) the variable stays.
    """
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") != "1":
        return
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]


drop_failing_nvml_check()


class RDSystem(pl.LightningModule):
    """Trains ``model`` on ``objective`` and logs "{stage}/{quantity}" in nats per example.

    Every stage logs ``rate``, ``distortion`` and ``loss``, and ``elbo`` = −(D + R) when the
    decoder scores x; for the bottleneck ``distortion`` is D_y, the label's cross-entropy
    −E log c(y|z), and there is no ELBO. Training logs ``beta`` (the one in force at the
    step); validation logs ``selection`` (:meth:`selection`, β-free, which the best checkpoint
    minimises). The test stage adds the importance-weighted ``iwae_nll`` (k =
    ``iwae_samples``) when the decoder scores x, with its bits per dimension ``iwae_bpd`` when
    d(x|z) is discrete, and the classification ``error`` when it scores the label y (the
    bottleneck); both come from :mod:`rdframe.estimators`, as in ``rdframe evaluate``.
    Validation and test metrics are means over the epoch's examples, summed batch by batch and
    logged once when the epoch ends (a subclass overriding ``on_validation_epoch_end`` or
    ``on_test_epoch_end`` calls ``super()``).

    Every batch draws its randomness from a generator seeded by (``seed``, stage, epoch,
    batch, rank) in training and by (``seed``, stage, step, batch of the split) in validation
    and test (:mod:`rdframe.seeding`), so a resumed run repeats the uninterrupted one and a
    DDP evaluation scores each batch as one process does. The IWAE passes take at most
    ``iwae_memory`` bytes (:mod:`rdframe.memory`; None: the device's default).
    A non-finite loss, rate, distortion or gradient stops training with a
    :class:`~rdframe.errors.NonFiniteError` naming the step and the term, before the weights
    change; with ``skip_nonfinite`` the batch is skipped instead and counted in
    "train/skipped_batches".
    """

    def __init__(
        self,
        model: RDModel,
        objective: Objective,
        optimizer: OptimizerFactory = DEFAULT_OPTIMIZER,
        iwae_samples: int = 100,
        seed: int = 0,
        skip_nonfinite: bool = False,
        lr_scheduler: SchedulerConfig | None = None,
        iwae_memory: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model", "objective", "optimizer", "lr_scheduler"])
        self.model = model
        self.objective = objective
        self.optimizer_factory = optimizer
        self.iwae_samples = iwae_samples
        self.seed = seed
        self.skip_nonfinite = skip_nonfinite
        self.skipped_batches = 0
        self.lr_scheduler_config = lr_scheduler
        self.iwae_memory = iwae_memory  # bytes an IWAE pass may take; None: the device's default
        self.iwae_rows: int | None = None  # rows per IWAE pass, measured at the first test batch
        # what trainer.test scores: "terms" (rate, distortion, ELBO, loss; the bottleneck's
        # error), "iwae" (the importance-weighted NLL, the long one); `rdframe train` runs them
        # one after the other, writing rd.json in between
        self.test_passes: tuple[str, ...] = TEST_PASSES
        # the evaluation epoch's metrics so far: name → (Σ of batch means × examples, examples)
        self._epoch: dict[str, tuple[Tensor | float, int]] = {}

    def configure_optimizers(self) -> torch.optim.Optimizer | dict[str, Any]:
        optimizer = self.optimizer_factory(self.parameters(), **fused_options(
            self.optimizer_factory, self.parameters()))
        if self.lr_scheduler_config is None:
            return optimizer
        schedule = dict(self.lr_scheduler_config)
        schedule["scheduler"] = schedule["scheduler"](optimizer)
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def _terms(self, batch: tuple[Tensor, Tensor]) -> RDTerms:
        x, y = batch
        return self.model.terms(x, target=y if self.objective.target == "y" else x)

    def _log_terms(self, stage: str, terms: RDTerms, loss: Tensor) -> None:
        values = {"rate": terms.rate, "distortion": terms.distortion}
        if self.objective.target == "x":  # −(D_y + R) of the bottleneck is no bound on anything
            values |= {"elbo": terms.elbo}
        if stage == "val":
            values |= {"selection": self.selection(terms)}
        values = {f"{stage}/{k}": v.mean() for k, v in values.items()}
        values[f"{stage}/loss"] = loss
        if stage == "train":
            self.log_dict(values, batch_size=len(terms.rate), sync_dist=True, prog_bar=False)
        else:
            self._add_to_epoch(values, len(terms.rate))

    def _add_to_epoch(self, means: Mapping[str, Tensor], n: int) -> None:
        """Add a batch's means over its ``n`` examples to the epoch's sums (float64, on the
        device, without a synchronisation), which :meth:`_log_epoch` logs as means once the
        epoch ends: the example-weighted means Lightning's ``self.log(on_epoch=True)`` gives,
        without its bookkeeping on every call (about half a millisecond a metric a batch: a
        fifth of the validation epoch of a small model)."""
        for name, mean in means.items():
            total, count = self._epoch.get(name, (0.0, 0))
            self._epoch[name] = (mean.detach().double() * n + total, count + n)

    def _log_epoch(self) -> None:
        """Log each metric's mean over the epoch's examples in all processes (sums and counts
        added across processes in one reduction), and start the next epoch's sums. Every
        process logs the same names: Lightning refuses a process an evaluation loader
        without a batch."""
        epoch, self._epoch = self._epoch, {}
        if not epoch:
            return
        names = list(epoch)
        totals = torch.stack([torch.as_tensor(epoch[k][0], dtype=torch.float64,
                                              device=self.device) for k in names])
        counts = torch.tensor([epoch[k][1] for k in names], dtype=torch.float64,
                              device=self.device)
        summed = self.trainer.strategy.reduce(torch.stack([totals, counts]), reduce_op="sum")
        means = (summed[0] / summed[1]).float()
        self.log_dict(dict(zip(names, means.unbind())), sync_dist=True, prog_bar=False)

    def on_validation_epoch_start(self) -> None:
        self._epoch = {}

    def on_validation_epoch_end(self) -> None:
        self._log_epoch()

    def on_test_epoch_start(self) -> None:
        self._epoch = {}

    def on_test_epoch_end(self) -> None:
        self._log_epoch()

    def selection(self, terms: RDTerms) -> Tensor:
        """What the best checkpoint minimises, whatever β is in force: −ELBO = D + R for a
        model of x, the label's cross-entropy D_y for the bottleneck; per example, nats."""
        return -terms.elbo if self.objective.target == "x" else terms.distortion

    def _loss(self, batch: tuple[Tensor, Tensor]) -> tuple[RDTerms, Tensor]:
        terms = self._terms(batch)
        return terms, self.objective.loss(terms, self.global_step).mean()

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        try:
            terms, loss = self._loss(batch)
        except ValueError as error:
            term = invalid_parameter(error)
            if term is None:
                raise
            raise NonFiniteError(f"{term} became non-finite ({stage} stage): {HELP}") from None
        self._log_terms(stage, terms, loss)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor | None:
        with argument_validation(False):  # the hot path; a failure is diagnosed with it on
            terms, loss = self._loss(batch)
        term = nonfinite_term(loss=loss, rate=terms.rate, distortion=terms.distortion)
        if term is not None:
            return self._nonfinite(self._diagnose(batch, f"the {term}"))
        if self._logs_this_step():
            self.log("beta", self.objective.beta(self.global_step), batch_size=len(batch[0]))
            self._log_terms("train", terms, loss)
        return loss

    @torch.no_grad()
    def _diagnose(self, batch: tuple[Tensor, Tensor], term: str) -> str:
        """What became non-finite in a training step: the parameter of the first distribution
        that refuses its arguments when they are validated ("the Bernoulli's logits"; the step
        is recomputed, on this rare path only), else ``term`` ("the loss")."""
        try:
            with argument_validation(True):
                self._loss(batch)
        except ValueError as error:
            return invalid_parameter(error) or term
        return term

    def _logs_this_step(self) -> bool:
        """Whether the Trainer hands this training step's metrics to its loggers (every
        ``log_every_n_steps``, and each step of a ``fast_dev_run``): training metrics are
        logged per step, not per epoch, so a step that is not handed on need not log at all
        (``trainer.callback_metrics`` then holds the last logged step's). Lightning's
        ``self.log`` costs about half a millisecond a call, a tenth of a small model's step."""
        connector = getattr(self._trainer, "_logger_connector", None)
        if connector is None or self._trainer.fast_dev_run:
            return True
        return bool(getattr(connector, "should_update_logs", True))

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if nonfinite_gradient([p.grad for p in self.parameters() if p.grad is not None]):
            self._nonfinite(f"the gradient of {self._first_nonfinite_parameter()}")
            optimizer.zero_grad(set_to_none=True)  # Adam leaves a parameter without grad alone

    def _first_nonfinite_parameter(self) -> str:
        for name, p in self.named_parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                return name
        return "?"

    def _nonfinite(self, term: str) -> None:
        """Skip this batch (``skip_nonfinite``) or stop with one line naming step and term."""
        if not self.skip_nonfinite:
            raise NonFiniteError(
                f"{term} became non-finite at step {self.global_step} (epoch "
                f"{self.current_epoch}); training stopped before updating the weights, so "
                f"checkpoints/last.ckpt holds the last good state. {HELP}"
            )
        self.skipped_batches += 1
        self.log("train/skipped_batches", float(self.skipped_batches), reduce_fx="max")

    def on_train_batch_start(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        seed_batch(self.seed, "train", self.current_epoch, batch_idx, self.global_rank)

    def on_validation_batch_start(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        seed_batch(self.seed, "val", self.global_step, self._split_batch(batch_idx))

    def on_test_batch_start(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.iwae_rows is None and "iwae" in self.test_passes and self.objective.target == "x":
            self.iwae_rows = iwae_rows(self.model, batch[0], self.iwae_memory)

    def _split_batch(self, batch_idx: int) -> int:
        """Which batch of the whole split this rank's batch ``batch_idx`` is (BatchShards)."""
        world = self.trainer.world_size if self._trainer is not None else 1
        return BatchShards.global_index(batch_idx, self.global_rank, world)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["skipped_batches"] = self.skipped_batches

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.skipped_batches = checkpoint.get("skipped_batches", 0)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor | None:
        """The passes in ``test_passes``, each seeded by (seed, "test", batch of the split,
        pass), so that a quantity's draws do not depend on which other passes run."""
        x, y = batch
        split_batch = self._split_batch(batch_idx)
        if "iwae" in self.test_passes and self.objective.target == "x":
            seed_batch(self.seed, "test", split_batch, 1)
            self._log_iwae(x)
        if "terms" not in self.test_passes:
            return None
        seed_batch(self.seed, "test", split_batch)
        if self.objective.target == "y":
            error = predictive_error(self.model, x, y)
            self._add_to_epoch({"test/error": torch.as_tensor(error)}, len(y))
        return self._step(batch, "test")

    def _log_iwae(self, x: Tensor) -> None:
        nll = -iwae_log_likelihood(self.model, x, self.iwae_samples, self.iwae_rows).mean()
        values = {"test/iwae_nll": nll}
        if discrete_likelihood(self.model):  # a density's NLL is no code length
            values["test/iwae_bpd"] = bits_per_dim(nll, x[0].numel())
        self._add_to_epoch(values, len(x))

    def on_fit_start(self) -> None:
        check_target(self.model, self.objective)

    def on_test_start(self) -> None:
        check_target(self.model, self.objective)


@contextmanager
def argument_validation(enabled: bool) -> Iterator[None]:
    """torch.distributions' checks of their arguments on or off while the block runs (they
    cost about 7 % of a small model's training step), as they were afterwards."""
    before = Distribution._validate_args
    Distribution.set_default_validate_args(enabled)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(before)


FUSED = (torch.optim.Adam, torch.optim.AdamW)  # optimisers with a fused kernel on CPU and CUDA


def fused_options(factory: OptimizerFactory, parameters: Iterable[nn.Parameter]) -> dict:
    """``{"fused": True}`` for an Adam or AdamW factory that chose no implementation itself
    (neither ``fused`` nor ``foreach``) when every parameter is a floating tensor on the CPU or
    a CUDA device: one kernel for all parameters instead of a Python loop over them (on this
    project's CPU a step of the MLP VAE went from 21.7 to 16.8 ms; benchmarks/README.md).

    >>> fused_options(partial(torch.optim.Adam, lr=1e-3), [nn.Parameter(torch.zeros(2))])
    {'fused': True}
    >>> fused_options(partial(torch.optim.Adam, foreach=False), [nn.Parameter(torch.zeros(2))])
    {}
    """
    chosen = getattr(factory, "keywords", {}) or {}
    if getattr(factory, "func", None) not in FUSED or {"fused", "foreach"} & chosen.keys():
        return {}
    usable = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in parameters)
    return {"fused": True} if usable else {}


def nonfinite_gradient(grads: list[Tensor]) -> bool:
    """Whether any of ``grads`` holds a NaN or an infinity. One read of each (GradScaler's
    check, at a scale of 1, which leaves the values as they are: half the time of their total
    norm on a CPU) and one host-device synchronisation. Unlike the norm, it does not overflow:
    a finite gradient of 10²⁰ is finite.

    >>> nonfinite_gradient([torch.full((3,), 1e20), torch.tensor([1.0, float("inf")])])
    True
    >>> nonfinite_gradient([torch.full((3,), 1e20)])
    False
    """
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}  # as GradScaler groups
    for grad in grads:
        groups.setdefault((grad.device, grad.dtype), []).append(grad)
    found = []
    for (device, _), group in groups.items():
        found.append(torch.zeros(1, device=device))
        torch._amp_foreach_non_finite_check_and_unscale_(
            group, found[-1], torch.ones(1, device=device))
    return bool(found) and bool(sum(f.cpu() for f in found))


def nonfinite_term(**terms: Tensor) -> str | None:
    """The name of the first term holding a value that is not finite, else None (one
    host-device synchronisation when all are finite).

    >>> nonfinite_term(loss=torch.tensor(1.0), rate=torch.tensor([0.5, float("nan")]))
    'rate'
    """
    if bool(torch.isfinite(torch.stack([t.detach().sum() for t in terms.values()])).all()):
        return None
    return next(name for name, t in terms.items() if not bool(torch.isfinite(t).all()))


def invalid_parameter(error: ValueError) -> str | None:
    """"the Bernoulli's logits" when ``error`` is torch.distributions refusing a non-finite
    parameter (weights blown up by the last update), else None.

    >>> invalid_parameter(ValueError("Expected parameter logits (Tensor of shape (2,)) of "
    ...     "distribution Bernoulli(logits: torch.Size([2])) to satisfy the constraint Real(), "
    ...     "but found invalid values:"))
    "the Bernoulli's logits"
    """
    found = re.search(r"Expected parameter (\w+) .* of distribution (\w+)", str(error))
    if found is None or "invalid values" not in str(error):
        return None
    return f"the {found.group(2)}'s {found.group(1)}"


def check_target(model: RDModel, objective: Objective) -> None:
    """A ConfigError unless the decoder scores what the objective asks for (x or the label y)."""
    scores = getattr(model.decoder, "target", "x")  # a plain nn.Module decoder scores x
    if scores != objective.target:
        raise ConfigError(
            f"{type(objective).__name__} scores {objective.target!r} but the decoder "
            f"{type(model.decoder).__name__} scores {scores!r}: use objective=ib with "
            f"decoder=classifier (or experiment=ib), and a data decoder with the other objectives"
        )

"""RDSystem: the one LightningModule. It steps, optimises and logs; the mathematics lives in
RDModel and the Objective."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from rdframe.errors import ConfigError
from rdframe.estimators import bits_per_dim, iwae_log_likelihood, predictive_error
from rdframe.model import RDModel, RDTerms
from rdframe.objectives import Objective

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
DEFAULT_OPTIMIZER: OptimizerFactory = partial(torch.optim.Adam, lr=1e-3)


class RDSystem(pl.LightningModule):
    """Trains ``model`` on ``objective`` and logs "{stage}/{quantity}" in nats per example.

    Every stage logs ``rate``, ``distortion``, ``elbo`` and ``loss``; training logs ``beta``
    (the one in force at the step). The test stage adds the importance-weighted ``iwae_nll``
    (k = ``iwae_samples``) and its bits per dimension ``iwae_bpd`` when the decoder scores x,
    and the classification ``error`` when it scores the label y (the bottleneck); both come
    from :mod:`rdframe.estimators`, as in ``rdframe evaluate``.
    """

    def __init__(
        self,
        model: RDModel,
        objective: Objective,
        optimizer: OptimizerFactory = DEFAULT_OPTIMIZER,
        iwae_samples: int = 100,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model", "objective", "optimizer"])
        self.model = model
        self.objective = objective
        self.optimizer_factory = optimizer
        self.iwae_samples = iwae_samples

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters())

    def _terms(self, batch: tuple[Tensor, Tensor]) -> RDTerms:
        x, y = batch
        return self.model.terms(x, target=y if self.objective.target == "y" else x)

    def _log_terms(self, stage: str, terms: RDTerms, loss: Tensor) -> None:
        values = {"rate": terms.rate, "distortion": terms.distortion, "elbo": terms.elbo}
        values = {f"{stage}/{k}": v.mean() for k, v in values.items()}
        values[f"{stage}/loss"] = loss
        self.log_dict(values, batch_size=len(terms.rate), sync_dist=True, prog_bar=False)

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        terms = self._terms(batch)
        loss = self.objective.loss(terms, self.global_step).mean()
        self._log_terms(stage, terms, loss)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        self.log("beta", self.objective.beta(self.global_step), batch_size=len(batch[0]))
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        if self.objective.target == "x":
            self._log_iwae(x)
        else:
            error = predictive_error(self.model, x, y)
            self.log("test/error", error, batch_size=len(y), sync_dist=True)
        return self._step(batch, "test")

    def _log_iwae(self, x: Tensor) -> None:
        nll = -iwae_log_likelihood(self.model, x, self.iwae_samples).mean()
        bpd = bits_per_dim(nll, x[0].numel())
        values = {"test/iwae_nll": nll, "test/iwae_bpd": bpd}
        self.log_dict(values, batch_size=len(x), sync_dist=True)

    def on_fit_start(self) -> None:
        check_target(self.model, self.objective)

    def on_test_start(self) -> None:
        check_target(self.model, self.objective)


def check_target(model: RDModel, objective: Objective) -> None:
    """A ConfigError unless the decoder scores what the objective asks for (x or the label y)."""
    scores = getattr(model.decoder, "target", "x")  # a plain nn.Module decoder scores x
    if scores != objective.target:
        raise ConfigError(
            f"{type(objective).__name__} scores {objective.target!r} but the decoder "
            f"{type(model.decoder).__name__} scores {scores!r}: use objective=ib with "
            f"decoder=classifier (or experiment=ib), and a data decoder with the other objectives"
        )

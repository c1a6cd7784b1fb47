"""RDSystem: the one LightningModule. It steps, optimises and logs; the mathematics lives in
RDModel and the Objective."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from rdframe.model import RDModel, RDTerms
from rdframe.objectives import Objective

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class RDSystem(pl.LightningModule):
    """Trains ``model`` on ``objective`` and logs "{stage}/{quantity}" in nats per example.

    Every stage logs ``rate``, ``distortion``, ``elbo`` and ``loss``; training logs ``beta``;
    the test stage adds the importance-weighted ``iwae_nll`` (k = ``iwae_samples``) and its
    bits per dimension ``iwae_bpd``.
    """

    def __init__(
        self,
        model: RDModel,
        objective: Objective,
        optimizer: OptimizerFactory = partial(torch.optim.Adam, lr=1e-3),
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
        if self.objective.target == "x":
            self._log_iwae(batch[0])
        return self._step(batch, "test")

    def _log_iwae(self, x: Tensor) -> None:
        nll = -self.model.log_likelihood(x, samples=self.iwae_samples).mean()
        bpd = nll / (x[0].numel() * math.log(2))
        self.log_dict({"test/iwae_nll": nll, "test/iwae_bpd": bpd}, batch_size=len(x), sync_dist=True)

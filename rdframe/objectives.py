"""Objectives: one rate–distortion loss per example, written against RDTerms.

All terms are in nats per example; a loss is formed per example and averaged by the caller.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal

from torch import Tensor

from rdframe.errors import ConfigError
from rdframe.model import RDTerms


class Objective(ABC):
    """A loss over rate and distortion; ``target`` says what the decoder scores."""

    target: ClassVar[Literal["x", "y"]] = "x"

    @abstractmethod
    def loss(self, terms: RDTerms, step: int) -> Tensor:
        """Per-example loss, shape (B,), at optimisation step ``step``."""

    @abstractmethod
    def beta(self, step: int) -> float:
        """The weight on the rate in force at ``step`` (logged as "beta")."""


class BetaVAE(Objective):
    r"""β-VAE: loss = D + β·R (Higgins et al., ICLR 2017); β = 1 is the negative ELBO.

    >>> import torch
    >>> from rdframe.model import RDTerms
    >>> BetaVAE(beta=0.5).loss(RDTerms(torch.tensor([2.0]), torch.tensor([3.0])), step=0)
    tensor([4.])
    """

    def __init__(self, beta: float = 1.0) -> None:
        if not beta >= 0:
            raise ConfigError(f"objective.beta must be >= 0, got {beta}; set objective.beta=0.5")
        self._beta = float(beta)

    def beta(self, step: int) -> float:
        return self._beta

    def loss(self, terms: RDTerms, step: int) -> Tensor:
        return terms.distortion + self.beta(step) * terms.rate


class ELBO(BetaVAE):
    """The negative evidence lower bound, D + R: β-VAE with β = 1 (Kingma & Welling, 2014)."""

    def __init__(self) -> None:
        super().__init__(beta=1.0)

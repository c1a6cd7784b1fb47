"""Objectives: one rate–distortion loss per example, written against RDTerms.

All terms are in nats per example; a loss is formed per example and averaged by the caller.

- ``BetaVAE(β)``: D + β·R (Higgins et al., ICLR 2017); β a number or a schedule.
- ``ELBO``: D + R, the negative evidence lower bound (Kingma & Welling, ICLR 2014).
- ``TargetRate(σ)``: D + |σ − R| (Alemi et al., "Fixing a Broken ELBO", ICML 2018, §4).
- ``InformationBottleneck(β)``: D_y + β·R with D_y = −log c(y|z) (Alemi et al., ICLR 2017).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, Literal

from torch import Tensor

from rdframe.errors import ConfigError
from rdframe.model import RDTerms
from rdframe.schedules import Schedule, as_schedule


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

    ``beta`` is a number or a :class:`~rdframe.schedules.Schedule` of the step (warm-up,
    cyclical annealing); either way β ≥ 0.

    >>> import torch
    >>> from rdframe.model import RDTerms
    >>> BetaVAE(beta=0.5).loss(RDTerms(torch.tensor([2.0]), torch.tensor([3.0])), step=0)
    tensor([4.])
    """

    def __init__(self, beta: float | Schedule = 1.0) -> None:
        self.schedule = as_schedule(beta)

    def beta(self, step: int) -> float:
        return self.schedule(step)

    def loss(self, terms: RDTerms, step: int) -> Tensor:
        return terms.distortion + self.beta(step) * terms.rate

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.schedule!r})"


class ELBO(BetaVAE):
    """The negative evidence lower bound, D + R: β-VAE with β = 1 (Kingma & Welling, 2014)."""

    def __init__(self) -> None:
        super().__init__(beta=1.0)


class TargetRate(Objective):
    r"""Aim the rate at σ nats: loss = D + |σ − R| (Alemi et al., "Fixing a Broken ELBO", §4).

    R is the batch's mean rate, so the penalty steers the average rate (the quantity on the
    rate–distortion plane) to σ rather than every example's; the per-example loss is
    D_i + |σ − R̄|, whose batch mean is D̄ + |σ − R̄|. The weight on the rate is ±1, so the
    logged "beta" is 1. Below σ the loss is D − R + σ and raises the rate, the paper's use:
    a powerful decoder can no longer ignore z. Above σ it is D + R − σ, the negative ELBO
    plus a constant, so a σ below the ELBO's own rate is not reached: use BetaVAE(β > 1).

    >>> import torch
    >>> from rdframe.model import RDTerms
    >>> TargetRate(sigma=5.0).loss(RDTerms(torch.tensor([2.0, 4.0]), torch.tensor([1.0, 3.0])), 0)
    tensor([3., 5.])
    """

    def __init__(self, sigma: float) -> None:
        if not (isinstance(sigma, int | float) and sigma >= 0 and math.isfinite(sigma)):
            raise ConfigError(
                f"objective.sigma (the target rate, nats per example) must be a finite "
                f"number >= 0, got {sigma!r}; e.g. objective.sigma=10"
            )
        self.sigma = float(sigma)

    def beta(self, step: int) -> float:
        return 1.0

    def loss(self, terms: RDTerms, step: int) -> Tensor:
        return terms.distortion + (self.sigma - terms.rate.mean()).abs()

    def __repr__(self) -> str:
        return f"TargetRate(sigma={self.sigma:g})"


class InformationBottleneck(BetaVAE):
    r"""Variational information bottleneck: loss = D_y + β·R with D_y = −E_e[log c(y|z)].

    The decoder is a classifier c(y|z) of the label (``target = "y"``); R ≥ I(Z;X) and
    H(Y) − D_y ≤ I(Z;Y), so a β sweep traces the information plane. Alemi et al., "Deep
    Variational Information Bottleneck" (ICLR 2017).

    >>> import torch
    >>> from rdframe.model import RDTerms
    >>> terms = RDTerms(rate=torch.tensor([100.0]), distortion=torch.tensor([0.5]))
    >>> InformationBottleneck(beta=1e-3).loss(terms, step=0)
    tensor([0.6000])
    """

    target: ClassVar[Literal["x", "y"]] = "y"

"""A learned diagonal-Gaussian marginal."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Marginal


class DiagonalGaussian(Marginal):
    r"""m(z) = N(z; μ, diag σ²), with μ and log σ learned (initialised to N(0, I)).

    The rate KL(e(z|x) ‖ m(z)) has a closed form against a Gaussian encoder. Learning the
    marginal tightens the rate towards I(X;Z): Alemi et al., "Fixing a Broken ELBO" (ICML 2018),
    §2; Tomczak & Welling, "VAE with a VampPrior" (AISTATS 2018), §2.

    >>> marginal = DiagonalGaussian(latent_dim=3)
    >>> marginal().log_prob(torch.zeros(4, 3)).shape
    torch.Size([4])
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.loc = nn.Parameter(torch.zeros(latent_dim))
        self.log_scale = nn.Parameter(torch.zeros(latent_dim))

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.log_scale.exp()), 1)

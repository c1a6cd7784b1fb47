"""The fixed standard-normal marginal of the classic VAE."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Marginal


class StandardNormal(Marginal):
    r"""m(z) = N(z; 0, I), with no parameters.

    >>> marginal = StandardNormal(latent_dim=3)
    >>> marginal().sample((4,)).shape
    torch.Size([4, 3])
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.scale), 1)

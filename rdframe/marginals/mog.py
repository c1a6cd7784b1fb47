"""A learned mixture-of-Gaussians marginal."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal

from rdframe.components import Marginal
from rdframe.errors import ConfigError


class MixtureOfGaussians(Marginal):
    r"""m(z) = Σ_k π_k N(z; μ_k, diag σ_k²), with π = softmax(w), μ_k and log σ_k all learned.

    Means start at ``init_spread``·N(0, I) draws (distinct, so that the components can
    separate), scales at 1, weights uniform. The rate has no closed form: it is the
    Monte-Carlo estimate log e(z|x) − log m(z). Dilokthanakul et al., "Deep Unsupervised
    Clustering with Gaussian Mixture VAEs" (2016); Tomczak & Welling, "VAE with a VampPrior"
    (AISTATS 2018), §2.

    >>> marginal = MixtureOfGaussians(latent_dim=3, num_components=5)
    >>> marginal().sample((4,)).shape
    torch.Size([4, 3])
    """

    def __init__(self, latent_dim: int, num_components: int = 10, init_spread: float = 1.0) -> None:
        super().__init__()
        if num_components < 1:
            raise ConfigError(f"MixtureOfGaussians needs num_components >= 1, got {num_components}")
        self.latent_dim = latent_dim
        self.logits = nn.Parameter(torch.zeros(num_components))
        self.loc = nn.Parameter(init_spread * torch.randn(num_components, latent_dim))
        self.log_scale = nn.Parameter(torch.zeros(num_components, latent_dim))

    def forward(self) -> Distribution:
        components = Independent(Normal(self.loc, self.log_scale.exp()), 1)  # batch (K,)
        return MixtureSameFamily(Categorical(logits=self.logits), components)

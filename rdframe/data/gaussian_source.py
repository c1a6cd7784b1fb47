"""A linear-Gaussian source: exact density and exact differential entropy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal

from rdframe.errors import ConfigError


class LinearGaussianSource:
    r"""x = W z + b + ε with z ~ N(0, I_k), ε ~ N(0, σ² I_D), so x ~ N(b, W Wᵀ + σ² I_D) and
    h(X) = ½ log det(2πe (W Wᵀ + σ² I_D)) nats per example (a differential entropy).

    W (D × k) and b have standard normal entries. This is probabilistic PCA (Tipping & Bishop,
    1999): a linear VAE can reach its exact log-likelihood, and H − D ≤ R holds with D and H
    both in differential nats. There are no labels: y is -1.

    >>> source = LinearGaussianSource((1, 2, 2), factors=1, noise_scale=0.1)
    >>> x, y = source.sample(3)
    >>> x.shape, source.log_prob(x).shape, y.tolist()
    (torch.Size([3, 1, 2, 2]), torch.Size([3]), [-1, -1, -1])
    """

    num_classes = 0

    def __init__(
        self,
        shape: Sequence[int] = (1, 4, 4),
        factors: int = 2,
        noise_scale: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        self.shape = tuple(shape)
        dim = math.prod(self.shape)
        if not 0 < factors <= dim or noise_scale <= 0:
            raise ConfigError(
                f"synthetic gaussian source: needs 0 < factors <= {dim} and noise_scale > 0; "
                f"got factors={factors}, noise_scale={noise_scale}"
            )
        self.noise_scale = noise_scale
        self.weight = torch.randn(dim, factors, generator=generator, dtype=torch.float64)
        self.bias = torch.randn(dim, generator=generator, dtype=torch.float64)
        noise = noise_scale**2 * torch.eye(dim, dtype=torch.float64)
        self.distribution = MultivariateNormal(self.bias, self.weight @ self.weight.T + noise)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """n draws of x = W z + b + ε (float64) and their labels, all -1."""
        z = torch.randn(n, self.weight.shape[1], generator=generator, dtype=torch.float64)
        noise = torch.randn(n, len(self.bias), generator=generator, dtype=torch.float64)
        x = z @ self.weight.T + self.bias + self.noise_scale * noise  # (n, D)
        return x.reshape(n, *self.shape), torch.full((n,), -1)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) in nats, one value per example: shape x.shape[:-len(shape)]."""
        return self.distribution.log_prob(x.to(torch.float64).flatten(-len(self.shape)))

    def entropy(self) -> float:
        """h(X) = ½ log det(2πe Σ) in nats per example."""
        return float(self.distribution.entropy())

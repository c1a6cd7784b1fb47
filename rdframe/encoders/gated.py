"""Gaussian encoder with a body of gated dense layers (Tomczak & Welling's MLP VAE)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Encoder
from rdframe.errors import ConfigError
from rdframe.layers import gated_mlp, he_normal_
from rdframe.nn import numel


class GatedMLPEncoder(Encoder):
    r"""e(z|x) = N(z; μ(h), diag exp(log σ²(h))), h = gated MLP of the flattened x.

    Each hidden layer is h ↦ (W₁h + b₁) ⊙ σ(W₂h + b₂); μ is linear in the last h and the
    log-variance is a linear map clipped by hardtanh to ``logvar_bounds`` (−6, 2): σ between
    e⁻³ ≈ 0.05 and e ≈ 2.7. Tomczak & Welling, "VAE with a VampPrior" (AISTATS 2018), §5,
    784-300-300-(40, 40).

    >>> encoder = GatedMLPEncoder(input_shape=(1, 8, 8), latent_dim=2, hidden=(16, 16))
    >>> posterior = encoder(torch.zeros(5, 1, 8, 8))
    >>> posterior.batch_shape, posterior.event_shape
    (torch.Size([5]), torch.Size([2]))
    >>> bool((posterior.stddev >= torch.tensor(-3.0).exp()).all())
    True
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        hidden: Sequence[int] = (300, 300),
        logvar_bounds: Sequence[float] = (-6.0, 2.0),
    ) -> None:
        super().__init__()
        low, high = (float(b) for b in logvar_bounds)
        if not low < high:
            raise ConfigError(f"GatedMLPEncoder needs logvar_bounds low < high, got {low}, {high}")
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.logvar_bounds = (low, high)
        self.body = gated_mlp([numel(input_shape), *hidden])
        self.head = he_normal_(nn.Linear(hidden[-1], 2 * latent_dim))  # μ and log σ²

    def forward(self, x: Tensor) -> Distribution:
        h = self.body(x.flatten(-len(self.input_shape)))  # (B, H)
        loc, logvar = self.head(h).chunk(2, dim=-1)  # (B, Z) each
        logvar = nn.functional.hardtanh(logvar, *self.logvar_bounds)
        return Independent(Normal(loc, torch.exp(0.5 * logvar)), 1)

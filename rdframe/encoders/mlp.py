"""Gaussian encoder with a multilayer-perceptron body."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Encoder
from rdframe.nn import mlp, numel, softplus


class GaussianMLPEncoder(Encoder):
    r"""e(z|x) = N(z; μ(x), diag σ(x)²), with μ and σ from one MLP on the flattened x.

    σ = softplus(· + ``scale_shift``) + ``min_scale`` keeps the scale positive and away from
    zero; a negative ``scale_shift`` starts σ small (−5 in Alemi et al.'s VIB, σ ≈ 0.007).
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014).

    >>> import torch
    >>> encoder = GaussianMLPEncoder(input_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    >>> posterior = encoder(torch.zeros(5, 1, 8, 8))
    >>> posterior.batch_shape, posterior.event_shape
    (torch.Size([5]), torch.Size([2]))
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        hidden: Sequence[int] = (256, 256),
        min_scale: float = 1e-4,
        scale_shift: float = 0.0,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.min_scale, self.scale_shift = min_scale, scale_shift
        self.net = mlp([numel(input_shape), *hidden, 2 * latent_dim])

    def forward(self, x: Tensor) -> Distribution:
        loc, raw_scale = self.net(x.flatten(-len(self.input_shape))).chunk(2, dim=-1)  # (B, Z)
        scale = softplus(raw_scale + self.scale_shift) + self.min_scale
        return Independent(Normal(loc, scale), 1)

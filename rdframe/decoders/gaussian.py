"""Gaussian decoder with a learned per-pixel scale, for continuous grey levels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Decoder
from rdframe.errors import ConfigError
from rdframe.nn import mlp, numel, softplus


class GaussianMLPDecoder(Decoder):
    r"""d(x|z) = Π_i N(x_i; μ_i(z), σ_i²), μ an MLP on z, σ one learned scale per pixel.

    The scale is a parameter of the decoder, not an output of the network:
    σ = softplus(ρ) + ``min_scale``, with ρ initialised so that σ = ``init_scale``. The
    floor keeps the density bounded on pixels that never vary (an MNIST border).
    −log d(x|z) is a *density* summed over pixels, in nats per example; for data on a grid
    it is not a discrete likelihood (see :class:`LogisticMLPDecoder` for one) and may be
    negative. Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), appendix C.2.

    >>> decoder = GaussianMLPDecoder(latent_dim=2, output_shape=(1, 8, 8), hidden=(16,))
    >>> likelihood = decoder(torch.zeros(3, 5, 2))                # (S, B, Z)
    >>> likelihood.log_prob(torch.rand(5, 1, 8, 8)).shape         # (S, B)
    torch.Size([3, 5])
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        hidden: Sequence[int] = (256, 256),
        init_scale: float = 1.0,
        min_scale: float = 1e-2,
    ) -> None:
        super().__init__()
        if not 0 < min_scale < init_scale:
            raise ConfigError(
                f"GaussianMLPDecoder needs 0 < min_scale < init_scale, got min_scale={min_scale}, "
                f"init_scale={init_scale}"
            )
        self.output_shape = tuple(output_shape)
        self.min_scale = min_scale
        self.net = mlp([latent_dim, *hidden, numel(output_shape)])
        raw = math.log(math.expm1(init_scale - min_scale))  # softplus⁻¹(init_scale − min_scale)
        self.raw_scale = nn.Parameter(torch.full(self.output_shape, raw))

    @property
    def scale(self) -> Tensor:
        """σ, one per pixel, shape output_shape."""
        return softplus(self.raw_scale) + self.min_scale

    def forward(self, z: Tensor) -> Distribution:
        loc = self.net(z).unflatten(-1, self.output_shape)  # (..., B, *output_shape)
        return Independent(Normal(loc, self.scale.expand_as(loc)), len(self.output_shape))

"""Discretised logistic likelihood over grey levels, and the MLP decoder that emits it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, constraints
from torch.distributions.utils import broadcast_all

from rdframe.components import Decoder
from rdframe.errors import ConfigError, DataError
from rdframe.nn import mlp, numel, softplus


class DiscretizedLogistic(Distribution):
    r"""A logistic(μ, s) rounded to the n levels x_k = k/(n−1), k = 0, …, n−1, of [0, 1].

    P(x_k) = F(x_k + δ) − F(x_k − δ), with F(y) = σ((y − μ)/s) and δ = 1/(2(n−1)) half a bin;
    the lowest level takes the whole left tail F(x_0 + δ) and the highest the right tail
    1 − F(x_{n−1} − δ), so the n masses sum to exactly 1. A value off the grid is scored at its
    nearest level. Scalar per element (batch shape = the shape of μ); wrap it in
    ``Independent`` for images. ``log_prob`` is a discrete log-probability (≤ 0), in nats.
    Salimans et al., "PixelCNN++" (ICLR 2017), §2.1, with one mixture component.

    >>> levels = torch.arange(256) / 255
    >>> DiscretizedLogistic(torch.tensor(0.3), torch.tensor(0.1)).log_prob(levels).exp().sum()
    tensor(1.0000)
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(
        self, loc: Tensor, scale: Tensor, num_levels: int = 256, validate_args: bool | None = None
    ) -> None:
        if num_levels < 2:
            raise ConfigError(f"DiscretizedLogistic needs num_levels >= 2, got {num_levels}")
        self.loc, self.scale = broadcast_all(loc, scale)
        self.num_levels = num_levels
        # checked unless switched off here: zuko turns torch's default validation off globally
        self.check_data = validate_args is not False
        super().__init__(self.loc.shape, validate_args=validate_args)

    def level(self, value: Tensor) -> Tensor:
        """Index k ∈ {0, …, n−1} of the level k/(n−1) nearest to each value."""
        return torch.round(value * (self.num_levels - 1)).clamp(0, self.num_levels - 1)

    def log_prob(self, value: Tensor) -> Tensor:
        if self.check_data and ((value < 0) | (value > 1)).any():
            raise DataError(
                "DiscretizedLogistic models grey levels in [0, 1] but x has values outside it: "
                "scale the data to [0, 1]"
            )
        k = self.level(value)
        half_bin = 0.5 / (self.num_levels - 1)
        upper = (k / (self.num_levels - 1) + half_bin - self.loc) / self.scale
        lower = (k / (self.num_levels - 1) - half_bin - self.loc) / self.scale
        log_below_upper = -softplus(-upper)  # log F(x + δ): the lowest level's mass
        log_above_lower = -softplus(lower)  # log (1 − F(x − δ)): the highest level's mass
        # σ(a) − σ(b) = σ(a) σ(−b) (1 − e^{b−a}): stable even far out in the tails
        log_bin = log_below_upper + log_above_lower + torch.log(-torch.expm1(lower - upper))
        log_bin = torch.where(k == self.num_levels - 1, log_above_lower, log_bin)
        return torch.where(k == 0, log_below_upper, log_bin)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        finfo = torch.finfo(self.loc.dtype)
        u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
        u = u.clamp(finfo.tiny, 1 - finfo.eps)
        y = self.loc + self.scale * (torch.log(u) - torch.log1p(-u))  # logistic(μ, s)
        return self.level(y) / (self.num_levels - 1)  # the tails fall in the edge levels


class LogisticMLPDecoder(Decoder):
    r"""d(x|z) = Π_i DiscretizedLogistic(x_i; μ_i(z), s_i(z)), μ and s from one MLP on z.

    For grey levels x ∈ [0, 1] on the grid k/255 (MNIST, Fashion-MNIST as stored); the
    scale comes from the network, s = softplus(·) + ``min_scale``. The likelihood is
    discrete, so the distortion −log d(x|z) ≥ 0 is a code length in nats per example
    (divide by D·ln 2 for bits per dimension). Salimans et al., "PixelCNN++" (ICLR 2017).

    >>> decoder = LogisticMLPDecoder(latent_dim=2, output_shape=(1, 8, 8), hidden=(16,))
    >>> likelihood = decoder(torch.zeros(3, 5, 2))                # (S, B, Z)
    >>> likelihood.log_prob(torch.rand(5, 1, 8, 8)).shape         # (S, B)
    torch.Size([3, 5])
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        hidden: Sequence[int] = (256, 256),
        num_levels: int = 256,
        min_scale: float = 1e-3,
    ) -> None:
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.num_levels = num_levels
        self.min_scale = min_scale
        self.net = mlp([latent_dim, *hidden, 2 * numel(output_shape)])

    def forward(self, z: Tensor) -> Distribution:
        loc, raw_scale = self.net(z).chunk(2, dim=-1)  # (..., B, D) each
        scale = softplus(raw_scale) + self.min_scale
        pixels = DiscretizedLogistic(
            loc.unflatten(-1, self.output_shape),
            scale.unflatten(-1, self.output_shape),
            self.num_levels,
        )
        return Independent(pixels, len(self.output_shape))

"""Gaussian encoder with the gated-convolution body of "Fixing a Broken ELBO", Appendix F."""

from __future__ import annotations

from collections.abc import Sequence

import torch  # noqa: F401 (the doctest uses it)
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Encoder
from rdframe.errors import ConfigError
from rdframe.layers import GatedConv2d, downsampled_sizes, same_padding


class GaussianConvEncoder(Encoder):
    r"""e(z|x) = N(z; μ(x), diag σ(x)²), with μ and σ from a stack of gated convolutions.

    ::

        x (C, H, W) ─► gated conv 32-5-1 ─► 32-5-2 ─► 64-5-1 ─► 64-5-2     ("same" padding)
                    ─► gated conv 256-k-1 "valid" (k = remaining size) ─► (256,)
                    ─► linear ─► μ, softplus(·) + min_scale ─► σ

    Each layer is h = (W₁ ∗ x + b₁) ⊙ σ(W₂ ∗ x + b₂); k is 7 for 28×28 images and 2 for 8×8.
    ``channels`` and ``strides`` give the "same" layers, ``features`` the width of the valid
    one. Alemi et al., "Fixing a Broken ELBO" (ICML 2018), Appendix F.

    >>> encoder = GaussianConvEncoder(input_shape=(1, 8, 8), latent_dim=2, channels=(4, 4),
    ...                               strides=(1, 2), features=8)
    >>> posterior = encoder(torch.zeros(5, 1, 8, 8))
    >>> posterior.batch_shape, posterior.event_shape
    (torch.Size([5]), torch.Size([2]))
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int = 64,
        channels: Sequence[int] = (32, 32, 64, 64),
        strides: Sequence[int] = (1, 2, 1, 2),
        kernel_size: int = 5,
        features: int = 256,
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3 or len(channels) != len(strides):
            raise ConfigError(
                f"GaussianConvEncoder needs input_shape (C, H, W) and one stride per channel "
                f"count; got input_shape={list(input_shape)}, channels={list(channels)}, "
                f"strides={list(strides)}. Use encoder=mlp for flat data."
            )
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.min_scale = min_scale
        self.body = self._body(channels, strides, kernel_size, features)
        self.head = nn.Linear(features, 2 * latent_dim)

    def _body(
        self, channels: Sequence[int], strides: Sequence[int], kernel_size: int, features: int
    ) -> nn.Sequential:
        """The "same" gated convolutions, then the valid one that leaves a 1×1 map."""
        padding = same_padding(kernel_size)
        sizes = [self.input_shape[0], *channels]
        layers = [
            GatedConv2d(c_in, c_out, kernel_size, stride, padding)
            for c_in, c_out, stride in zip(sizes[:-1], sizes[1:], strides)
        ]
        remaining = downsampled_sizes(self.input_shape[1:], strides)[-1]
        layers.append(GatedConv2d(sizes[-1], features, remaining))  # (B, features, 1, 1)
        return nn.Sequential(*layers, nn.Flatten())

    def forward(self, x: Tensor) -> Distribution:
        loc, raw_scale = self.head(self.body(x)).chunk(2, dim=-1)  # (B, Z)
        scale = nn.functional.softplus(raw_scale) + self.min_scale
        return Independent(Normal(loc, scale), 1)

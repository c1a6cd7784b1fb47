"""Bernoulli decoder with the gated-deconvolution body of "Fixing a Broken ELBO", Appendix F."""

from __future__ import annotations

from collections.abc import Sequence

import torch  # noqa: F401 (the doctest uses it)
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent

from rdframe.components import Decoder
from rdframe.errors import ConfigError
from rdframe.layers import GatedConvTranspose2d, downsampled_sizes, same_padding


class BernoulliConvDecoder(Decoder):
    r"""d(x|z) = Π_i Bernoulli(x_i; sigmoid(f_i(z))), f a stack of gated transposed convolutions.

    ::

        z (Z,) as (Z, 1, 1) ─► gated deconv 64-k-1 "valid" ─► (64, k, k)
                            ─► gated deconv 64-5-1 ─► 64-5-2 ─► 32-5-1 ─► 32-5-2 ─► 32-5-1
                            ─► 1×1 conv ─► logits (C, H, W)

    The encoder's stack mirrored: every stride-2 layer doubles the size (with the output
    padding that lands exactly on H × W), k is the size the strides leave (7 for 28×28, 2 for
    8×8). Distortion −log d(x|z) is summed over every pixel: nats per example. Alemi et al.,
    "Fixing a Broken ELBO" (ICML 2018), Appendix F.

    >>> decoder = BernoulliConvDecoder(latent_dim=2, output_shape=(1, 8, 8), features=4,
    ...                                channels=(4, 4), strides=(2, 1))
    >>> likelihood = decoder(torch.zeros(3, 5, 2))                # (S, B, Z)
    >>> likelihood.log_prob(torch.ones(5, 1, 8, 8)).shape         # (S, B)
    torch.Size([3, 5])
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        features: int = 64,
        channels: Sequence[int] = (64, 64, 32, 32, 32),
        strides: Sequence[int] = (1, 2, 1, 2, 1),
        kernel_size: int = 5,
    ) -> None:
        super().__init__()
        if len(output_shape) != 3 or len(channels) != len(strides):
            raise ConfigError(
                f"BernoulliConvDecoder needs output_shape (C, H, W) and one stride per channel "
                f"count; got output_shape={list(output_shape)}, channels={list(channels)}, "
                f"strides={list(strides)}. Use decoder=mlp for flat data."
            )
        self.latent_dim = latent_dim
        self.output_shape = tuple(output_shape)
        self.net = self._net(features, channels, strides, kernel_size)

    def _net(
        self, features: int, channels: Sequence[int], strides: Sequence[int], kernel_size: int
    ) -> nn.Sequential:
        """The valid deconvolution to k×k, the "same" ones back up to H×W, then the logits."""
        padding = same_padding(kernel_size)
        sizes = downsampled_sizes(self.output_shape[1:], strides[::-1])[::-1]  # small → large
        layers = [GatedConvTranspose2d(self.latent_dim, features, sizes[0])]
        layers[0].reset_parameters(fan_in=self.latent_dim)  # from a 1×1 map: a linear layer
        widths = [features, *channels]
        for i, stride in enumerate(strides):
            extra = tuple(out - 1 - (inp - 1) * stride for inp, out in zip(sizes[i], sizes[i + 1]))
            layers.append(
                GatedConvTranspose2d(
                    widths[i], widths[i + 1], kernel_size, stride, padding, output_padding=extra
                )
            )
        layers.append(nn.Conv2d(widths[-1], self.output_shape[0], kernel_size=1))
        return nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Distribution:
        batch = z.shape[:-1]
        h = z.reshape(-1, self.latent_dim, 1, 1)  # (N, Z, 1, 1), N = prod(..., B)
        logits = self.net(h).unflatten(0, batch)  # (..., B, C, H, W)
        return Independent(Bernoulli(logits=logits), len(self.output_shape))

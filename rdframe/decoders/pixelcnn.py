"""Gated PixelCNN decoder: an autoregressive Bernoulli likelihood over pixels, given z."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, constraints
from torch.nn import functional as F

from rdframe.components import Decoder
from rdframe.decoders.masked import GatedMaskedConv2d
from rdframe.errors import ConfigError, DataError


class PixelCNNDecoder(Decoder):
    r"""d(x|z) = Π_i Bernoulli(x_i; σ(f_i(x_{<i}, z))), f a gated PixelCNN; for x in {0, 1}.

    Pixels i run in raster order; the C channels of one pixel are conditionally independent
    given the pixels before it and z. The first layer is masked with type A, the others with
    type B; z enters every layer's gates. The likelihood is exact, so the distortion
    −log d(x|z) is in nats per example. van den Oord et al., "Conditional Image Generation with
    PixelCNN Decoders" (NeurIPS 2016); used as a VAE decoder by Gulrajani et al., "PixelVAE"
    (ICLR 2017) and in Alemi et al., "Fixing a Broken ELBO" (ICML 2018).

    ::

        x ──► gated layer (A) ──► gated layer (B) × (L−1) ──► ReLU, 1×1, ReLU, 1×1 ──► logits
                 ▲ z                  ▲ z

    >>> decoder = PixelCNNDecoder(latent_dim=2, output_shape=(1, 8, 8), channels=8)
    >>> likelihood = decoder(torch.zeros(3, 5, 2))                # (S, B, Z)
    >>> likelihood.log_prob(torch.ones(5, 1, 8, 8)).shape         # (S, B)
    torch.Size([3, 5])
    >>> likelihood.sample().shape                                 # sequential, pixel by pixel
    torch.Size([3, 5, 1, 8, 8])
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        channels: int = 64,
        num_layers: int = 5,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        if len(output_shape) != 3:
            raise ConfigError(f"PixelCNNDecoder needs images (C, H, W), got shape {output_shape}")
        if num_layers < 1:
            raise ConfigError(f"PixelCNNDecoder needs num_layers >= 1, got {num_layers}")
        self.output_shape = tuple(output_shape)
        self.latent_dim = latent_dim
        in_channels = output_shape[0]
        self.layers = nn.ModuleList(
            [GatedMaskedConv2d(in_channels, channels, latent_dim, kernel_size, "A")]
            + [
                GatedMaskedConv2d(channels, channels, latent_dim, kernel_size, "B")
                for _ in range(num_layers - 1)
            ]
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv2d(channels, in_channels, 1),
        )

    def logits(self, x: Tensor, z: Tensor) -> Tensor:
        """Logit of each pixel given those before it: x (N, C, H, W), z (N, Z) → (N, C, H, W)."""
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h, z)
        return self.head(h)

    def forward(self, z: Tensor) -> Distribution:
        return PixelCNNDistribution(self, z)


class PixelCNNDistribution(Distribution):
    """The autoregressive likelihood of a :class:`PixelCNNDecoder` at codes z of shape (..., Z).

    Batch shape z.shape[:-1], event shape (C, H, W). ``log_prob(x)`` runs the masked network
    once (x broadcasts against the batch shape, e.g. (B, C, H, W) against z of shape
    (S, B, Z)); ``sample()`` runs it H·W times, one pixel after another, without gradients.
    """

    arg_constraints: dict[str, constraints.Constraint] = {}
    has_rsample = False

    def __init__(self, decoder: PixelCNNDecoder, z: Tensor, validate_args: bool | None = None):
        self.decoder, self.z = decoder, z
        # checked unless switched off here: zuko turns torch's default validation off globally
        self.check_data = validate_args is not False
        super().__init__(z.shape[:-1], torch.Size(decoder.output_shape), validate_args)

    @property
    def support(self) -> constraints.Constraint:
        return constraints.independent(constraints.boolean, len(self.event_shape))

    def _flat_z(self, shape: torch.Size) -> Tensor:
        """The codes expanded to ``shape`` (a broadcast of the batch shape), as (N, Z)."""
        return self.z.expand(*shape, self.z.shape[-1]).reshape(-1, self.z.shape[-1])

    def log_prob(self, value: Tensor) -> Tensor:
        if self.check_data and ((value != 0) & (value != 1)).any():
            raise DataError(
                "PixelCNNDecoder models binary pixels but x has values outside {0, 1}: "
                "binarise the data (e.g. data.binarize=true) or use decoder=logistic"
            )
        shape = torch.broadcast_shapes(value.shape[:-3], self.batch_shape)  # (..., B)
        z = self._flat_z(shape)  # (N, Z)
        x = value.expand(*shape, *self.event_shape).reshape(z.shape[0], *self.event_shape)
        log_p = -F.binary_cross_entropy_with_logits(
            self.decoder.logits(x, z), x, reduction="none"
        )
        return log_p.sum((-3, -2, -1)).reshape(shape)

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))  # (*sample_shape, ..., B, C, H, W)
        z = self._flat_z(shape[:-3])  # (N, Z)
        x = z.new_zeros(z.shape[0], *self.event_shape)  # (N, C, H, W), filled in raster order
        for i in range(x.shape[-2]):
            for j in range(x.shape[-1]):
                # rows below i cannot reach row i through the masks: leave them out
                logits = self.decoder.logits(x[..., : i + 1, :], z)[..., i, j]  # (N, C)
                x[..., i, j] = torch.bernoulli(torch.sigmoid(logits))
        return x.reshape(shape)

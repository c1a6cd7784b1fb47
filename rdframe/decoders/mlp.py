"""Bernoulli decoder with a multilayer-perceptron body, for binary data."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent

from rdframe.components import Decoder
from rdframe.decoders.bernoulli import bernoulli_log_likelihood
from rdframe.nn import mlp, numel


class BernoulliMLPDecoder(Decoder):
    r"""d(x|z) = Π_i Bernoulli(x_i; sigmoid(f_i(z))), f an MLP; for x in {0, 1}.

    Distortion −log d(x|z) is summed over every pixel: nats per example.

    >>> import torch
    >>> decoder = BernoulliMLPDecoder(latent_dim=2, output_shape=(1, 8, 8), hidden=(16,))
    >>> likelihood = decoder(torch.zeros(3, 5, 2))                # (S, B, Z)
    >>> likelihood.log_prob(torch.ones(5, 1, 8, 8)).shape         # (S, B)
    torch.Size([3, 5])
    """

    def __init__(
        self, latent_dim: int, output_shape: Sequence[int], hidden: Sequence[int] = (256, 256)
    ) -> None:
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.net = mlp([latent_dim, *hidden, numel(output_shape)])

    def forward(self, z: Tensor) -> Distribution:
        return self._likelihood(self._hidden(z))

    def log_likelihood(self, z: Tensor, x: Tensor) -> Tensor:
        """log d(x|z), without an elementwise pass over x where no gradient is wanted
        (:func:`rdframe.decoders.bernoulli.linear_bernoulli_log_prob`)."""
        return bernoulli_log_likelihood(self._hidden(z), self.net[-1], x, len(self.output_shape),
                                        self._likelihood)

    def _hidden(self, z: Tensor) -> Tensor:
        """The last hidden layer's code h, the output layer's input."""
        for layer in islice(self.net, len(self.net) - 1):
            z = layer(z)
        return z

    def _likelihood(self, h: Tensor) -> Distribution:
        logits = self.net[-1](h).unflatten(-1, self.output_shape)  # (..., B, *output_shape)
        return Independent(Bernoulli(logits=logits), len(self.output_shape))

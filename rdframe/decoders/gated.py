"""Bernoulli decoder with a body of gated dense layers (Tomczak & Welling's MLP VAE)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent

from rdframe.components import Decoder
from rdframe.decoders.bernoulli import bernoulli_log_likelihood
from rdframe.layers import gated_mlp, he_normal_
from rdframe.nn import numel


class GatedBernoulliDecoder(Decoder):
    r"""d(x|z) = Π_i Bernoulli(x_i; sigmoid(w_iᵀh + b_i)), h = gated MLP of z; x in {0, 1}.

    Each hidden layer is h ↦ (W₁h + b₁) ⊙ σ(W₂h + b₂); the Bernoulli means are the sigmoid of
    a linear layer on the last h. Distortion −log d(x|z) is summed over every pixel: nats per
    example. Tomczak & Welling, "VAE with a VampPrior" (AISTATS 2018), §5, 40-300-300-784.

    >>> import torch
    >>> decoder = GatedBernoulliDecoder(latent_dim=2, output_shape=(1, 8, 8), hidden=(16, 16))
    >>> likelihood = decoder(torch.zeros(3, 5, 2))                # (S, B, Z)
    >>> likelihood.log_prob(torch.ones(5, 1, 8, 8)).shape         # (S, B)
    torch.Size([3, 5])
    """

    def __init__(
        self, latent_dim: int, output_shape: Sequence[int], hidden: Sequence[int] = (300, 300)
    ) -> None:
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.body = gated_mlp([latent_dim, *hidden])
        self.head = he_normal_(nn.Linear(hidden[-1], numel(output_shape)))

    def forward(self, z: Tensor) -> Distribution:
        return self._likelihood(self.body(z))

    def log_likelihood(self, z: Tensor, x: Tensor) -> Tensor:
        """log d(x|z), without an elementwise pass over x where no gradient is wanted
        (:func:`rdframe.decoders.bernoulli.linear_bernoulli_log_prob`)."""
        return bernoulli_log_likelihood(self.body(z), self.head, x, len(self.output_shape),
                                        self._likelihood)

    def _likelihood(self, h: Tensor) -> Distribution:
        logits = self.head(h).unflatten(-1, self.output_shape)  # (..., B, *shape)
        return Independent(Bernoulli(logits=logits), len(self.output_shape))

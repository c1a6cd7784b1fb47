"""The component contract: every encoder, decoder and marginal returns a distribution.

::

    x ──► Encoder e(z|x) ──► z ──► Decoder d(x|z)        Marginal m(z) ──► z

An encoder maps a batch ``x`` of shape ``(B, *input_shape)`` to a distribution whose batch
shape is ``(B,)`` and whose event shape is ``(latent_dim,)``. A decoder maps latents of shape
``(..., B, latent_dim)`` to a distribution whose ``log_prob(x)`` has shape ``(..., B)``. A
marginal takes no input and returns a distribution with event shape ``(latent_dim,)``. Event
dimensions are always reduced inside the distribution (``Independent``), never by hand.

A distribution that can draw a sample and its log-density in one pass (an inverse
autoregressive flow, for instance) exposes ``rsample_and_log_prob(sample_shape)``;
:func:`rsample_and_log_prob` uses it when present. Likewise a decoder may score x without
building its distribution, through ``Decoder.log_likelihood(z, x)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution


class Encoder(nn.Module, ABC):
    """e(z|x): a stochastic representation of x, as a distribution over z."""

    latent_dim: int

    @abstractmethod
    def forward(self, x: Tensor) -> Distribution:
        """Return e(z|x) with batch shape (B,) and event shape (latent_dim,)."""


class Decoder(nn.Module, ABC):
    """d(x|z): the reconstruction likelihood (or a classifier c(y|z)), as a distribution.

    ``target`` says what it scores: the data x, or the label y for the bottleneck.
    """

    target: ClassVar[Literal["x", "y"]] = "x"

    @abstractmethod
    def forward(self, z: Tensor) -> Distribution:
        """Return d(·|z) whose log_prob(x) has shape z.shape[:-1]."""

    def log_likelihood(self, z: Tensor, x: Tensor) -> Tensor:
        """log d(x|z), shape z.shape[:-1]: ``self(z).log_prob(x)``, which every caller may
        use instead. A decoder may score x without building the distribution where that is
        faster (see :class:`rdframe.decoders.BernoulliMLPDecoder`); the numbers must agree
        with ``log_prob`` to rounding (``tests/test_contract.py`` checks every decoder)."""
        return self(z).log_prob(x)


class Marginal(nn.Module, ABC):
    """m(z): the marginal (prior) over codes, used for the rate and for generation alike."""

    latent_dim: int

    @abstractmethod
    def forward(self) -> Distribution:
        """Return m(z) with event shape (latent_dim,)."""


def rsample_and_log_prob(
    distribution: Distribution, sample_shape: torch.Size = torch.Size()
) -> tuple[Tensor, Tensor]:
    """Reparameterised samples and their log-density, in one pass where the distribution can."""
    if hasattr(distribution, "rsample_and_log_prob"):
        return distribution.rsample_and_log_prob(sample_shape)
    z = distribution.rsample(sample_shape)
    return z, distribution.log_prob(z)

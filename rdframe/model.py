"""RDModel: an encoder, a decoder and a marginal, and the rate and distortion they define.

::

    x ──► encoder e(z|x) ──► z ──► decoder d(x|z) ──► D = −log d(x|z)
                  │                 m(z) ──► log m(z)
                  └─ log e(z|x) ────────────► R = log e(z|x) − log m(z)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, kl_divergence

from rdframe.components import Decoder, Encoder, Marginal, rsample_and_log_prob
from rdframe.errors import ConfigError
from rdframe.estimators import importance_log_weights, log_mean_exp


@dataclass(frozen=True)
class RDTerms:
    """Per-example rate and distortion, both in nats per example, shape (B,).

    ``elbo = −(rate + distortion)`` is the evidence lower bound on log p(x).
    """

    rate: Tensor
    distortion: Tensor

    @property
    def elbo(self) -> Tensor:
        return -(self.rate + self.distortion)


class RDModel(nn.Module):
    r"""A latent-variable model seen through rate R and distortion D, without Lightning.

    R = E_e[log e(z|x) − log m(z)] (≥ I(X;Z)), D = −E_e[log d(x|z)]; both Monte-Carlo
    estimates with ``samples`` draws z ~ e(z|x) unless ``analytic_rate`` asks for the
    closed-form KL(e(z|x) ‖ m(z)). Alemi et al., "Fixing a Broken ELBO" (ICML 2018).

    >>> from rdframe.encoders import GaussianMLPEncoder
    >>> from rdframe.decoders import BernoulliMLPDecoder
    >>> from rdframe.marginals import StandardNormal
    >>> model = RDModel(GaussianMLPEncoder((1, 8, 8), 2), BernoulliMLPDecoder(2, (1, 8, 8)),
    ...                 StandardNormal(2))
    >>> x = torch.randint(0, 2, (5, 1, 8, 8)).float()
    >>> terms = model.terms(x)
    >>> terms.rate.shape, terms.distortion.shape
    (torch.Size([5]), torch.Size([5]))
    >>> bool((model.log_likelihood(x, samples=10) <= 0).all())
    True
    """

    def __init__(
        self, encoder: Encoder, decoder: Decoder, marginal: Marginal, analytic_rate: bool = False
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.marginal = marginal
        self.analytic_rate = analytic_rate

    def terms(self, x: Tensor, target: Tensor | None = None, samples: int = 1) -> RDTerms:
        """Rate and distortion per example, averaged over ``samples`` draws of z ~ e(z|x).

        ``target`` is what the decoder scores; it defaults to ``x`` (reconstruction) and is
        the label y for the information bottleneck.
        """
        target = x if target is None else target
        posterior = self.encoder(x)
        z, log_e = rsample_and_log_prob(posterior, torch.Size([samples]))  # (S, B, Z), (S, B)
        distortion = -self.decoder.log_likelihood(z, target)  # (S, B)
        if self.analytic_rate:
            rate = analytic_kl(posterior, self.marginal()).expand_as(distortion)  # (S, B)
        else:
            rate = log_e - self.marginal().log_prob(z)  # (S, B)
        return RDTerms(rate=_wide(rate).mean(0), distortion=_wide(distortion).mean(0))

    def log_likelihood(self, x: Tensor, samples: int = 1, chunk_size: int = 100) -> Tensor:
        r"""Importance-weighted lower bound on log p(x), nats per example, shape (B,).

        log p(x) ≥ E[log (1/k) Σ_i d(x|z_i) m(z_i) / e(z_i|x)], z_i ~ e(z|x), k = ``samples``
        (Burda et al., "Importance Weighted Autoencoders", 2016). The k samples are drawn
        ``chunk_size`` at a time so that memory stays bounded for large k; for a whole data
        set, chunked over examples too, see :func:`rdframe.estimators.iwae_log_likelihood`.
        """
        return log_mean_exp(importance_log_weights(self, x, samples, chunk_size))

    def sample(self, n: int) -> Tensor:
        """n draws x ~ d(x|z), z ~ m(z): generation from the same marginal as the rate."""
        z = self.marginal().sample(torch.Size([n]))  # (n, Z)
        return self.decoder(z).sample()


def _wide(terms: Tensor) -> Tensor:
    """Per-example terms in at least float32: under mixed precision (bf16-mixed) they are
    means and sums of hundreds of per-pixel terms, too many for bfloat16's 8-bit mantissa."""
    return terms.float() if terms.dtype in (torch.float16, torch.bfloat16) else terms


def analytic_kl(posterior: Distribution, marginal: Distribution) -> Tensor:
    """KL(e(z|x) ‖ m(z)) in closed form, shape (B,); a ConfigError if the pair has none."""
    try:
        return kl_divergence(posterior, marginal)
    except NotImplementedError:
        raise ConfigError(
            f"analytic_rate=true needs a closed-form KL between the encoder's "
            f"{type(posterior).__name__} and the marginal's {type(marginal).__name__}, and "
            f"torch.distributions has none; set analytic_rate=false for the Monte-Carlo rate"
        ) from None

"""Exact answers on a linear-Gaussian model, where log p(x) and the posterior are closed-form.

p(z) = N(0, I), p(x|z) = N(Wz + b, σ²I)  ⇒  p(x) = N(b, WWᵀ + σ²I) and
p(z|x) = N(Σ Wᵀ(x − b)/σ², Σ) with Σ = (I + WᵀW/σ²)⁻¹; I(X;Z) = ½ log det(I + WᵀW/σ²).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from rdframe.components import Decoder, Encoder, Marginal
from rdframe.estimators import iwae_log_likelihood, log_mean_exp
from rdframe.model import RDModel

X_DIM, Z_DIM, NOISE = 5, 2, 0.5
F64 = torch.float64


class LinearGaussianDecoder(Decoder):
    """d(x|z) = N(x; Wz + b, σ²I)."""

    def __init__(self, weight: Tensor, bias: Tensor, noise: float) -> None:
        super().__init__()
        self.register_buffer("weight", weight)  # (X, Z)
        self.register_buffer("bias", bias)  # (X,)
        self.noise = noise

    def forward(self, z: Tensor) -> Distribution:
        return Independent(Normal(z @ self.weight.T + self.bias, self.noise), 1)

    def evidence(self) -> MultivariateNormal:
        """The exact p(x) = N(b, WWᵀ + σ²I)."""
        cov = self.weight @ self.weight.T + self.noise**2 * torch.eye(len(self.bias), dtype=F64)
        return MultivariateNormal(self.bias, cov)

    def posterior_cov(self) -> Tensor:
        z_dim = self.weight.shape[1]
        precision = torch.eye(z_dim, dtype=F64) + self.weight.T @ self.weight / self.noise**2
        return torch.linalg.inv(precision)

    def posterior_gain(self) -> Tensor:
        """A with E[z|x] = A(x − b), shape (Z, X)."""
        return self.posterior_cov() @ self.weight.T / self.noise**2

    def mutual_information(self) -> float:
        return -0.5 * torch.logdet(self.posterior_cov()).item()


class TruePosterior(Encoder):
    """e(z|x) = p(z|x), the exact posterior of ``decoder`` (full covariance)."""

    def __init__(self, decoder: LinearGaussianDecoder, scale: float = 1.0) -> None:
        super().__init__()
        self.decoder = decoder
        self.latent_dim = decoder.weight.shape[1]
        self.scale = scale  # > 1 widens the posterior: an approximate encoder

    def forward(self, x: Tensor) -> Distribution:
        loc = (x - self.decoder.bias) @ self.decoder.posterior_gain().T  # (B, Z)
        cov = self.scale**2 * self.decoder.posterior_cov()
        return MultivariateNormal(loc, cov.expand(len(x), -1, -1))


class DiagonalPosterior(TruePosterior):
    """The exact posterior mean with the diagonal of its covariance, widened by ``scale``."""

    def forward(self, x: Tensor) -> Distribution:
        loc = (x - self.decoder.bias) @ self.decoder.posterior_gain().T  # (B, Z)
        std = self.scale * self.decoder.posterior_cov().diagonal().sqrt()
        return Independent(Normal(loc, std.expand_as(loc)), 1)


class FullCovStandardNormal(Marginal):
    """m(z) = N(0, I) as a MultivariateNormal, so that KL(MVN ‖ MVN) is closed-form."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("eye", torch.eye(latent_dim, dtype=F64))

    def forward(self) -> Distribution:
        return MultivariateNormal(torch.zeros(self.latent_dim, dtype=F64), self.eye)


def linear_gaussian(
    encoder: type[TruePosterior] = TruePosterior, scale: float = 1.0, seed: int = 0,
    analytic_rate: bool = False,
) -> RDModel:
    """A random linear-Gaussian model; its encoder is ``encoder`` (the true posterior or a
    widened/diagonal approximation of it)."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(X_DIM, Z_DIM, generator=g, dtype=F64)
    bias = torch.randn(X_DIM, generator=g, dtype=F64)
    decoder = LinearGaussianDecoder(weight, bias, NOISE)
    marginal = FullCovStandardNormal(Z_DIM)
    return RDModel(encoder(decoder, scale), decoder, marginal, analytic_rate=analytic_rate)


def data(model: RDModel, n: int) -> Tensor:
    return model.decoder.evidence().sample(torch.Size([n]))  # (n, X)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_elbo_equals_log_evidence_for_the_true_posterior(seed):
    model = linear_gaussian(seed=seed)
    x = data(model, 50)
    log_px = model.decoder.evidence().log_prob(x)
    for _ in range(3):  # every single draw: the importance weight p(x, z)/p(z|x) is p(x)
        assert torch.allclose(model.terms(x).elbo, log_px, rtol=0, atol=1e-10)
    assert torch.allclose(model.log_likelihood(x, samples=7), log_px, rtol=0, atol=1e-10)


def test_elbo_is_below_log_evidence_for_a_wrong_posterior():
    model = linear_gaussian(DiagonalPosterior, scale=1.3)
    x = data(model, 200)
    gap = model.decoder.evidence().log_prob(x) - model.terms(x, samples=2000).elbo  # KL(e‖p)
    assert (gap > 0).all() and gap.mean() > 0.05


def test_iwae_approaches_log_evidence_as_k_grows():
    model = linear_gaussian(DiagonalPosterior, scale=1.3)
    x = data(model, 200)
    log_px = model.decoder.evidence().log_prob(x)
    gaps = [(log_px - model.log_likelihood(x, samples=k)).mean().item() for k in (1, 10, 100)]
    final = log_px - model.log_likelihood(x, samples=1000)
    assert gaps[0] > gaps[1] > gaps[2] > final.mean().item() >= -0.01
    assert final.abs().max() < 0.05  # k = 1000: within 0.05 nats for every example


def test_iwae_is_above_elbo_on_the_same_draws():
    model = linear_gaussian(DiagonalPosterior, scale=1.3)
    x = data(model, 100)
    torch.manual_seed(5)
    elbo = model.terms(x, samples=64).elbo  # mean log-weight of 64 draws
    torch.manual_seed(5)
    iwae = model.log_likelihood(x, samples=64, chunk_size=64)  # log mean weight, same draws
    assert (iwae >= elbo).all() and (iwae - elbo).mean() > 0.01  # Jensen, strictly here


def test_iwae_does_not_depend_on_how_it_is_chunked():
    """From one random state, any rows per pass and any split of the examples into calls give
    the same draws, hence the same estimate to rounding; another state gives other draws."""
    model = linear_gaussian(DiagonalPosterior, scale=1.3)
    x = data(model, 300)
    torch.manual_seed(3)
    whole = iwae_log_likelihood(model, x, samples=200, rows=10**6)
    torch.manual_seed(3)
    chunked = iwae_log_likelihood(model, x, samples=200, rows=13)  # one example, 13 samples
    torch.manual_seed(3)
    calls = torch.cat([iwae_log_likelihood(model, part, 200, rows=450) for part in x.split(7)])
    assert torch.allclose(chunked, whole, rtol=0, atol=1e-10)
    assert torch.allclose(calls, whole, rtol=0, atol=1e-10)
    other = iwae_log_likelihood(model, x, samples=200, rows=10**6)  # the stream has moved on
    assert (other - whole).abs().mean() > 1e-3
    exact = linear_gaussian()  # constant weights: log p(x) to rounding, whatever the draws
    log_px = exact.decoder.evidence().log_prob(x[:30])
    assert torch.allclose(iwae_log_likelihood(exact, x[:30], 50, 50), log_px, atol=1e-10)


def test_log_mean_exp_is_exact_for_any_chunking():
    a = 30 * torch.randn(100, 4, dtype=F64)  # spread wide: a naive exp would overflow
    expected = torch.logsumexp(a, 0) - math.log(100)
    for sizes in ([100], [1] * 100, [3, 97], [50, 25, 25]):
        assert torch.allclose(log_mean_exp(a.split(sizes)), expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="at least one row"):
        log_mean_exp([])


@pytest.mark.parametrize("scale", [0.7, 1.0, 1.5])
def test_monte_carlo_rate_agrees_with_analytic_kl(scale):
    model = linear_gaussian(scale=scale)
    x = data(model, 20)
    mc = model.terms(x, samples=20_000).rate
    model.analytic_rate = True
    exact = model.terms(x).rate
    assert torch.allclose(mc, exact, atol=0.03)


def test_rate_and_distortion_meet_the_information_at_the_true_model():
    """R = I(X;Z) and H − D = I(X;Z) when encoder, decoder and marginal are all exact."""
    model = linear_gaussian(analytic_rate=True)
    x = data(model, 20_000)
    terms = model.terms(x)
    information = model.decoder.mutual_information()
    entropy = model.decoder.evidence().entropy().item()  # differential, nats
    assert terms.rate.mean().item() == pytest.approx(information, abs=0.05)
    assert entropy - terms.distortion.mean().item() == pytest.approx(information, abs=0.05)

"""RDModel's rate, distortion and bounds against the mathematics, in float64."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Decoder, Marginal
from rdframe.decoders import BernoulliMLPDecoder
from rdframe.encoders import GaussianMLPEncoder
from rdframe.marginals import StandardNormal
from rdframe.model import RDModel
from rdframe.objectives import ELBO, BetaVAE

SHAPE, LATENT = (1, 4, 4), 3


@pytest.fixture
def model() -> RDModel:
    torch.manual_seed(0)
    encoder = GaussianMLPEncoder(SHAPE, LATENT, hidden=(32,))
    decoder = BernoulliMLPDecoder(LATENT, SHAPE, hidden=(32,))
    return RDModel(encoder, decoder, StandardNormal(LATENT)).double()


@pytest.fixture
def x() -> Tensor:
    return torch.randint(0, 2, (8, *SHAPE), generator=torch.Generator().manual_seed(1)).double()


def test_monte_carlo_rate_matches_analytic_kl(model, x):
    monte_carlo = model.terms(x, samples=20000).rate
    model.analytic_rate = True
    analytic = model.terms(x).rate
    assert torch.allclose(monte_carlo, analytic, atol=0.05)
    assert (analytic >= 0).all()


def test_analytic_kl_matches_closed_form(model, x):
    model.analytic_rate = True
    posterior = model.encoder(x).base_dist
    mu, var = posterior.loc, posterior.scale**2
    expected = 0.5 * (var + mu**2 - 1 - var.log()).sum(-1)
    assert torch.allclose(model.terms(x).rate, expected)


def test_beta_one_loss_is_negative_elbo(model, x):
    torch.manual_seed(3)
    terms = model.terms(x)
    assert torch.allclose(ELBO().loss(terms, step=0), -terms.elbo)
    assert torch.allclose(BetaVAE(1.0).loss(terms, step=0), -terms.elbo)
    assert torch.allclose(BetaVAE(0.0).loss(terms, step=0), terms.distortion)


def test_iwae_bound_above_elbo_and_rising_with_k(model, x):
    torch.manual_seed(4)
    elbo = model.terms(x, samples=2000).elbo  # E[ELBO], precise
    bounds = [model.log_likelihood(x, samples=k).mean() for k in (1, 10, 100, 1000)]
    assert bounds[-1] > elbo.mean()
    assert all(b1 < b2 + 0.02 for b1, b2 in zip(bounds[1:], bounds[2:]))
    assert bounds[1] > elbo.mean()


def test_iwae_with_one_sample_is_the_elbo_of_the_same_draw(model, x):
    """k = 1: log (1/1)·d(x|z) m(z)/e(z|x) = −(R̂ + D̂) for the same z, exactly; over many
    draws, both average to the ELBO."""
    for seed in range(3):
        torch.manual_seed(seed)
        single = model.log_likelihood(x, samples=1)
        torch.manual_seed(seed)
        assert torch.allclose(single, model.terms(x, samples=1).elbo, rtol=0, atol=1e-12)
    torch.manual_seed(5)
    draws = torch.stack([model.log_likelihood(x, samples=1) for _ in range(2000)])  # (2000, B)
    elbo = model.terms(x, samples=2000).elbo
    assert torch.allclose(draws.mean(0), elbo, atol=0.3)
    error = draws.std(0) / math.sqrt(2000)  # both means carry this standard error
    assert ((draws.mean(0) - elbo).abs() < 4 * math.sqrt(2) * error).all()


def test_iwae_gap_to_the_elbo_is_the_log_mean_exp_of_the_same_weights(model, x):
    """For the same k draws, IWAE_k − mean_i log w_i = log mean_i w_i − mean_i log w_i ≥ 0
    (Jensen), with equality only when the weights are equal; here computed by hand from the
    draws' rate and distortion, w_i = exp(−(R̂_i + D̂_i))."""
    k = 64
    torch.manual_seed(6)
    iwae = model.log_likelihood(x, samples=k, chunk_size=k)
    torch.manual_seed(6)
    posterior = model.encoder(x)
    z = posterior.rsample(torch.Size([k]))  # (k, B, Z): the same draws
    log_w = model.decoder(z).log_prob(x) + model.marginal().log_prob(z) - posterior.log_prob(z)
    by_hand = torch.logsumexp(log_w, dim=0) - math.log(k)
    assert torch.allclose(iwae, by_hand, rtol=0, atol=1e-10)
    assert (iwae > log_w.mean(0) + 1e-3).all()  # strictly above the k-draw ELBO


def test_chunked_iwae_agrees_with_one_chunk_within_monte_carlo_error(model, x):
    def estimates(chunk_size: int) -> Tensor:
        return torch.stack(
            [model.log_likelihood(x, samples=500, chunk_size=chunk_size).mean() for _ in range(30)]
        )

    with torch.no_grad():
        chunked, whole = estimates(7), estimates(500)
    error = (chunked.var() / 30 + whole.var() / 30).sqrt()
    assert (chunked.mean() - whole.mean()).abs() < 4 * error
    assert error < 0.05  # the comparison is sharp enough to catch a wrong normalisation


def test_gradients_reach_every_parameter(model, x):
    BetaVAE(0.7).loss(model.terms(x), step=0).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


class _ShiftedNormal(Marginal):
    def __init__(self, latent_dim: int, shift: float) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("loc", torch.full((latent_dim,), shift))

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, torch.ones_like(self.loc)), 1)


class _Echo(Decoder):
    """d(x|z) = N(x; z, 0.01²): its samples show which z they were decoded from."""

    def forward(self, z: Tensor) -> Distribution:
        return Independent(Normal(z, torch.full_like(z, 0.01)), 1)


def test_sample_draws_from_the_models_marginal():
    model = RDModel(GaussianMLPEncoder((LATENT,), LATENT), _Echo(), _ShiftedNormal(LATENT, 5.0))
    draws = model.sample(4000)
    assert draws.shape == (4000, LATENT)
    assert torch.allclose(draws.mean(0), torch.full((LATENT,), 5.0), atol=0.1)


def test_terms_are_nats_per_example_summed_over_pixels():
    decoder = BernoulliMLPDecoder(LATENT, SHAPE, hidden=(8,))
    nn.init.zeros_(decoder.net[-1].weight), nn.init.zeros_(decoder.net[-1].bias)
    model = RDModel(GaussianMLPEncoder(SHAPE, LATENT), decoder, StandardNormal(LATENT))
    x = torch.ones(2, *SHAPE)
    # logits 0 → each of the 16 pixels costs log 2 nats
    assert torch.allclose(model.terms(x).distortion, torch.full((2,), 16 * math.log(2)))

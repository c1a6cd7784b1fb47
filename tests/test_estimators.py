"""Estimators and information metrics: exact values, bounds, chunking, and H − D ≤ R."""

from __future__ import annotations

import math

import pytest
import torch
from test_linear_gaussian import TruePosterior, data, linear_gaussian
from test_objectives import fit
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Decoder, Encoder
from rdframe.data import BinaryMixtureSource
from rdframe.decoders import BernoulliMLPDecoder, CategoricalDecoder
from rdframe.encoders import GaussianMLPEncoder, IAFEncoder
from rdframe.errors import ConfigError
from rdframe.estimators import (
    active_units,
    aggregate_posterior_mi,
    bits_per_dim,
    iwae_log_likelihood,
    kl_per_dimension,
    label_entropy,
    predictive_error,
    rd_terms,
)
from rdframe.marginals import MAFMarginal, StandardNormal
from rdframe.model import RDModel
from rdframe.objectives import BetaVAE

F64 = torch.float64
SHAPE = (1, 8, 8)


class PriorEncoder(Encoder):
    """e(z|x) = N(0, I) whatever x: the importance weight m(z)/e(z|x) is exactly 1."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def forward(self, x: Tensor) -> Distribution:
        zeros = torch.zeros(len(x), self.latent_dim, dtype=x.dtype)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)


class CountingDecoder(Decoder):
    """Wraps a decoder and records the most (sample, example) rows it saw in one call."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.decoder, self.most_rows = decoder, 0

    def forward(self, z: Tensor) -> Distribution:
        self.most_rows = max(self.most_rows, z.shape[:-1].numel())
        return self.decoder(z)


def mlp_model(latent: int = 3, marginal: torch.nn.Module | None = None) -> RDModel:
    marginal = StandardNormal(latent) if marginal is None else marginal
    return RDModel(GaussianMLPEncoder(SHAPE, latent, (16,)),
                   BernoulliMLPDecoder(latent, SHAPE, (16,)), marginal).double()


def binary(n: int) -> Tensor:
    return torch.randint(0, 2, (n, *SHAPE)).double()


def test_coin_flip_decoder_costs_one_bit_per_dimension():
    decoder = BernoulliMLPDecoder(2, SHAPE, (8,)).double()
    for parameter in decoder.parameters():  # logits 0: every pixel a fair coin
        torch.nn.init.zeros_(parameter)
    model = RDModel(PriorEncoder(2), decoder, StandardNormal(2).double())
    nll = -iwae_log_likelihood(model, binary(30), samples=50)
    assert torch.allclose(nll, torch.full((30,), 64 * math.log(2), dtype=F64), atol=1e-10)
    assert bits_per_dim(nll.mean().item(), 64) == pytest.approx(1.0, abs=1e-12)


def test_iwae_chunks_bound_the_rows_per_pass():
    model = mlp_model()
    model.decoder = CountingDecoder(model.decoder)
    x = binary(50)
    iwae_log_likelihood(model, x, samples=300, rows=100)
    assert model.decoder.most_rows == 100  # 100 of one example's 300, never k × N = 15,000
    model.decoder.most_rows = 0
    iwae_log_likelihood(model, x, samples=30, rows=100)
    assert model.decoder.most_rows == 90  # all 30 samples of 3 examples


def test_monte_carlo_rate_agrees_with_analytic_kl_for_diagonal_gaussians():
    model = mlp_model()
    x = binary(10)
    mc = model.terms(x, samples=20_000).rate
    model.analytic_rate = True
    assert torch.allclose(mc, model.terms(x).rate, atol=0.03)


def test_rd_terms_average_the_requested_number_of_draws():
    """rd_terms(samples=S) is the mean of S one-draw estimates per example: its spread around
    the analytic KL shrinks as 1/√S (measured here from S = 1 draws of the same model)."""
    model = mlp_model()
    x = binary(10)
    single = torch.stack([rd_terms(model, x).rate for _ in range(200)])  # (200, 10)
    averaged = rd_terms(model, x, samples=4000, rows=8000).rate
    model.analytic_rate = True
    exact = model.terms(x).rate
    spread = (single - exact).std(0)  # one draw's standard deviation, per example
    assert ((averaged - exact).abs() < 4 * spread / math.sqrt(4000)).all()
    assert (spread > 0.05).all()  # one draw alone would miss by far more


def test_analytic_rate_without_a_closed_form_is_a_config_error():
    model = mlp_model(marginal=MAFMarginal(3, transforms=1, hidden=(8,)))
    model.analytic_rate = True
    with pytest.raises(ConfigError, match="needs a closed-form KL .* set analytic_rate=false"):
        model.terms(binary(4))


def test_kl_per_dimension_sums_to_the_analytic_rate():
    model = mlp_model()
    x = binary(40)
    per_dim = kl_per_dimension(model, x, rows=7)
    model.analytic_rate = True
    assert per_dim.shape == (3,) and (per_dim >= 0).all()
    assert per_dim.sum().item() == pytest.approx(model.terms(x).rate.mean().item(), abs=1e-10)
    assert kl_per_dimension(mlp_model(marginal=MAFMarginal(3, 1, (8,))).double(), x) is None
    lg = linear_gaussian()
    assert kl_per_dimension(lg, data(lg, 5)) is None  # full-covariance posterior


def test_aggregate_mi_matches_the_linear_gaussian_information():
    model = linear_gaussian()
    x = data(model, 2000)
    estimate = aggregate_posterior_mi(model, x, rows=40_000)
    assert estimate == pytest.approx(model.decoder.mutual_information(), abs=0.1)


def test_aggregate_mi_never_exceeds_log_n():
    model = linear_gaussian(TruePosterior, scale=0.02)  # codes nearly distinct per example
    x = data(model, 6)
    estimate = aggregate_posterior_mi(model, x)
    assert math.log(6) - 0.2 < estimate <= math.log(6) + 1e-12


def test_active_units_follow_the_posterior_mean_covariance():
    model = linear_gaussian()
    model.decoder.weight[:, 1] = 0.0  # unit 1 is ignored by the decoder: its posterior = prior
    x = data(model, 5000)
    count, variance = active_units(model, x)
    gain = model.decoder.posterior_gain()  # E[z|x] = A(x − b): Cov_x = A C Aᵀ
    expected = (gain @ model.decoder.evidence().covariance_matrix @ gain.T).diagonal()
    assert count == 1 and abs(variance[1]) < 1e-20  # exact means: no Monte-Carlo noise
    assert variance[0].item() == pytest.approx(expected[0].item(), rel=0.1)


LATENT_16 = 16


def iaf_encoder(active: int, raw_scale: float = 3.0) -> IAFEncoder:
    """An IAF encoder whose head (μ, ρ, c) = A h + b on the body's features h has zero
    weights but for the μ of the first ``active`` units, and ρ = ``raw_scale`` (σ ≈ 3 for 3):
    the other units' μ, every σ and the flow's context c ignore x. The flow steps are random,
    so E[z|x] has no closed form; ``active=0``: e(z|x) is the same for every x."""
    encoder = IAFEncoder(SHAPE, LATENT_16, hidden=(32,), context_dim=4, flow_hidden=(16,))
    with torch.no_grad():
        encoder.head.weight.zero_()
        encoder.head.weight[:active].normal_(0.0, 1.0)
        encoder.head.bias[LATENT_16 : 2 * LATENT_16] = raw_scale
    return encoder.double()


def test_active_units_of_a_flow_encoder_that_ignores_x_is_zero():
    """Var(z|x) ≈ 9 before the flow, ≈ 2.5 after: the variance across x of 100-draw means is
    ≈ 0.025 of pure Monte-Carlo noise, above the 0.01 threshold; e(z|x) is the same for every
    x (issue 9)."""
    x = torch.randint(0, 2, (1000, *SHAPE), dtype=F64)
    encoder = iaf_encoder(active=0)
    model = RDModel(encoder, BernoulliMLPDecoder(LATENT_16, SHAPE, (8,)).double(),
                    StandardNormal(LATENT_16).double())
    count, variance = active_units(model, x)
    assert count == 0 and variance.abs().max() < 0.01


def test_active_units_of_a_flow_encoder_count_the_units_that_use_x():
    """Units 0–4 carry Var_x E[z_u|x] ≈ 0.2–0.4, the flow mixes < 0.002 into the others, and
    Monte-Carlo noise (≈ 0.03 in 100-draw means) must not count them: 5 active, each within
    20 % of a reference from 1,000-draw means (noise ≈ 0.003)."""
    x = torch.randint(0, 2, (500, *SHAPE), dtype=F64)
    encoder = iaf_encoder(active=5)
    model = RDModel(encoder, BernoulliMLPDecoder(LATENT_16, SHAPE, (8,)).double(),
                    StandardNormal(LATENT_16).double())
    count, variance = active_units(model, x)
    with torch.no_grad():
        reference = encoder(x).rsample(torch.Size([1000])).mean(0).var(0)  # (Z,)
    assert (reference[:5] > 0.1).all() and (reference[5:] < 0.006).all()
    assert count == 5
    torch.testing.assert_close(variance[:5], reference[:5], rtol=0.2, atol=0)


def test_label_entropy():
    assert label_entropy(torch.arange(10).repeat(7)) == pytest.approx(math.log(10), abs=1e-12)
    assert label_entropy(torch.full((9,), 3)) == 0.0


class OneHotEncoder(Encoder):
    """e(z|x) = N(10·x, 0.1²): x is a one-hot label, so z points at its class."""

    latent_dim = 10

    def forward(self, x: Tensor) -> Distribution:
        return Independent(Normal(10 * x, 0.1 * torch.ones_like(x)), 1)


def test_predictive_error_of_a_perfect_and_a_wrong_classifier():
    classifier = CategoricalDecoder(latent_dim=10, num_classes=10, hidden=()).double()
    with torch.no_grad():
        classifier.net[0].weight.copy_(torch.eye(10))
        classifier.net[0].bias.zero_()
    model = RDModel(OneHotEncoder(), classifier, StandardNormal(10).double())
    y = torch.arange(10).repeat(5)
    x = torch.nn.functional.one_hot(y, 10).double()
    assert predictive_error(model, x, y) == 0.0
    assert predictive_error(model, x, (y + 1) % 10, rows=7) == 1.0


def test_trained_models_satisfy_h_minus_d_below_r_on_a_source_of_known_entropy():
    """H − D ≤ I(X;Z) ≤ R, with H, D and R as exact sums over all 512 images of the source."""
    shape = (1, 3, 3)
    source = BinaryMixtureSource(shape, num_prototypes=4, flip_prob=0.1,
                                 generator=torch.Generator().manual_seed(0))
    states = ((torch.arange(512)[:, None] >> torch.arange(9)) & 1).double().reshape(512, *shape)
    p = source.log_prob(states).exp()  # (512,), sums to 1
    x, y = source.sample(3000, torch.Generator().manual_seed(1))
    points = {}
    for beta in (0.3, 3.0):
        torch.manual_seed(0)
        model = RDModel(GaussianMLPEncoder(shape, 2, (32,)), BernoulliMLPDecoder(2, shape, (32,)),
                        StandardNormal(2)).double()
        fit(model, BetaVAE(beta), x, y, steps=400, lr=3e-3)
        terms = rd_terms(model, states, samples=400)
        points[beta] = ((p * terms.rate).sum().item(), (p * terms.distortion).sum().item(),
                        aggregate_posterior_mi(model, x[:2000]))
    entropy = source.entropy()
    for rate, distortion, information in points.values():
        assert entropy - distortion <= rate + 0.02
        assert entropy - distortion - 0.05 <= information <= rate + 0.05  # the estimate too
        assert entropy - distortion / 9 > rate  # a per-pixel distortion would break the bound
    (rate_lo, distortion_lo, _), (rate_hi, distortion_hi, _) = points[0.3], points[3.0]
    assert rate_lo > rate_hi + 0.5 and distortion_lo < distortion_hi  # the trade-off

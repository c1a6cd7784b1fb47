"""Learned marginals: normalisation, moments, and the VampPrior's mixture of posteriors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, Laplace, MixtureSameFamily, Normal

from rdframe.build import build_data, build_system
from rdframe.decoders import BernoulliMLPDecoder
from rdframe.encoders import GaussianMLPEncoder
from rdframe.errors import ConfigError
from rdframe.marginals import DiagonalGaussian, MixtureOfGaussians, UniformMixture, VampPrior
from rdframe.model import RDModel

SHAPE = (1, 4, 4)


pytestmark = pytest.mark.usefixtures("float64")


def perturbed(module: torch.nn.Module, scale: float = 0.5) -> torch.nn.Module:
    """Move every parameter off its initial value, so no test passes by symmetry."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return module


def gaussian() -> DiagonalGaussian:
    return perturbed(DiagonalGaussian(2))


def mog() -> MixtureOfGaussians:
    return perturbed(MixtureOfGaussians(2, num_components=3))


def vamp() -> VampPrior:
    encoder = GaussianMLPEncoder(SHAPE, latent_dim=2, hidden=(8,))
    return perturbed(VampPrior(encoder, SHAPE, num_components=3), scale=0.3)


def grid_integral(log_density, half_width: float = 12.0, points: int = 481) -> float:
    """∫ exp(log_density(z)) dz over [−w, w]², midpoint rule (spacing 0.05)."""
    h = 2 * half_width / points
    axis = -half_width + h * (torch.arange(points) + 0.5)
    z = torch.cartesian_prod(axis, axis)  # (points², 2)
    return float(log_density(z).exp().sum() * h**2)


@pytest.mark.parametrize("make", [gaussian, mog, vamp])
def test_density_integrates_to_one_on_a_2d_latent(make):
    """Tolerance 1e-6: the midpoint rule converges exponentially fast on a smooth density whose
    mass lies inside the box (measured error ≈ 1e-16)."""
    marginal = make()
    with torch.no_grad():
        assert abs(grid_integral(marginal().log_prob) - 1.0) < 1e-6


def sample_moments(draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return draws.mean(0), torch.cov(draws.T)


def test_gaussian_samples_have_its_mean_and_covariance():
    """200,000 draws: mean within 0.01, covariance within 0.02 (both ≈ 5 standard errors)."""
    marginal = gaussian()
    with torch.no_grad():
        mean, cov = sample_moments(marginal().sample((200_000,)))
        scale = marginal.log_scale.exp()
        assert (mean - marginal.loc).abs().max() < 0.01 * scale.max()
        assert (cov - torch.diag(scale**2)).abs().max() < 0.02 * scale.max() ** 2


def test_mixture_samples_have_its_mean_and_covariance():
    """E z = Σ π_k μ_k, Cov z = Σ π_k (Σ_k + μ_k μ_kᵀ) − E z E zᵀ; 200,000 draws, 5 std. errors."""
    marginal = mog()
    with torch.no_grad():
        weights = torch.softmax(marginal.logits, 0)  # (K,)
        means, variances = marginal.loc, marginal.log_scale.exp() ** 2  # (K, 2)
        mean = weights @ means
        second = torch.einsum("k,kij->ij", weights, torch.diag_embed(variances))
        second += torch.einsum("k,ki,kj->ij", weights, means, means)
        cov = second - torch.outer(mean, mean)
        sample_mean, sample_cov = sample_moments(marginal().sample((200_000,)))
        spread = cov.diagonal().max()
        assert (sample_mean - mean).abs().max() < 5 * (spread / 200_000) ** 0.5
        assert (sample_cov - cov).abs().max() < 5 * spread * (2 / 200_000) ** 0.5


def test_mixture_with_one_component_is_a_gaussian():
    marginal = perturbed(MixtureOfGaussians(3, num_components=1))
    z = torch.randn(7, 3)
    gaussian_ = Independent(Normal(marginal.loc[0], marginal.log_scale[0].exp()), 1)
    torch.testing.assert_close(marginal().log_prob(z), gaussian_.log_prob(z))


def test_learned_gaussian_rate_matches_the_analytic_kl():
    """Monte-Carlo rate (20,000 draws) within 0.05 nats of KL(e ‖ m) for every example."""
    encoder = GaussianMLPEncoder(SHAPE, latent_dim=2, hidden=(8,))
    model = RDModel(encoder, BernoulliMLPDecoder(2, SHAPE, hidden=(8,)), gaussian())
    x = torch.randint(0, 2, (4, *SHAPE)).double()
    with torch.no_grad():
        monte_carlo = model.terms(x, samples=20_000).rate
        model.analytic_rate = True
        analytic = model.terms(x).rate
    assert (monte_carlo - analytic).abs().max() < 0.05


def independent_vamp_log_density(marginal: VampPrior, z: torch.Tensor) -> torch.Tensor:
    """log (1/K) Σ_k N(z; μ(u_k), σ(u_k)²), one pseudo-input at a time, Gaussian by hand."""
    encoder = marginal.encoder
    log_densities = []
    for u in marginal.pseudo_inputs:  # (C, H, W)
        loc, raw = encoder.net(u.flatten()).chunk(2)  # (Z,), (Z,)
        scale = torch.log1p(raw.exp()) + encoder.min_scale
        log_n = -0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)
        log_densities.append(log_n.sum(-1))  # (N,)
    densities = torch.stack(log_densities).exp()  # (K, N)
    return (densities.sum(0) / len(log_densities)).log()


def test_vamp_density_is_the_mean_of_the_encoder_densities_at_its_pseudo_inputs():
    marginal = vamp()
    z = torch.randn(11, 2)
    with torch.no_grad():
        torch.testing.assert_close(
            marginal().log_prob(z), independent_vamp_log_density(marginal, z), rtol=0, atol=1e-12
        )


def two_cluster_vamp(separation: float = 5.0, scale: float = 0.5) -> VampPrior:
    """K = 3 pseudo-inputs: u_1 = u_2 put e(z|u) at (+s, 0), u_3 at (−s, 0); σ = ``scale``."""
    encoder = GaussianMLPEncoder((1, 1, 2), latent_dim=2, hidden=())  # a linear map of x
    marginal = VampPrior(encoder, (1, 1, 2), num_components=3)
    with torch.no_grad():
        linear = encoder.net[0]
        linear.weight.zero_()
        linear.weight[0] = torch.tensor([separation, -separation])  # μ_1 = s (x_1 − x_2)
        raw = math.log(math.expm1(scale - encoder.min_scale))  # softplus⁻¹
        linear.bias.copy_(torch.tensor([0.0, 0.0, raw, raw]))
        pseudo_inputs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        marginal.pseudo_inputs.copy_(pseudo_inputs.view(3, 1, 1, 2))
    return marginal


def test_vamp_samples_come_from_the_uniform_mixture():
    """20,000 draws: 2/3 land in the doubled cluster (± 0.02, ≈ 6 standard errors), and each
    cluster has its component's mean (± 0.03) and scale 0.5 (± 0.02)."""
    marginal = two_cluster_vamp()
    draws = marginal().sample((20_000,))
    assert draws.shape == (20_000, 2)
    right = draws[:, 0] > 0
    assert abs(right.double().mean() - 2 / 3) < 0.02
    for cluster, centre in ((draws[right], 5.0), (draws[~right], -5.0)):
        assert (cluster.mean(0) - torch.tensor([centre, 0.0])).abs().max() < 0.03
        assert (cluster.std(0) - 0.5).abs().max() < 0.02


@pytest.mark.parametrize("smallest_scale", [1e-3, 1e-2, 0.3])
def test_gaussian_mixture_density_keeps_float32_accuracy_where_terms_cancel(smallest_scale):
    """The expanded quadratic form (two matrix products) on float32 inputs, against the
    difference form in float64 on the same inputs: codes near their components, so that
    (v/σ)² reaches 10⁷ while (v − μ)²/σ² stays near Z. Values and gradients."""
    K, Z, B = 50, 8, 20
    generator = torch.Generator().manual_seed(0)
    loc = 3 * torch.randn(K, Z, generator=generator, dtype=torch.float32)
    scale = smallest_scale + torch.rand(K, Z, generator=generator, dtype=torch.float32)
    nearest = torch.randint(K, (B,), generator=generator)
    noise = torch.randn(B, Z, generator=generator, dtype=torch.float32)
    z = loc[nearest] + scale[nearest] * noise

    def log_density(z, loc, scale, direct):
        components = Independent(Normal(loc, scale, validate_args=False), 1)
        if direct:  # the (B, K, Z) difference form of torch.distributions
            return (components.log_prob(z.unsqueeze(-2)).logsumexp(-1) - math.log(K)).sum()
        return UniformMixture(components).log_prob(z).sum()

    results = []
    for direct, dtype in ((False, torch.float32), (True, torch.float64)):
        inputs = [t.to(dtype).requires_grad_() for t in (z, loc, scale)]
        value = log_density(*inputs, direct)
        results.append((value, *torch.autograd.grad(value, inputs)))
    for fast, exact in zip(*results, strict=True):
        assert fast.dtype == torch.float32
        torch.testing.assert_close(fast.double(), exact, rtol=1e-5, atol=1e-4)


def test_uniform_mixture_matches_mixture_same_family_for_non_gaussian_components():
    components = Independent(Laplace(torch.randn(4, 3), torch.rand(4, 3) + 0.5), 1)  # K = 4
    reference = MixtureSameFamily(Categorical(logits=torch.zeros(4)), components)
    z = torch.randn(2, 5, 3)
    torch.testing.assert_close(UniformMixture(components).log_prob(z), reference.log_prob(z))
    assert UniformMixture(components).sample((2, 5)).shape == (2, 5, 3)


def test_vamp_shares_the_encoder_and_learns_its_pseudo_inputs_through_the_rate():
    encoder = GaussianMLPEncoder(SHAPE, latent_dim=2, hidden=(8,))
    marginal = VampPrior(encoder, SHAPE, num_components=5)
    assert marginal.encoder is encoder
    assert ((marginal.pseudo_inputs - 0.5).abs() < 0.1).all()  # small noise around mid-grey
    model = RDModel(encoder, BernoulliMLPDecoder(2, SHAPE, hidden=(8,)), marginal)
    model.terms(torch.randint(0, 2, (3, *SHAPE)).double()).rate.sum().backward()
    assert (marginal.pseudo_inputs.grad.flatten(1).abs().sum(1) > 0).all()
    assert model.sample(4).shape == (4, *SHAPE)


@pytest.mark.parametrize("data", [
    ["data=digits"],
    ["data=digits", "data.binarize=false", "decoder=gaussian"],
    ["data=synthetic", "data.source=gaussian", "decoder=gaussian"],
])
def test_vamp_option_starts_at_the_data_mean_and_stays_in_the_data_range(make_config, data):
    """The default ``vamp``: pseudo-inputs start near the training data's mean and no step,
    however large, carries them out of the training data's range (issue 9)."""
    cfg = make_config(*data, "marginal=vamp", "marginal.num_components=20", "latent_dim=2")
    module = build_data(cfg)
    x = module.train_set.tensors[0].double()
    low, high, mean = x.min().item(), x.max().item(), x.mean().item()
    assert list(cfg.data_range) == pytest.approx([low, high])
    assert cfg.data_mean == pytest.approx(mean)
    model = build_system(cfg).model
    assert (model.marginal.inputs() - mean).abs().max() < 0.06  # 0.01 noise: 6 σ
    optimizer = torch.optim.Adam(model.parameters(), lr=high - low)  # steps of the range
    for batch in x.split(100)[:10]:
        optimizer.zero_grad()
        model.terms(batch).rate.mean().backward()
        optimizer.step()
    u, w = model.marginal.inputs(), model.marginal.pseudo_inputs.detach()
    assert ((w < low) | (w > high)).any()  # the steps pushed some out: the bounds are tested
    assert low <= u.min().item() and u.max().item() <= high


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: VampPrior(GaussianMLPEncoder(SHAPE, 2), SHAPE, init_loc=0.0, bounds=(0.0, 1.0)),
         "a < init_loc < b"),
        (lambda: VampPrior(GaussianMLPEncoder(SHAPE, 2), SHAPE, bounds=(0.0, 1.0),
                           unit_interval=True), "not both"),
        (lambda: MixtureOfGaussians(2, num_components=0), "num_components >= 1"),
        (lambda: VampPrior(GaussianMLPEncoder(SHAPE, 2), SHAPE, 0), "num_components >= 1"),
        (lambda: VampPrior(GaussianMLPEncoder(SHAPE, 2), (1, 8, 8)), "differs from the encoder"),
        (lambda: UniformMixture(Normal(0.0, 1.0)), "last batch dimension"),
    ],
)
def test_bad_configuration_is_rejected(build, message):
    with pytest.raises(ConfigError, match=message):
        build()

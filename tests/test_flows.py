"""The flow families: the IAF encoder and the MAF marginal.

Both are stacks of affine autoregressive steps: each step's Jacobian is triangular in the
step's coordinate order, the flow's log|det J| must equal the one autograd computes, and each
density must integrate to one.
"""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian
from torch.distributions import Independent, Normal

from rdframe.components import rsample_and_log_prob
from rdframe.decoders import BernoulliMLPDecoder
from rdframe.encoders import IAFEncoder
from rdframe.errors import ConfigError
from rdframe.marginals import MAFMarginal
from rdframe.model import RDModel

SHAPE = (1, 8, 8)
GRID_TOLERANCE = 2e-3  # |∫ density − 1| on a 2-D grid: Riemann sum, tails beyond ±8 negligible


pytestmark = pytest.mark.usefixtures("float64")


def iaf(latent_dim: int = 4, context_dim: int = 3, transforms: int = 3) -> IAFEncoder:
    return IAFEncoder(
        SHAPE,
        latent_dim,
        hidden=(16,),
        context_dim=context_dim,
        transforms=transforms,
        flow_hidden=(16, 16),
    )


def grid(half_width: float = 8.0, points: int = 321) -> tuple[torch.Tensor, float]:
    """Points of a square 2-D grid, (points², 2), and the area of one cell."""
    axis = torch.linspace(-half_width, half_width, points)
    z = torch.cartesian_prod(axis, axis)
    return z, (axis[1] - axis[0]).item() ** 2


def assert_triangular_in_order(jac: torch.Tensor, order: torch.Tensor) -> None:
    """Output i depends on input j only if j comes no later than i in ``order``."""
    perm = torch.argsort(order)
    permuted = jac[perm][:, perm]  # coordinates sorted by the step's order
    assert torch.count_nonzero(permuted.triu(1)) == 0
    assert permuted.tril(-1).abs().max() > 1e-6  # autoregressive, not merely element-wise


# ---------------------------------------------------------------- IAF encoder


def test_iaf_posterior_shapes_and_sampling():
    posterior = iaf()(torch.rand(5, *SHAPE))
    assert posterior.batch_shape == (5,) and posterior.event_shape == (4,)
    z, log_q = posterior.rsample_and_log_prob(torch.Size([3]))
    assert z.shape == (3, 5, 4) and log_q.shape == (3, 5)
    assert posterior.rsample((2,)).shape == (2, 5, 4) and posterior.rsample().shape == (5, 4)
    assert posterior.sample((2,)).requires_grad is False
    assert posterior.expand(torch.Size([2, 5])).rsample().shape == (2, 5, 4)


@pytest.mark.parametrize(("latent_dim", "context_dim"), [(4, 3), (4, 0), (1, 3)])
def test_iaf_one_pass_density_matches_density_by_inversion(latent_dim, context_dim):
    posterior = iaf(latent_dim, context_dim)(torch.rand(5, *SHAPE))
    z, log_q = rsample_and_log_prob(posterior, torch.Size([7]))
    torch.testing.assert_close(posterior.log_prob(z), log_q, rtol=0, atol=1e-9)
    assert (posterior.log_prob(z) - posterior.base.log_prob(z)).abs().max() > 1e-3


def test_iaf_steps_are_triangular_with_gates_on_the_diagonal():
    encoder = iaf()
    context = torch.randn(3)
    z0 = torch.randn(4)
    for step in encoder.steps:
        transform = step(context)
        jac = jacobian(transform, z0)  # (Z, Z)
        assert_triangular_in_order(jac, step.order)
        gate = jac.diagonal()  # ∂z_t,i / ∂z_{t−1},i = σ_t,i ∈ (0, 1)
        assert ((gate > 0) & (gate < 1)).all()
        _, ladj = transform.call_and_ladj(z0)
        torch.testing.assert_close(ladj, gate.log().sum())
        z0 = transform(z0)


def test_iaf_flow_log_det_matches_autograd():
    encoder = iaf()
    flow = encoder.flow(torch.randn(3))
    z0 = torch.randn(4)
    jac = jacobian(flow, z0)
    _, ladj = flow.call_and_ladj(z0)
    torch.testing.assert_close(ladj, torch.linalg.slogdet(jac).logabsdet)
    torch.testing.assert_close(flow.inv(flow(z0)), z0)


def test_iaf_density_integrates_to_one_for_a_fixed_x():
    encoder = iaf(latent_dim=2)
    posterior = encoder(torch.rand(1, *SHAPE))
    z, cell = grid()
    with torch.no_grad():
        density = posterior.log_prob(z[:, None, :]).exp()  # (G, 1): slow path, by inversion
    assert abs(density.sum().item() * cell - 1) < GRID_TOLERANCE
    gaussian = posterior.base.log_prob(z[:, None, :]).exp()
    assert (density - gaussian).abs().max() > 1e-2  # the flow reshapes the Gaussian


def test_iaf_samples_follow_the_density():
    posterior = iaf(latent_dim=2)(torch.rand(1, *SHAPE))
    z, cell = grid()
    with torch.no_grad():
        density = posterior.log_prob(z[:, None, :]).exp() * cell  # (G, 1)
        samples = posterior.sample((20_000,))[:, 0]  # (N, 2)
    mean_by_density = (density * z).sum(0)
    std_error = samples.std(0) / 20_000**0.5
    assert ((samples.mean(0) - mean_by_density).abs() < 4 * std_error).all()


def test_iaf_without_flow_steps_is_a_config_error():
    with pytest.raises(ConfigError, match="transforms >= 1"):
        IAFEncoder(SHAPE, 2, transforms=0)


# ---------------------------------------------------------------- MAF marginal


def test_maf_steps_are_triangular_and_log_det_matches_autograd():
    marginal = MAFMarginal(latent_dim=4, transforms=3, hidden=(16, 16))
    z = torch.randn(4)
    for step in marginal.steps:
        transform = step()
        jac = jacobian(transform, z)
        assert_triangular_in_order(jac, step.order)
        assert (jac.diagonal() > 0).all()
        _, ladj = transform.call_and_ladj(z)
        torch.testing.assert_close(ladj, torch.linalg.slogdet(jac).logabsdet)
        z = transform(z)
    flow = marginal().transform  # z ↦ u, the density direction
    z = torch.randn(4)
    _, ladj = flow.call_and_ladj(z)
    torch.testing.assert_close(ladj, torch.linalg.slogdet(jacobian(flow, z)).logabsdet)


def test_maf_density_integrates_to_one():
    marginal = MAFMarginal(latent_dim=2, transforms=3, hidden=(16, 16))
    z, cell = grid()
    with torch.no_grad():
        log_m = marginal().log_prob(z)
    assert abs(log_m.exp().sum().item() * cell - 1) < GRID_TOLERANCE
    standard = Independent(Normal(torch.zeros(2), torch.ones(2)), 1).log_prob(z)
    assert (log_m.exp() - standard.exp()).abs().max() > 1e-2  # not the standard normal


def test_maf_samples_follow_the_density_and_reparameterise():
    marginal = MAFMarginal(latent_dim=2, transforms=3, hidden=(16, 16))
    z, cell = grid()
    with torch.no_grad():
        mean_by_density = (marginal().log_prob(z).exp()[:, None] * cell * z).sum(0)
        samples = marginal().sample((20_000,))
    std_error = samples.std(0) / 20_000**0.5
    assert ((samples.mean(0) - mean_by_density).abs() < 4 * std_error).all()
    draw, log_m = rsample_and_log_prob(marginal(), torch.Size([5]))
    torch.testing.assert_close(marginal().log_prob(draw), log_m)
    draw.sum().backward()
    assert all(p.grad is not None for p in marginal.parameters())


def test_maf_marginal_is_used_for_rate_and_generation():
    marginal = MAFMarginal(latent_dim=3, hidden=(16,))
    model = RDModel(iaf(latent_dim=3), BernoulliMLPDecoder(3, SHAPE, hidden=(16,)), marginal)
    x = torch.randint(0, 2, (6, *SHAPE)).double()
    torch.manual_seed(0)
    terms = model.terms(x)
    torch.manual_seed(0)
    z, log_e = rsample_and_log_prob(model.encoder(x), torch.Size([1]))
    torch.testing.assert_close(terms.rate, (log_e - marginal().log_prob(z)).mean(0))
    assert model.sample(4).shape == (4, *SHAPE)


def test_maf_without_flow_steps_is_a_config_error():
    with pytest.raises(ConfigError, match="transforms >= 1"):
        MAFMarginal(2, transforms=0)

"""One contract test per component kind, parametrised over every option in its config group.

A new family joins these tests by adding its yaml to rdframe/conf/{encoder,decoder,marginal}.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import options
from omegaconf import DictConfig
from torch.distributions import Distribution, Independent, Normal

from rdframe.build import build_data, build_model
from rdframe.components import rsample_and_log_prob
from rdframe.encoders.iaf import InverseAutoregressiveFlow
from rdframe.model import RDModel
from rdframe.system import argument_validation

B, LATENT = 6, 3
LABEL_DECODERS = {"classifier"}  # decoders that score the label y instead of x


def _config(make_config, group: str, option: str) -> DictConfig:
    return make_config(f"{group}={option}", f"latent_dim={LATENT}")


def _setup(cfg: DictConfig) -> tuple[RDModel, torch.Tensor, torch.Tensor]:
    data = build_data(cfg)
    data.setup("fit")
    x, y = next(iter(data.train_dataloader()))
    torch.manual_seed(0)
    return build_model(cfg).double(), x[:B].double(), y[:B]


def _model(make_config, group: str, option: str) -> tuple[RDModel, torch.Tensor, torch.Tensor]:
    return _setup(_config(make_config, group, option))


def _target(cfg_decoder: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return y if cfg_decoder in LABEL_DECODERS else x


@pytest.mark.parametrize("option", options("encoder"))
def test_encoder_contract(make_config, option):
    model, x, _ = _model(make_config, "encoder", option)
    posterior = model.encoder(x)
    assert isinstance(posterior, Distribution)
    assert posterior.batch_shape == (B,) and posterior.event_shape == (LATENT,)
    z, log_e = rsample_and_log_prob(posterior, torch.Size([4]))
    assert z.shape == (4, B, LATENT) and log_e.shape == (4, B)
    assert z.dtype == torch.float64 and torch.isfinite(log_e).all()
    assert torch.allclose(posterior.log_prob(z), log_e, atol=1e-6)
    z, expected = independent_log_density(posterior, 4)  # computed without log_prob
    assert torch.allclose(posterior.log_prob(z), expected, rtol=0, atol=1e-8)


def gaussian_log_density(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) = Σ_i −½((z_i − μ_i)/σ_i)² − log σ_i − ½ log 2π, by formula."""
    terms = -0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)
    return terms.sum(-1)


def independent_log_density(posterior: Distribution, samples: int) -> tuple[torch.Tensor, ...]:
    """Draws z (S, B, Z) of an encoder's distribution and log e(z|x) (S, B) computed apart from
    its ``log_prob``: by the Gaussian formula, or for a flow z = f(z₀) by the change of
    variables log N(z₀; μ, σ²) − log|det ∂f/∂z₀| with the Jacobian taken by autograd."""
    if isinstance(posterior, Independent) and isinstance(posterior.base_dist, Normal):
        loc, scale = posterior.base_dist.loc, posterior.base_dist.scale
        z = loc + scale * torch.randn(samples, *loc.shape, dtype=loc.dtype)
        return z, gaussian_log_density(z, loc, scale)
    if isinstance(posterior, InverseAutoregressiveFlow):
        base = posterior.base.base_dist  # Normal(μ, σ), batch (B, Z)
        z0 = base.rsample(torch.Size([samples])).detach()  # (S, B, Z)
        jacobian = torch.autograd.functional.jacobian(posterior.flow, z0)  # (S, B, Z, S, B, Z)
        s, b = torch.meshgrid(torch.arange(samples), torch.arange(z0.shape[1]), indexing="ij")
        blocks = jacobian[s, b, :, s, b, :]  # (S, B, Z, Z): each draw's own Jacobian
        log_det = torch.linalg.slogdet(blocks).logabsdet
        z = posterior.flow(z0)
        return z, gaussian_log_density(z0, base.loc, base.scale) - log_det
    pytest.fail(f"no independent density for {type(posterior).__name__}: add one here")


@pytest.mark.parametrize("option", options("decoder"))
def test_decoder_contract(make_config, option):
    model, x, y = _model(make_config, "decoder", option)
    z = torch.randn(4, B, LATENT, dtype=torch.float64)
    likelihood = model.decoder(z)
    assert isinstance(likelihood, Distribution)
    assert likelihood.log_prob(_target(option, x, y)).shape == (4, B)
    with torch.no_grad():
        draw = model.decoder(z[0]).sample()
    assert draw.shape[: 1] == (B,)
    assert torch.isfinite(model.decoder(z[0]).log_prob(draw)).all()


@pytest.mark.parametrize("option", options("decoder"))
def test_decoder_log_likelihood_is_its_distributions_log_prob(make_config, option):
    """``Decoder.log_likelihood`` may take a faster path than building d(x|z) (with no
    gradient, argument checks off: an evaluation); it must give the distribution's numbers.
    With a gradient it is the distribution's path itself."""
    model, x, y = _model(make_config, "decoder", option)
    target, z = _target(option, x, y), torch.randn(4, B, LATENT, dtype=torch.float64)
    expected = model.decoder(z).log_prob(target)
    assert torch.equal(model.decoder.log_likelihood(z, target), expected)
    with torch.no_grad(), argument_validation(False):
        scored = model.decoder.log_likelihood(z, target)
    assert scored.shape == (4, B)
    assert torch.allclose(scored, expected, rtol=1e-10, atol=1e-6)  # float64


@pytest.mark.parametrize("option", options("marginal"))
def test_marginal_contract(make_config, option):
    model, _, _ = _model(make_config, "marginal", option)
    marginal = model.marginal()
    assert isinstance(marginal, Distribution) and marginal.event_shape == (LATENT,)
    z = marginal.sample(torch.Size([5]))
    assert z.shape == (5, LATENT) and torch.isfinite(marginal.log_prob(z)).all()
    assert model.sample(5).shape[0] == 5


def _components() -> list[tuple[str, str]]:
    return [(g, o) for g in ("encoder", "decoder", "marginal") for o in options(g)]


@pytest.mark.parametrize(("group", "option"), _components())
def test_gradients_reach_every_parameter(make_config, group, option):
    model, x, y = _model(make_config, group, option)
    target = _target(option if group == "decoder" else "", x, y)
    terms = model.terms(x, target, samples=2)
    (terms.distortion + terms.rate).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(parameter.grad).all(), f"{name} has a non-finite gradient"
        assert parameter.grad.abs().sum() > 0, f"{name} gets a zero gradient"


@pytest.mark.parametrize(("group", "option"), _components())
def test_state_dict_round_trip_and_train_eval_consistency(make_config, group, option):
    cfg = _config(make_config, group, option)
    model, x, y = _setup(cfg)
    torch.manual_seed(1)
    other = build_model(cfg).double()
    other.load_state_dict(model.state_dict())
    z = torch.randn(B, LATENT, dtype=torch.float64)
    target = _target(option if group == "decoder" else "", x, y)
    for m in (model, other):
        m.eval()
    with torch.no_grad():
        assert torch.equal(model.encoder(x).log_prob(z), other.encoder(x).log_prob(z))
        assert torch.equal(model.decoder(z).log_prob(target), other.decoder(z).log_prob(target))
        assert torch.equal(model.marginal().log_prob(z), other.marginal().log_prob(z))
        evaluated = model.decoder(z).log_prob(target)
        model.train()
        assert torch.allclose(model.decoder(z).log_prob(target), evaluated)
        assert torch.allclose(model.marginal().log_prob(z), other.marginal().log_prob(z))

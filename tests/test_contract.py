"""One contract test per component kind, parametrised over every option in its config group.

A new family joins these tests by adding its yaml to rdframe/conf/{encoder,decoder,marginal}.
"""

from __future__ import annotations

import pytest
import torch
from conftest import options
from omegaconf import DictConfig
from torch.distributions import Distribution

from rdframe.build import build_data, build_model
from rdframe.components import rsample_and_log_prob
from rdframe.model import RDModel

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

"""The IAF encoder on a body of its own choosing, and its inverse by fixed-point iteration.

The paper's "+" encoder is the conv encoder's gated-convolution body followed by IAF steps:
with the gates shut it must be the conv encoder. The density of an arbitrary z (what the
VampPrior needs, K times per code) inverts the flow by a fixed-point iteration that stops
early and keeps no graph: it must agree with the plain sequential inverse — values and
gradients — to float64 precision.
"""

from __future__ import annotations

import pytest
import torch

import rdframe.encoders.fixed_point as fixed_point_module
from rdframe.encoders import GatedConvBody, GaussianConvEncoder, IAFEncoder, MLPBody
from rdframe.encoders.iaf import sequential_inverse
from rdframe.errors import ConfigError
from rdframe.marginals import VampPrior
from rdframe.nn import numel

SHAPE = (1, 8, 8)
SMALL_CONV = {"channels": (4, 4, 8, 8), "features": 16}
LATENT = 6

pytestmark = pytest.mark.usefixtures("float64")


def conv_iaf(**flow: float) -> IAFEncoder:
    return IAFEncoder(SHAPE, LATENT, context_dim=3, flow_hidden=(16, 16),
                      body=GatedConvBody(SHAPE, **SMALL_CONV), **flow)




def gradients(loss: torch.Tensor, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, tensors, allow_unused=False))


# ---------------------------------------------------------------- the body as an argument


def test_conv_body_iaf_contract():
    encoder = conv_iaf()
    x = torch.rand(5, *SHAPE)
    posterior = encoder(x)
    assert posterior.batch_shape == (5,) and posterior.event_shape == (LATENT,)
    z, log_e = posterior.rsample_and_log_prob(torch.Size([3]))  # one pass
    assert z.shape == (3, 5, LATENT) and log_e.shape == (3, 5)
    torch.testing.assert_close(posterior.log_prob(z), log_e, rtol=0, atol=1e-10)  # by inversion
    (z.sum() + log_e.sum()).backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_shut_gates_leave_the_conv_encoder():
    # σ_t = sigmoid(s + 60) = 1 in float64: every step is the identity, log σ_t = 0.
    iaf = conv_iaf(gate_bias=60.0)
    conv = GaussianConvEncoder(SHAPE, LATENT, **SMALL_CONV)
    conv.body.load_state_dict(iaf.body.state_dict())
    with torch.no_grad():
        conv.head.weight.copy_(iaf.head.weight[: 2 * LATENT])
        conv.head.bias.copy_(iaf.head.bias[: 2 * LATENT])
    x = torch.rand(4, *SHAPE)
    z = torch.randn(7, 4, LATENT)
    torch.testing.assert_close(iaf(x).log_prob(z), conv(x).log_prob(z), rtol=0, atol=1e-12)
    torch.manual_seed(1)
    drawn, log_e = iaf(x).rsample_and_log_prob(torch.Size([2]))
    torch.manual_seed(1)
    torch.testing.assert_close(drawn, conv(x).rsample(torch.Size([2])))
    torch.testing.assert_close(log_e, conv(x).log_prob(drawn))


def test_conv_encoder_takes_the_same_body():
    body = GatedConvBody(SHAPE, **SMALL_CONV)
    encoder = GaussianConvEncoder(SHAPE, LATENT, body=body)
    assert encoder.body is body and encoder.head.in_features == SMALL_CONV["features"]
    assert encoder(torch.rand(2, *SHAPE)).event_shape == (LATENT,)


def test_mlp_body_keeps_the_parameter_count():
    # before the body became an argument: one MLP 64-32-32-(2Z + C), then the flow steps
    encoder = IAFEncoder(SHAPE, LATENT, hidden=(32, 32), context_dim=3, flow_hidden=(16,))
    dense = [(numel(SHAPE), 32), (32, 32), (32, 2 * LATENT + 3)]
    flow = sum(p.numel() for p in encoder.steps.parameters())
    total = sum(i * o + o for i, o in dense) + flow
    assert sum(p.numel() for p in encoder.parameters()) == total
    assert isinstance(encoder.body, MLPBody)


def test_a_body_of_unknown_width_is_measured():
    body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(numel(SHAPE), 5))
    encoder = IAFEncoder(SHAPE, LATENT, context_dim=2, flow_hidden=(8,), body=body)
    assert encoder.head.in_features == 5


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: IAFEncoder(SHAPE, 2, hidden=(8,), body=MLPBody(SHAPE, (8,))), "not both"),
        (lambda: IAFEncoder(SHAPE, 2, body=MLPBody((1, 4, 4), (8,))), "input_shape"),
        (lambda: GaussianConvEncoder(SHAPE, 2, body=GatedConvBody((1, 28, 28))), "input_shape"),
        (lambda: MLPBody(SHAPE, ()), "at least one hidden layer"),
    ],
)
def test_bad_bodies_are_config_errors(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


# ---------------------------------------------------------------- the fast inverse


def test_fast_inverse_equals_the_sequential_inverse():
    encoder = conv_iaf()
    context = torch.randn(4, 3)
    flow = encoder.flow(context)
    z = flow(torch.randn(4, LATENT))
    fast = flow.inv(z)
    with sequential_inverse():
        exact = encoder.flow(context).inv(z)
    torch.testing.assert_close(fast, exact, rtol=0, atol=1e-12)


def test_vamp_log_density_and_gradients_equal_the_sequential_ones():
    encoder = conv_iaf()
    marginal = VampPrior(encoder, SHAPE, num_components=5)
    z = torch.randn(3, 4, LATENT, requires_grad=True)  # (S, B, Z), each under K = 5 flows
    inputs = [z, marginal.pseudo_inputs, *encoder.parameters()]
    weights = torch.randn(3, 4)  # a loss that weighs every log m(z) differently
    fast = marginal().log_prob(z)
    fast_grads = gradients((fast * weights).sum(), *inputs)
    with sequential_inverse():
        exact = marginal().log_prob(z)
        exact_grads = gradients((exact * weights).sum(), *inputs)
    torch.testing.assert_close(fast, exact, rtol=0, atol=1e-10)
    for a, b in zip(fast_grads, exact_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_inversion_stops_long_before_latent_dim_passes():
    encoder = IAFEncoder(SHAPE, 32, hidden=(16,), context_dim=3, flow_hidden=(16,))
    z = torch.randn(10, 32)
    passes: list[int] = []
    plain = fixed_point_module.fixed_point

    def counting(g, x, max_iter):
        calls = []
        out = plain(lambda v: calls.append(1) or g(v), x, max_iter)
        passes.append(len(calls))
        return out

    fixed_point_module.fixed_point = counting
    try:
        encoder(torch.rand(10, *SHAPE)).log_prob(z)
    finally:
        fixed_point_module.fixed_point = plain
    assert len(passes) == 2  # one inversion per flow step
    assert max(passes) < 32  # a sequential inversion takes 32 passes per step

"""The gated-convolution encoder and decoder of "Fixing a Broken ELBO", Appendix F."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from rdframe.decoders import BernoulliConvDecoder
from rdframe.encoders import GaussianConvEncoder
from rdframe.errors import ConfigError
from rdframe.layers import GatedConv2d, GatedConvTranspose2d
from rdframe.marginals import StandardNormal
from rdframe.model import RDModel

SMALL = {"channels": (4, 4, 8, 8), "features": 16}  # the paper's strides, fewer channels
SMALL_DECODER = {"features": 8, "channels": (8, 8, 4, 4, 4)}
STEPS = 100


pytestmark = pytest.mark.usefixtures("float64")


@pytest.mark.parametrize(("shape", "k"), [((1, 8, 8), 2), ((1, 28, 28), 7), ((3, 7, 9), (2, 3))])
def test_encoder_shapes_and_valid_kernel_follow_the_image_size(shape, k):
    encoder = GaussianConvEncoder(shape, latent_dim=5, **SMALL)
    posterior = encoder(torch.rand(4, *shape))
    assert posterior.batch_shape == (4,) and posterior.event_shape == (5,)
    assert (posterior.base_dist.scale >= encoder.min_scale).all()
    valid = encoder.body[-2].conv  # the "valid" gated convolution that leaves a 1×1 map
    assert valid.kernel_size == (k, k) if isinstance(k, int) else valid.kernel_size == k
    assert encoder.body(torch.rand(4, *shape)).shape == (4, SMALL["features"])


def test_encoder_default_is_the_paper_stack():
    encoder = GaussianConvEncoder((1, 28, 28))
    convs = [layer.conv for layer in encoder.body[:-1]]
    widths = [c.out_channels // 2 for c in convs]  # each conv feeds both halves of the gate
    assert widths == [32, 32, 64, 64, 256]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1]
    assert [c.kernel_size[0] for c in convs] == [5, 5, 5, 5, 7]
    assert encoder.latent_dim == 64


def test_encoder_treats_examples_independently():
    encoder = GaussianConvEncoder((1, 8, 8), latent_dim=3, **SMALL)
    x = torch.rand(5, 1, 8, 8)
    batched = encoder(x).base_dist
    one = encoder(x[2:3]).base_dist
    torch.testing.assert_close(batched.loc[2:3], one.loc)
    torch.testing.assert_close(batched.scale[2:3], one.scale)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (2, 7, 9), (1, 5, 5)])
@pytest.mark.parametrize("leading", [(), (3,), (2, 3)])
def test_decoder_shapes_with_leading_sample_dims(shape, leading):
    decoder = BernoulliConvDecoder(4, shape, **SMALL_DECODER)
    likelihood = decoder(torch.randn(*leading, 6, 4))  # (..., B, Z)
    assert likelihood.batch_shape == (*leading, 6) and likelihood.event_shape == shape
    x = torch.randint(0, 2, (6, *shape)).double()
    log_p = likelihood.log_prob(x)
    assert log_p.shape == (*leading, 6) and (log_p < 0).all()
    assert likelihood.sample().shape == (*leading, 6, *shape)


def test_decoder_leading_dims_do_not_mix_examples():
    decoder = BernoulliConvDecoder(4, (1, 8, 8), **SMALL_DECODER)
    z = torch.randn(3, 5, 4)  # (S, B, Z)
    x = torch.randint(0, 2, (5, 1, 8, 8)).double()
    joint = decoder(z).log_prob(x)  # (S, B)
    for s in range(3):
        torch.testing.assert_close(joint[s], decoder(z[s]).log_prob(x))


def test_decoder_distortion_sums_bernoulli_terms_over_every_pixel():
    decoder = BernoulliConvDecoder(4, (1, 8, 8), **SMALL_DECODER)
    likelihood = decoder(torch.randn(5, 4))
    x = torch.randint(0, 2, (5, 1, 8, 8)).double()
    logits = likelihood.base_dist.logits
    per_pixel = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    torch.testing.assert_close(likelihood.log_prob(x), per_pixel.sum((-3, -2, -1)))


def test_gated_layers_compute_the_gate_formula():
    x = torch.randn(2, 3, 6, 6)
    layer = GatedConv2d(3, 4, kernel_size=3, padding=1)
    (w1, w2), (b1, b2) = layer.conv.weight.chunk(2), layer.conv.bias.chunk(2)
    expected = F.conv2d(x, w1, b1, padding=1) * torch.sigmoid(F.conv2d(x, w2, b2, padding=1))
    torch.testing.assert_close(layer(x), expected)
    up = GatedConvTranspose2d(3, 4, kernel_size=5, stride=2, padding=2, output_padding=1)
    (w1, w2), (b1, b2) = up.conv.weight.chunk(2, dim=1), up.conv.bias.chunk(2)
    a = F.conv_transpose2d(x, w1, b1, stride=2, padding=2, output_padding=1)
    g = F.conv_transpose2d(x, w2, b2, stride=2, padding=2, output_padding=1)
    torch.testing.assert_close(up(x), a * torch.sigmoid(g))
    assert up(x).shape == (2, 4, 12, 12)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: GaussianConvEncoder((64,), latent_dim=2), "input_shape \\(C, H, W\\)"),
        (lambda: BernoulliConvDecoder(2, (64,)), "output_shape \\(C, H, W\\)"),
        (lambda: GaussianConvEncoder((1, 8, 8), channels=(4,), strides=(1, 2)), "one stride"),
        (lambda: GaussianConvEncoder((1, 8, 8), kernel_size=4), "kernel_size must be odd"),
        (lambda: BernoulliConvDecoder(2, (1, 8, 8), strides=(1, 0, 1, 2, 1)), "positive"),
    ],
)
def test_bad_configuration_is_a_config_error(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_a_few_steps_of_training_put_information_in_the_code():
    # Two images, top or bottom half lit. A decoder that ignores z can do no better than
    # Bernoulli(½) per pixel, −ELBO ≥ 64 log 2 ≈ 44.4 nats; using z, −ELBO → log 2 ≈ 0.7 nats.
    # (With PyTorch's default initialisation the gated stack starts out ignoring z and stays
    # there: this test guards the initialisation in rdframe.layers.gated.)
    torch.manual_seed(0)
    encoder = GaussianConvEncoder((1, 8, 8), latent_dim=4, **SMALL)
    model = RDModel(encoder, BernoulliConvDecoder(4, (1, 8, 8), **SMALL_DECODER), StandardNormal(4))
    top = torch.zeros(1, 8, 8)
    top[:, :4] = 1
    x = torch.stack([top, 1 - top] * 4)  # (8, 1, 8, 8)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(25):
        terms = model.terms(x, samples=2)
        optimiser.zero_grad()
        (terms.rate + terms.distortion).mean().backward()
        optimiser.step()
    terms = model.terms(x, samples=16)
    assert (terms.rate + terms.distortion).mean() < 64 * math.log(2) - 20.0  # nats per example

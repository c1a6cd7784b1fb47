"""The gated PixelCNN decoder: causality, normalisation, sampling and batching."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rdframe.decoders import PixelCNNDecoder
from rdframe.decoders.masked import (
    GatedMaskedConv2d,
    MaskedConv2d,
    horizontal_mask,
    raster_mask,
    vertical_mask,
)
from rdframe.errors import ConfigError, DataError

LATENT = 3
SMALL = {"channels": 8, "num_layers": 5, "kernel_size": 3}


pytestmark = pytest.mark.usefixtures("float64")


def dependence(f, shape: tuple[int, int, int]) -> torch.Tensor:
    """(P, P) 0/1 matrix, P = H·W in raster order: 1 where output pixel i depends on input pixel j.

    ``f`` maps x of shape (N, C, H, W) to per-pixel outputs (N, C', H, W), each example on its
    own. Copy n of one random image backpropagates output pixel n only, so one backward pass
    gives every row of the Jacobian at once (summed over channels).
    """
    pixels = shape[1] * shape[2]
    x = torch.rand(1, *shape).expand(pixels, *shape).clone().requires_grad_()  # (P, C, H, W)
    out = f(x).sum(1).flatten(1)  # (P, P): copy n, output pixel i
    out.diagonal().sum().backward()
    return (x.grad.abs().sum(1).flatten(1) > 0).int()  # (P, P): output pixel n, input pixel j


def conditional_log_probs(decoder: PixelCNNDecoder, target: torch.Tensor, z: torch.Tensor):
    """x ↦ log p(target_i | x_<i, z) per pixel i (summed over channels), shape (N, 1, H, W)."""

    def f(x: torch.Tensor) -> torch.Tensor:
        logits = decoder.logits(x, z.expand(len(x), -1))  # (N, C, H, W)
        target_n = target.expand_as(logits)
        log_p = -F.binary_cross_entropy_with_logits(logits, target_n, reduction="none")
        return log_p.sum(1, keepdim=True)

    return f


@pytest.mark.parametrize("shape", [(1, 4, 5), (2, 3, 3)])
def test_each_conditional_depends_on_every_earlier_pixel_and_no_later_one(shape):
    decoder = PixelCNNDecoder(LATENT, shape, **SMALL)
    target = torch.randint(0, 2, (1, *shape)).double()
    f = conditional_log_probs(decoder, target, torch.randn(1, LATENT))
    d = dependence(f, shape)
    pixels = shape[1] * shape[2]
    # d log p(x_i | x_<i, z) / d x_j = 0 for every j >= i (raster order) ...
    assert (d.triu() == 0).all()
    # ... and != 0 for every j < i: the vertical stack leaves no blind spot.
    assert (d.tril(-1) == torch.ones(pixels, pixels).tril(-1).int()).all()


def test_single_stack_raster_masks_are_causal_but_leave_a_blind_spot():
    """The design the vertical/horizontal stacks exist to fix (van den Oord et al. 2016, §2.2)."""
    net = nn.Sequential(
        MaskedConv2d(1, 4, raster_mask(3, "A")),
        nn.Tanh(),
        *[m for _ in range(4) for m in (MaskedConv2d(4, 4, raster_mask(3, "B")), nn.Tanh())],
    )
    d = dependence(net, (1, 5, 5))
    assert (d.triu() == 0).all()
    assert (d.tril(-1) == 0).any()  # an earlier pixel that is never seen


def test_masks():
    assert raster_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    assert vertical_mask(3, "A").tolist() == [[1, 1, 1], [0, 0, 0], [0, 0, 0]]
    assert horizontal_mask(3, "B").tolist() == [[1, 1, 0]]


def all_binary_images(shape: tuple[int, int, int]) -> torch.Tensor:
    """Every image in {0, 1}^shape, (2^D, *shape)."""
    d = shape[0] * shape[1] * shape[2]
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=d))).reshape(-1, *shape)


def sharpened(decoder: PixelCNNDecoder, factor: float = 4.0) -> PixelCNNDecoder:
    """Scale the output layer up so that the conditionals are far from 1/2 (a harder test)."""
    with torch.no_grad():
        decoder.head[-1].weight.mul_(factor)
        decoder.head[-1].bias.normal_(0.0, 1.0)
    return decoder


@pytest.mark.parametrize("shape", [(1, 2, 2), (2, 1, 2), (1, 1, 4)])
def test_probabilities_of_all_images_sum_to_one(shape):
    decoder = sharpened(PixelCNNDecoder(LATENT, shape, **SMALL))
    images = all_binary_images(shape)  # (16, *shape)
    z = torch.randn(3, 1, LATENT)  # three codes, each scored on every image
    log_p = decoder(z).log_prob(images)  # (3, 16)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(3), atol=1e-12, rtol=0)


def test_sample_frequencies_match_the_probabilities():
    """8,000 draws; each frequency within 0.03 of its probability (standard error ≤ 0.0056)."""
    shape = (1, 2, 2)
    decoder = sharpened(PixelCNNDecoder(LATENT, shape, **SMALL))
    z = torch.randn(LATENT)
    probabilities = decoder(z).log_prob(all_binary_images(shape)).exp()  # (16,)
    assert probabilities.max() > 0.15  # far from uniform (1/16), else the test is weak
    draws = decoder(z).sample((8000,)).reshape(8000, 4)
    index = (draws * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(-1).long()  # the image's number
    frequencies = torch.bincount(index, minlength=16) / 8000
    assert (frequencies - probabilities).abs().max() < 0.03


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 5, 7)])
def test_samples_are_binary_images_with_finite_log_prob(shape):
    decoder = PixelCNNDecoder(LATENT, shape, channels=8, num_layers=3)
    likelihood = decoder(torch.randn(4, LATENT))  # (B, Z)
    draws = likelihood.sample((2,))
    assert draws.shape == (2, 4, *shape)
    assert ((draws == 0) | (draws == 1)).all()
    log_p = likelihood.log_prob(draws)
    assert log_p.shape == (2, 4) and torch.isfinite(log_p).all() and (log_p < 0).all()


def test_log_prob_at_mnist_size():
    shape = (1, 28, 28)
    decoder = PixelCNNDecoder(LATENT, shape, channels=4, num_layers=2)
    x = torch.randint(0, 2, (2, *shape)).double()
    log_p = decoder(torch.randn(3, 2, LATENT)).log_prob(x)
    assert log_p.shape == (3, 2) and torch.isfinite(log_p).all() and (log_p < 0).all()


@pytest.mark.slow
def test_sample_at_mnist_size():
    shape = (1, 28, 28)
    likelihood = PixelCNNDecoder(LATENT, shape, channels=4, num_layers=2)(torch.randn(LATENT))
    draw = likelihood.sample()
    assert draw.shape == shape and ((draw == 0) | (draw == 1)).all()
    assert torch.isfinite(likelihood.log_prob(draw))


def test_log_prob_with_sample_dims_matches_a_loop_over_samples_and_examples():
    shape = (1, 4, 4)
    decoder = PixelCNNDecoder(LATENT, shape, **SMALL)
    z = torch.randn(3, 5, LATENT)  # (S, B, Z)
    x = torch.randint(0, 2, (5, *shape)).double()  # (B, C, H, W)
    log_p = decoder(z).log_prob(x)
    assert log_p.shape == (3, 5)
    looped = torch.stack(
        [torch.stack([decoder(z[s, b]).log_prob(x[b]) for b in range(5)]) for s in range(3)]
    )
    torch.testing.assert_close(log_p, looped, atol=1e-12, rtol=0)
    full = x.expand(3, 5, *shape)  # x with its own sample dimension scores the same
    torch.testing.assert_close(decoder(z).log_prob(full), log_p, atol=1e-12, rtol=0)


def test_log_prob_depends_on_z():
    decoder = PixelCNNDecoder(LATENT, (1, 4, 4), **SMALL)
    x = torch.randint(0, 2, (2, 1, 4, 4)).double()
    z = torch.randn(2, LATENT, requires_grad=True)
    decoder(z).log_prob(x).sum().backward()
    assert (z.grad.abs().sum(-1) > 0).all()


def test_grey_data_is_rejected_with_a_fix():
    likelihood = PixelCNNDecoder(LATENT, (1, 4, 4), **SMALL)(torch.randn(2, LATENT))
    with pytest.raises(DataError, match="binary pixels.*decoder=logistic"):
        likelihood.log_prob(torch.full((2, 1, 4, 4), 0.5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output_shape": (64,)}, "needs images"),
        ({"num_layers": 0}, "num_layers >= 1"),
        ({"kernel_size": 4}, "odd kernel_size"),
    ],
)
def test_bad_configuration_is_rejected(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PixelCNNDecoder(**{"latent_dim": LATENT, "output_shape": (1, 4, 4), **kwargs})


def test_residual_layer_needs_matching_channels():
    with pytest.raises(ConfigError, match="in_channels .* must equal"):
        GatedMaskedConv2d(1, 8, LATENT, mask_type="B")

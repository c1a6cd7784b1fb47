"""Likelihoods for grey levels: the discretised logistic and the Gaussian with learned scale."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from rdframe.decoders import DiscretizedLogistic, GaussianMLPDecoder, LogisticMLPDecoder
from rdframe.errors import ConfigError, DataError

LEVELS = torch.arange(256, dtype=torch.float64) / 255  # the grid x_k = k/255
HALF_BIN = 0.5 / 255


pytestmark = pytest.mark.usefixtures("float64")


LOCS, SCALES = [-1.0, 0.0, 0.3, 0.5017, 1.0, 2.0], [1e-3, 0.05, 1.0, 10.0]


@pytest.mark.parametrize(("loc", "scale"), list(itertools.product(LOCS, SCALES)))
def test_discretized_logistic_sums_to_one_over_the_256_levels(loc, scale):
    pixel = DiscretizedLogistic(torch.tensor(loc), torch.tensor(scale))
    log_p = pixel.log_prob(LEVELS)  # (256,)
    assert torch.isfinite(log_p).all() and (log_p <= 0).all()
    torch.testing.assert_close(log_p.exp().sum(), torch.tensor(1.0), atol=1e-12, rtol=0)


def cdf(y: float, loc: float, scale: float) -> float:
    return 1 / (1 + math.exp(-(y - loc) / scale))


def test_discretized_logistic_masses_by_hand():
    """Interior bins F(x + δ) − F(x − δ); the edge bins take the tails."""
    loc, scale = 0.4, 0.2
    log_p = DiscretizedLogistic(torch.tensor(loc), torch.tensor(scale)).log_prob(LEVELS)
    expected = [cdf(x + HALF_BIN, loc, scale) - cdf(x - HALF_BIN, loc, scale) for x in LEVELS]
    expected[0] = cdf(HALF_BIN, loc, scale)  # all of (−∞, δ]
    expected[255] = 1 - cdf(1 - HALF_BIN, loc, scale)  # all of [1 − δ, ∞)
    torch.testing.assert_close(log_p.exp(), torch.tensor(expected), atol=1e-14, rtol=1e-10)


def test_discretized_logistic_is_stable_far_in_the_tail():
    """At 90 scales from μ the difference of CDFs cancels to 0 in floating point; the log-mass
    must still equal its asymptote −b + log(1 − e^{−(a−b)}), a, b the standardised bin edges."""
    loc, scale, x = 0.0, 0.01, 230 / 255
    a, b = (x + HALF_BIN - loc) / scale, (x - HALF_BIN - loc) / scale
    assert cdf(x + HALF_BIN, loc, scale) - cdf(x - HALF_BIN, loc, scale) == 0.0
    log_p = DiscretizedLogistic(torch.tensor(loc), torch.tensor(scale)).log_prob(torch.tensor(x))
    torch.testing.assert_close(log_p, torch.tensor(-b + math.log(-math.expm1(-(a - b)))))


def test_discretized_logistic_scores_a_value_at_its_nearest_level():
    pixel = DiscretizedLogistic(torch.tensor(0.3), torch.tensor(0.1))
    values = torch.tensor([0.3, 1e-9, 0.9999999])
    nearest = torch.tensor([round(0.3 * 255) / 255, 0.0, 1.0])
    torch.testing.assert_close(pixel.log_prob(values), pixel.log_prob(nearest))


@pytest.mark.parametrize("loc", [0.3, -0.05, 1.02])
def test_discretized_logistic_sample_frequencies_match_the_masses(loc):
    """100,000 draws on the grid; every level's frequency within 0.006 of its mass (the
    largest mass is < 0.7, standard error ≤ 0.0015)."""
    pixel = DiscretizedLogistic(torch.tensor(loc), torch.tensor(0.02))
    draws = pixel.sample((100_000,))
    levels = torch.round(draws * 255)
    torch.testing.assert_close(levels / 255, draws, atol=1e-15, rtol=0)  # on the grid
    frequencies = torch.bincount(levels.long(), minlength=256) / 100_000
    assert (frequencies - pixel.log_prob(LEVELS).exp()).abs().max() < 0.006


def test_logistic_decoder_is_a_normalised_distribution_over_images():
    """All 256² images of 1×1×2 pixels: the probabilities sum to 1 for every code."""
    decoder = LogisticMLPDecoder(latent_dim=2, output_shape=(1, 1, 2), hidden=(8,))
    images = torch.cartesian_prod(LEVELS, LEVELS).view(-1, 1, 1, 1, 2)  # (65536, 1, 1, 1, 2)
    log_p = decoder(torch.randn(3, 2)).log_prob(images)  # (65536, 3)
    torch.testing.assert_close(log_p.exp().sum(0), torch.ones(3), atol=1e-10, rtol=0)


def test_logistic_decoder_shapes_and_units():
    decoder = LogisticMLPDecoder(latent_dim=2, output_shape=(1, 4, 4), hidden=(8,))
    x = torch.randint(0, 256, (5, 1, 4, 4)) / 255
    likelihood = decoder(torch.randn(3, 5, 2))  # (S, B, Z)
    log_p = likelihood.log_prob(x)
    assert log_p.shape == (3, 5) and (log_p <= 0).all()  # a discrete log-probability, nats
    assert likelihood.sample().shape == (3, 5, 1, 4, 4)


def test_logistic_rejects_data_outside_the_unit_interval():
    pixel = DiscretizedLogistic(torch.zeros(3), torch.ones(3))
    with pytest.raises(DataError, match=r"grey levels in \[0, 1\]"):
        pixel.log_prob(torch.tensor([0.0, 0.5, 1.5]))
    unchecked = DiscretizedLogistic(torch.zeros(3), torch.ones(3), validate_args=False)
    torch.testing.assert_close(  # switched off: scored at the nearest level, 1
        unchecked.log_prob(torch.tensor([0.0, 0.5, 1.5])), pixel.log_prob(torch.tensor([0, 0.5, 1]))
    )
    with pytest.raises(ConfigError, match="num_levels >= 2"):
        DiscretizedLogistic(torch.zeros(3), torch.ones(3), num_levels=1)


def test_gaussian_decoder_log_prob_by_hand():
    shape = (1, 3, 3)
    decoder = GaussianMLPDecoder(latent_dim=2, output_shape=shape, hidden=(8,))
    torch.testing.assert_close(decoder.scale, torch.ones(shape))  # init_scale = 1
    with torch.no_grad():
        decoder.raw_scale.normal_()  # a different scale for every pixel
    z, x = torch.randn(4, 5, 2), torch.rand(5, *shape)  # (S, B, Z), (B, C, H, W)
    loc = decoder.net(z).view(4, 5, *shape)
    scale = F.softplus(decoder.raw_scale) + decoder.min_scale  # (C, H, W)
    log_n = -0.5 * ((x - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)
    expected = log_n.sum((-3, -2, -1))  # (S, B), nats per example
    torch.testing.assert_close(decoder(z).log_prob(x), expected, atol=1e-12, rtol=0)
    assert decoder(z).sample().shape == (4, 5, *shape)


def test_gaussian_decoder_scale_floor_must_be_below_the_initial_scale():
    with pytest.raises(ConfigError, match="min_scale < init_scale"):
        GaussianMLPDecoder(2, (1, 3, 3), init_scale=0.01, min_scale=0.1)

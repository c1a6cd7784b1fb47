"""The Bernoulli decoders' log d(x|z) by h·(Wᵀx) + bᵀx − Σ softplus(l), against the
distribution's own log_prob, where the logits are large and float32 is stretched."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.distributions import Bernoulli, Independent

from rdframe.decoders import BernoulliMLPDecoder, GatedBernoulliDecoder
from rdframe.decoders.bernoulli import linear_bernoulli_log_prob, scores_fast
from rdframe.system import argument_validation

SHAPE = (1, 28, 28)


def reference(h: torch.Tensor, head: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """log Π Bernoulli(x; σ(head(h))) by torch.distributions, in float64."""
    logits = torch.nn.functional.linear(h.double(), head.weight.double(), head.bias.double())
    likelihood = Independent(Bernoulli(logits=logits.unflatten(-1, SHAPE)), len(SHAPE))
    return likelihood.log_prob(x.double())


@pytest.mark.parametrize("draws", [(5,), (), (1,)])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_linear_bernoulli_log_prob_matches_the_distribution(scale, draws):
    """Logits up to ±100 at scale 30, where Σ x·l and Σ softplus(l) reach 10⁴ nats: float32
    keeps the sum to 10⁻³ nats of it. In float64 the one approximation left is softplus's
    (l itself above l = 20, short by log(1 + e⁻ˡ) < 2.1·10⁻⁹ a pixel, 784 pixels). Five
    draws of each example take Wᵀx, one draw the logits themselves."""
    torch.manual_seed(0)
    head = torch.nn.Linear(64, 784)
    with torch.no_grad():
        head.weight.mul_(scale)
    h = torch.randn(*draws, 3, 64).relu()  # (S, B, H)
    x = torch.rand(3, *SHAPE).bernoulli()  # (B, 1, 28, 28)
    expected = reference(h, head, x)
    assert expected.abs().max() > (1e3 if scale > 1 else 1e2)
    with torch.no_grad():
        single = linear_bernoulli_log_prob(h, head, x, len(SHAPE))
        double = linear_bernoulli_log_prob(h.double(), head.double(), x, len(SHAPE))
    assert single.dtype == torch.float32 and single.shape == (*draws, 3)
    assert torch.allclose(double, expected, rtol=0, atol=784 * 2.1e-9)
    assert torch.allclose(single.double(), expected, rtol=0, atol=2e-3)


@pytest.mark.parametrize("decoder_class", [BernoulliMLPDecoder, GatedBernoulliDecoder])
def test_decoders_score_fast_only_for_an_evaluation(decoder_class):
    """The fast path serves no-grad float passes; a gradient or bfloat16 take the
    distribution. With argument checks on, x outside {0, 1} is refused on either path."""
    torch.manual_seed(0)
    decoder = decoder_class(8, SHAPE, (32, 32))
    z, x = torch.randn(4, 2, 8), torch.rand(2, *SHAPE).bernoulli()
    expected = decoder(z).log_prob(x)
    with torch.no_grad():
        assert scores_fast(z)
        assert torch.allclose(decoder.log_likelihood(z, x), expected, atol=1e-4)
        assert not scores_fast(z.bfloat16())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not scores_fast(z)
    assert not scores_fast(z)  # a gradient is wanted
    grey = torch.full_like(x, 0.5)
    for gradient in (False, True):
        with torch.set_grad_enabled(gradient), argument_validation(True):
            with pytest.raises(ValueError, match="Expected value argument .* support"):
                decoder.log_likelihood(z, grey)
    with torch.no_grad():  # a non-finite weight: the distribution's check names the logits
        decoder.log_likelihood(z, x)
        poisoned = copy.deepcopy(decoder)
        next(p for p in poisoned.parameters() if p.dim() == 2).view(-1)[0] = float("nan")
        with argument_validation(True), pytest.raises(ValueError, match="parameter logits"):
            poisoned.log_likelihood(z, x)
        with argument_validation(False):
            assert poisoned.log_likelihood(z, x).isnan().any()
    with torch.no_grad(), argument_validation(False):  # unchecked: x·l − softplus(l) on both
        assert torch.allclose(decoder.log_likelihood(z, grey), decoder(z).log_prob(grey),
                              atol=1e-4)


@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("decoder_class", [BernoulliMLPDecoder, GatedBernoulliDecoder])
def test_training_path_matches_the_distribution(decoder_class, scale):
    """With gradients and argument checks off (RDSystem's training step), log d(x|z) is
    Σ x·l − softplus(l) pixel by pixel: the distribution's value to float32's rounding of
    each pixel, and its gradients, with logits up to about ±100 at scale 30."""
    torch.manual_seed(0)
    decoder = decoder_class(8, SHAPE, (32, 32))
    with torch.no_grad():
        for p in decoder.parameters():
            p.mul_(scale ** (1 / 3))
    z, x = torch.randn(4, 2, 8), torch.rand(2, *SHAPE).bernoulli()
    with argument_validation(False):
        scored = decoder.log_likelihood(z, x)
    expected = decoder(z).log_prob(x)
    assert scored.shape == (4, 2) and scored.requires_grad
    assert expected.abs().max() > (1e3 if scale > 1 else 1e2)
    assert torch.allclose(scored, expected, rtol=1e-6, atol=1e-3)
    ours = torch.autograd.grad(scored.sum(), list(decoder.parameters()))
    theirs = torch.autograd.grad(expected.sum(), list(decoder.parameters()))
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max())

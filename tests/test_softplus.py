"""rdframe.nn.softplus, max(v, 0) + log(1 + e^−|v|) with σ(v) as its derivative, against
log(1 + eᵛ) in float64 and against F.softplus, which it stands in for."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from rdframe.nn import softplus, softplus_sum


def truth(v: torch.Tensor) -> torch.Tensor:
    """log(1 + eᵛ) in float64 without a threshold: max(v, 0) + log1p(e^−|v|)."""
    v = v.double()
    return v.clamp_min(0) + torch.log1p(torch.exp(-v.abs()))


def test_values_to_within_float32_rounding():
    """From −120 to 120, where e^−|v| underflows, each value within 1.2·10⁻⁷ (1 + |f|) of
    log(1 + eᵛ), as close as F.softplus comes."""
    v = torch.linspace(-120, 120, 200_001)
    expected = truth(v)
    error = (softplus(v).double() - expected).abs()
    bound = 1.2e-7 * (1 + expected)
    assert softplus(v).dtype == torch.float32
    assert bool((error <= bound).all())
    assert error.max() <= (F.softplus(v).double() - expected).abs().max() + 1e-7


def test_float64_and_its_derivatives():
    """float64 agrees with log1p's form to 10⁻¹⁵; the first and second derivatives are σ(v)
    and σ(v)σ(−v) (gradcheck and gradgradcheck against finite differences)."""
    torch.manual_seed(0)
    v = torch.cat([torch.randn(50, dtype=torch.float64) * 30, torch.tensor([0.0, -700, 700],
                                                                          dtype=torch.float64)])
    assert torch.allclose(softplus(v), truth(v), rtol=1e-15, atol=1e-15)
    w = v.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(softplus(w).sum(), w, create_graph=True)
    assert torch.allclose(gradient, torch.sigmoid(v), rtol=0, atol=1e-15)
    (second,) = torch.autograd.grad(gradient.sum(), w)
    assert torch.allclose(second, torch.sigmoid(v) * torch.sigmoid(-v), rtol=0, atol=1e-15)
    small = torch.randn(20, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(softplus, (small,))
    assert torch.autograd.gradgradcheck(softplus, (small,))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_f_softplus(dtype):
    """Outside float32 and float64 (bfloat16 under autocast) it is F.softplus itself."""
    v = torch.linspace(-30, 30, 101).to(dtype)
    assert torch.equal(softplus(v), F.softplus(v))


def exact_sum(v: torch.Tensor) -> torch.Tensor:
    return truth(v).sum(-1)


@pytest.mark.parametrize("size", [784, 3072, 96, 10])
def test_sum_by_groups_within_the_rounding_of_a_sum(size):
    """Σ softplus over the last dimension, one log per group of pixels (784 = 14 × 56,
    3072 = 48 × 64, 96 = 2 × 48; 10 has no divisor from 8 to 64, so it is summed element by
    element): within float32's rounding of the sum itself, logits of ±120 and 0 included."""
    torch.manual_seed(0)
    v = torch.randn(3, 50, size) * torch.tensor([1.0, 10.0, 40.0]).view(3, 1, 1)
    v[0, 0, :3] = torch.tensor([-120.0, 0.0, 120.0])
    expected = exact_sum(v)
    got = softplus_sum(v)
    assert got.shape == (3, 50) and got.dtype == torch.float32
    bound = 2e-7 * (size + v.abs().sum(-1).double())  # a few epsilons of Σ|v| + Σ log 2
    assert bool(((got.double() - expected).abs() <= bound).all())
    assert torch.allclose(softplus_sum(v.double()), expected, rtol=1e-13, atol=1e-11)


def test_sum_by_groups_gives_the_product_a_whole_group():
    """A group of 64 factors at their largest, 1 + e⁰ = 2, multiplies to 2⁶⁴ without
    overflow: the sum is 3072 log 2, exactly as far as float32 goes."""
    v = torch.zeros(2, 3072)
    assert torch.allclose(softplus_sum(v).double(), torch.full((2,), 3072 * math.log(2),
                          dtype=torch.float64), rtol=1e-6, atol=0)


def test_sum_keeps_gradients_through_softplus():
    """Where a gradient is wanted, it is softplus(v).sum(-1), whose derivative is σ(v)."""
    v = (torch.randn(4, 784) * 5).requires_grad_()
    softplus_sum(v).sum().backward()
    assert torch.allclose(v.grad, torch.sigmoid(v.detach()), rtol=0, atol=1e-7)
    with torch.no_grad():
        assert torch.allclose(softplus_sum(v), F.softplus(v).sum(-1), rtol=1e-6, atol=1e-3)

"""rdframe.nn.softplus, max(v, 0) + log(1 + e^−|v|) with σ(v) as its derivative, against
log(1 + eᵛ) in float64 and against F.softplus, which it stands in for."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from rdframe.nn import softplus


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

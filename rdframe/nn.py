"""Small network building blocks shared by the component families."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] → … → sizes[-1]``, linear at the output.

    >>> mlp([4, 8, 2])
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=2, bias=True)
    )
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(activation())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def numel(shape: Sequence[int]) -> int:
    """Number of elements of a tensor of the given shape."""
    return math.prod(shape)


def softplus(v: Tensor) -> Tensor:
    """softplus(v) = log(1 + eᵛ), elementwise, as ``F.softplus`` computes it, to within
    float's rounding: |error| ≤ 1.2·10⁻⁷ (1 + |softplus(v)|) in float32.

    On a CPU, in float32 or float64, it is max(v, 0) + log(1 + e^−|v|), with the derivative
    σ(v) written out. ``F.softplus`` rests there on torch's vectorised log1p, which took 9 ns
    an element on this project's AMD CPU where exp and log took about 1 ns each: a Bernoulli
    decoder's softplus over 100 × 784 logits, forward and backward, takes 0.3 ms this way
    against 0.9 ms (benchmarks/README.md). Elsewhere (CUDA; bfloat16 under autocast) it is
    ``F.softplus``.

    >>> v = torch.tensor([-100.0, -3.0, 0.0, 3.0, 100.0])
    >>> torch.allclose(softplus(v), F.softplus(v), rtol=0, atol=1e-7)
    True
    """
    if v.device.type == "cpu" and v.dtype in (torch.float32, torch.float64):
        return _Softplus.apply(v)
    return F.softplus(v)


MAX_GROUP = 64  # factors 1 + e^−|v| in (1, 2] a product may hold: at most 2⁶⁴, inside float32


def softplus_sum(v: Tensor) -> Tensor:
    """Σ softplus(v) over the last dimension, shape ``v.shape[:-1]``: what a Bernoulli
    likelihood subtracts for each draw's pixels.

    Where no gradient is wanted, on a CPU in float32 or float64, it is
    Σ max(v, 0) + Σ_groups log Π_group (1 + e^−|v|): the last dimension is cut into equal
    groups of up to MAX_GROUP elements, and each group takes one log of a product in place of
    a log per element. Each factor lies in (1, 2], so a product of 64 is at most 2⁶⁴, and its
    relative rounding error, about 64 float epsilons, is the error a sum of 64 logs makes.
    The IWAE passes spent a fifth of their time on this sum over every pixel of every draw;
    this way the bound at k = 1000 takes 0.89 of the time of :func:`softplus` then a sum, and
    0.65 of ``F.softplus``'s (benchmarks/README.md). Elsewhere, or where the last dimension
    has no divisor from 8 to 64 (a prime), it is ``softplus(v).sum(-1)``.

    >>> v = torch.tensor([[-100.0, -3.0, 0.0, 3.0, 100.0, 1.0, 2.0, -2.0]])
    >>> torch.allclose(softplus_sum(v), F.softplus(v).sum(-1), rtol=0, atol=1e-5)
    True
    """
    group = _group(v.shape[-1])
    if (group < 8 or v.device.type != "cpu" or v.dtype not in (torch.float32, torch.float64)
            or (v.requires_grad and torch.is_grad_enabled())):
        return softplus(v).sum(-1)
    a = v.abs()
    positive = (v.sum(-1) + a.sum(-1)).mul_(0.5)  # Σ max(v, 0) = Σ (v + |v|) / 2
    factors = a.neg_().exp_().add_(1).unflatten(-1, (-1, group))
    return positive.add_(factors.prod(-1).log_().sum(-1))


@functools.lru_cache
def _group(size: int) -> int:
    """The largest divisor of ``size`` not above MAX_GROUP."""
    return max(g for g in range(1, min(size, MAX_GROUP) + 1) if size % g == 0)


class _Softplus(torch.autograd.Function):
    """max(v, 0) + log(1 + e^−|v|), whose derivative is σ(v) (twice differentiable: the
    backward is made of differentiable operations on the saved input)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, v: Tensor) -> Tensor:
        ctx.save_for_backward(v)
        return v.clamp_min(0).add_(v.abs().neg_().exp_().add_(1).log_())

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        (v,) = ctx.saved_tensors
        return grad * torch.sigmoid(v)

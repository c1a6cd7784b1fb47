r"""The inverse of an autoregressive map by fixed-point iteration, with its exact gradient.

An autoregressive step y = f(x), f_i depending on x_{≤i} (in some order), is inverted by the
fixed point x* of g(x) = f⁻¹(y | conditioner(x)): coordinate i of g depends on x_{<i} only,
so ∂g/∂x is strictly triangular (nilpotent) and the iteration x ← g(x) is exact after at
most D passes, D = dim x; each pass settles at least one more coordinate, and in practice
all of them settle together much sooner, when the step's dependence on earlier
coordinates is weak. :func:`fixed_point` stops at the first pass that changes nothing:
from then on the iteration stands still, so the answer is bitwise the one D passes give.

Gradients do not run through the iterations (no graph is kept for them): by the implicit
function theorem, x* = g(x*, θ) gives dx*/dθ = (I − ∂g/∂x)⁻¹ ∂g/∂θ, and the backward pass
solves u = v + (∂g/∂x)ᵀ u by the same iteration, exact after at most D steps again
(:func:`implicit_fixed_point`). Bai et al., "Deep Equilibrium Models" (NeurIPS 2019), §3.1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Map = Callable[[Tensor], Tensor]


def fixed_point(g: Map, x: Tensor, max_iter: int) -> Tensor:
    """Iterate x ← g(x) until a pass changes nothing or ``max_iter`` passes have run.

    >>> g = lambda x: torch.stack([torch.ones(()), 2 * x[0] + 1, x[1] - x[0]])  # triangular
    >>> fixed_point(g, torch.zeros(3), max_iter=3)
    tensor([1., 3., 2.])
    """
    for _ in range(max_iter):
        x, previous = g(x), x
        if torch.equal(x, previous):
            break
    return x


def implicit_fixed_point(g: Map, x: Tensor, max_iter: int) -> Tensor:
    r"""The fixed point of ``g`` from the start ``x``, differentiable by the implicit function
    theorem: its value is that of :func:`fixed_point`, its gradient (I − ∂g/∂x)⁻ᵀ applied to
    the incoming one, then carried through one application of ``g`` to g's own inputs.

    >>> a = torch.tensor(0.5, requires_grad=True)
    >>> g = lambda x: torch.stack([a, a * x[0] + 1])  # x* = (a, a² + 1)
    >>> x = implicit_fixed_point(g, torch.zeros(2), max_iter=2)
    >>> x.sum().backward()
    >>> x.detach(), a.grad  # d(a + a² + 1)/da = 1 + 2a
    (tensor([0.5000, 1.2500]), tensor(2.))
    """
    with torch.no_grad():
        x = fixed_point(g, x, max_iter)
    if not torch.is_grad_enabled():
        return x
    out = g(x)  # the value x*; the graph reaches g's parameters, not the iterations
    if out.requires_grad:
        out.register_hook(_adjoint_solver(g, x, max_iter))
    return out


def _adjoint_solver(g: Map, x: Tensor, max_iter: int) -> Callable[[Tensor], Tensor]:
    """The backward hook v ↦ u, u = v + (∂g/∂x)ᵀ u at x, by the same iteration."""
    leaf = x.detach().requires_grad_()
    with torch.enable_grad():
        g_leaf = g(leaf)

    def solve(v: Tensor) -> Tensor:
        def step(u: Tensor) -> Tensor:
            return v + torch.autograd.grad(g_leaf, leaf, u, retain_graph=True)[0]

        return fixed_point(step, v, max_iter)

    return solve
